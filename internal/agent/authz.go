package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// Authorization by identity (cluster with a tls block). The client
// certificate's identity (pki.PeerIdentity) decides which endpoints it may
// call; the bearer token stays required as a second factor. Least
// privilege:
//
//	GET  /v1/status   any identity (the watch, operators, other agents' witness probes)
//	PUT  /v1/roles    monitor, operator (apply's static roles)
//	POST /v1/fence    monitor, operator
//	POST /v1/witness  monitor
//	POST /v1/relay    monitor (a tunnel to another declared agent, relay.go)
//	POST /v1/failsafe another host (the writer's agent asking, docs/fencing.md)
//	GET  /v1/backup   another host, and only while that host's agent runs a
//	                  clone from this one (asked back: GET /v1/clone on it)
//	GET  /v1/clone    another host (the donor checking the above)
//	POST /v1/clone    operator; refused on the current writer and, with
//	                  overwrite, on a writable server (cloneGuard)
//
// Without a tls block nothing here applies (the token alone, as before).

// allowed says whether id may call method path on host self's agent; the
// error says why not, for the 403 answer and the log.
func allowed(method, path, self string, id pki.Identity) error {
	isHost := id.Kind == pki.KindHost
	other := isHost && id.Name != self
	var ok bool
	var who string
	switch method + " " + path {
	case "GET /v1/status":
		ok, who = id.Kind != "", "any mmm identity"
	case "PUT /v1/roles", "POST /v1/fence":
		ok, who = id == pki.Monitor || id == pki.Operator, "the monitor or an operator"
	case "POST /v1/witness", "POST /v1/relay":
		ok, who = id == pki.Monitor, "the monitor"
	case "GET /v1/backup":
		ok, who = other, "the host being bootstrapped from this one"
	case "GET /v1/clone":
		ok, who = other, "another host's agent"
	case "POST /v1/failsafe":
		ok, who = other, "another host's agent (the writer's, asking whether a watch acts)"
	case "POST /v1/clone":
		ok, who = id == pki.Operator, "an operator"
	default:
		return fmt.Errorf("%s %s is not an endpoint of the agent", method, path)
	}
	if !ok {
		return fmt.Errorf("%s may not call %s %s on host %s: only %s may", id, method, path, self, who)
	}
	return nil
}

type identityKey struct{}

// authorize applies allowed to the request's client certificate (tls
// block) and the clone token to the clone's endpoints (agent.clone_token).
func (a *Agent) authorize(next http.Handler) http.Handler {
	cloneToken := a.cluster.Agent.CloneToken.Value()
	if !a.cluster.TLSOn() && cloneToken == "" {
		return next
	}
	cloneSum := sha256.Sum256([]byte(cloneToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cloneToken != "" && cloneEndpoint(r.URL.Path) {
			got := sha256.Sum256([]byte(r.Header.Get(CloneTokenHeader)))
			if subtle.ConstantTimeCompare(got[:], cloneSum[:]) != 1 {
				a.refuse(w, r, http.StatusUnauthorized, "missing or wrong clone token: "+r.URL.Path+" needs "+CloneTokenHeader+" = agent.clone_token (held by the agents and the operators who run apply, not by the watch)")
				return
			}
		}
		if !a.cluster.TLSOn() {
			next.ServeHTTP(w, r)
			return
		}
		id, ok := pki.PeerIdentity(r.TLS)
		if !ok {
			a.refuse(w, r, http.StatusForbidden, "no mmm identity in the client certificate (mmm://host/NAME, mmm://monitor or mmm://operator): use a certificate from mmm tls init")
			return
		}
		if err := allowed(r.Method, r.URL.Path, a.host.Name, id); err != nil {
			a.refuse(w, r, http.StatusForbidden, err.Error())
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == "/v1/failsafe" {
			// The asking host is the certificate's, not whatever the body says.
			body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
			var req FailsafeRequest
			if err != nil || json.Unmarshal(body, &req) != nil || req.From != id.Name {
				a.refuse(w, r, http.StatusForbidden, fmt.Sprintf("%s may ask the failsafe question only as itself, not as %q", id, req.From))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if r.Method == http.MethodGet && r.URL.Path == "/v1/backup" {
			if err := a.confirmClone(r.Context(), id.Name); err != nil {
				a.refuse(w, r, http.StatusForbidden, err.Error())
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// CloneTokenHeader carries agent.clone_token on the clone's endpoints.
const CloneTokenHeader = "X-MMM-Clone-Token"

// cloneEndpoint: the paths that read or replace a server's data.
func cloneEndpoint(path string) bool { return path == "/v1/backup" || path == "/v1/clone" }

// setCloneToken adds agent.clone_token to a request for the clone's
// endpoints, when the file sets one.
func setCloneToken(c *topology.Cluster, req *http.Request) {
	if tok := c.Agent.CloneToken.Value(); tok != "" && cloneEndpoint(req.URL.Path) {
		req.Header.Set(CloneTokenHeader, tok)
	}
}

// cloneState is the donor of the clone this agent runs, if any.
type cloneState struct {
	mu    sync.Mutex
	donor string
}

func (s *cloneState) set(donor string) {
	s.mu.Lock()
	s.donor = donor
	s.mu.Unlock()
}

func (s *cloneState) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.donor
}

// CloneSource is the answer of GET /v1/clone.
type CloneSource struct {
	Donor string `json:"donor"` // "" when no clone runs
}

func (a *Agent) handleCloneSource(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, CloneSource{Donor: a.cloneFrom.get()})
}

// confirmClone asks target's agent (at its declared address, through the
// cluster's CA: an impostor with a stolen host certificate but not the
// target's address cannot answer) whether it is cloning from this host.
func (a *Agent) confirmClone(ctx context.Context, target string) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	var src CloneSource
	if err := a.peers.doJSON(ctx, target, http.MethodGet, "/v1/clone", nil, &src); err != nil {
		return fmt.Errorf("host %s asked for a backup of %s, but its agent could not confirm a clone from here: %w", target, a.host.Name, err)
	}
	if src.Donor != a.host.Name {
		return fmt.Errorf("host %s asked for a backup of %s, but its agent runs no clone from %s", target, a.host.Name, a.host.Name)
	}
	return nil
}

// cloneGuard refuses a clone onto the current writer (a host holding an
// exclusive role's VIP), and an overwrite of a server that is writable or
// whose read_only is unknown: both would replace data the applications
// write.
func (a *Agent) cloneGuard(ctx context.Context, overwrite bool) error {
	a.mu.Lock()
	st, err := a.status(ctx)
	a.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cannot read this host's VIPs before a clone: %w", err)
	}
	for _, held := range st.Roles {
		for _, r := range a.cluster.Roles {
			if r.Name == held.Role && r.Mode == topology.RoleExclusive {
				return fmt.Errorf("host %s holds the %s VIP %s: it is the current writer, a clone would replace its data; move the role first", a.host.Name, r.Name, held.IP)
			}
		}
	}
	if overwrite {
		switch {
		case st.ReadOnly == nil:
			return errors.New("cannot tell whether this server is read_only (" + st.ReadOnlyError + "): an overwrite is refused on a server that may be writable")
		case !*st.ReadOnly:
			return fmt.Errorf("the server of %s is writable (read_only = OFF): an overwrite is refused; set it read_only (or move the writer away) first", a.host.Name)
		}
	}
	return nil
}

// CloneSourceOf asks host's agent which donor it is cloning from ("" for none).
func (c *Client) CloneSourceOf(ctx context.Context, host string) (string, error) {
	var src CloneSource
	if err := c.doJSON(ctx, host, http.MethodGet, "/v1/clone", nil, &src); err != nil {
		return "", err
	}
	return src.Donor, nil
}
