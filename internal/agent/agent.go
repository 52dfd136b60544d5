package agent

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/clone"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/internal/vip"
)

// Addresses changes the host's network: package vip on Linux, a fake in tests.
type Addresses interface {
	List(ctx context.Context, iface string) ([]netip.Addr, error)
	Ensure(ctx context.Context, iface string, ip netip.Addr) (added bool, err error)
	Remove(ctx context.Context, iface string, ip netip.Addr) (removed bool, err error)
	Announce(ctx context.Context, iface string, ip netip.Addr) error
}

// LocalDB is the host's own server, which the agent fences when a lease runs out.
type LocalDB interface {
	SetReadOnly(ctx context.Context) error
	ReadOnly(ctx context.Context) (bool, error)
}

// Config is one agent.
type Config struct {
	Cluster *topology.Cluster
	Host    string // the host this agent runs on (a host block's name)
	Logger  *slog.Logger

	// Addresses defaults to package vip (the calling process's namespace).
	Addresses Addresses
	// DB defaults to the host's server at its address and port, as the admin.
	DB LocalDB
	// Server lets the agent back up, stop and start its server for the
	// physical clone (GET /v1/backup, POST /v1/clone); nil: those answer 501.
	// Its Host is set to the agent's host.
	Server *clone.LocalServer
}

// MaxLease bounds a requested lease: a longer one defeats fencing.
const MaxLease = time.Hour

// opTimeout bounds one request's network changes and one read_only statement.
const opTimeout = 10 * time.Second

// Agent serves one host's roles. Create it with New; Handler serves the API;
// Stop applies the shutdown rule.
type Agent struct {
	cluster  *topology.Cluster
	host     *topology.Host
	log      *slog.Logger
	addrs    Addresses
	db       LocalDB
	tokenSum [sha256.Size]byte

	// declared maps every VIP of the cluster to its role: the only addresses
	// the agent ever adds or removes.
	declared map[netip.Addr]*topology.Role
	// fenceable: the host is in an exclusive role's hosts, so an expired
	// lease sets its server read_only.
	fenceable bool

	server   *clone.LocalServer
	peers    *Client // the other hosts' agents (the donor of a clone)
	backupMu sync.Mutex
	cloneMu  sync.Mutex

	mu    sync.Mutex // serialises changes: requests, lease expiry, stop
	mode  Mode
	lease *leaseState
}

type leaseState struct {
	holder  string
	ttl     time.Duration
	expires time.Time
	expired bool
	timer   *time.Timer
}

// New checks the configuration and returns an agent in static mode. It changes
// nothing.
func New(cfg Config) (*Agent, error) {
	c := cfg.Cluster
	if c == nil {
		return nil, errors.New("agent: no cluster")
	}
	h := c.Host(cfg.Host)
	if h == nil {
		names := make([]string, len(c.Hosts))
		for i, o := range c.Hosts {
			names[i] = o.Name
		}
		return nil, fmt.Errorf("agent: the topology has no host %q (hosts: %s)", cfg.Host, strings.Join(names, ", "))
	}
	if c.Agent.Token.Value() == "" {
		return nil, fmt.Errorf("agent: agent.token is empty (from %s): the agent refuses to run without a token", sourceOf(c.Agent.Token))
	}
	if h.Interface == "" {
		return nil, fmt.Errorf("agent: host %q has no interface for its VIPs: set interface in the host or defaults block", h.Name)
	}
	a := &Agent{
		cluster:  c,
		host:     h,
		log:      cfg.Logger,
		addrs:    cfg.Addresses,
		db:       cfg.DB,
		tokenSum: sha256.Sum256([]byte(c.Agent.Token.Value())),
		declared: map[netip.Addr]*topology.Role{},
		mode:     ModeStatic,
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With("cluster", c.Name, "host", h.Name)
	if a.addrs == nil {
		a.addrs = vipAddresses{}
	}
	if a.db == nil {
		a.db = newMySQL(c, h)
	}
	if cfg.Server != nil {
		srv := *cfg.Server
		srv.Host = h
		if srv.Log == nil {
			srv.Log = a.log
		}
		a.server = &srv
	}
	a.peers = &Client{Cluster: c}
	for _, r := range c.Roles {
		for _, s := range r.IPs {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("agent: role %q: IP %q: %w", r.Name, s, err)
			}
			a.declared[ip] = r
		}
		if r.Mode == topology.RoleExclusive && slices.Contains(r.Hosts, h.Name) {
			a.fenceable = true
		}
	}
	return a, nil
}

func sourceOf(s topology.Secret) string {
	if s.Source == "" {
		return "the topology"
	}
	return s.Source
}

// vipAddresses is package vip behind the Addresses interface.
type vipAddresses struct{}

func (vipAddresses) List(ctx context.Context, iface string) ([]netip.Addr, error) {
	return vip.List(ctx, iface)
}
func (vipAddresses) Ensure(ctx context.Context, iface string, ip netip.Addr) (bool, error) {
	return vip.Ensure(ctx, iface, ip)
}
func (vipAddresses) Remove(ctx context.Context, iface string, ip netip.Addr) (bool, error) {
	return vip.Remove(ctx, iface, ip)
}
func (vipAddresses) Announce(ctx context.Context, iface string, ip netip.Addr) error {
	return vip.Announce(ctx, iface, ip)
}

// Handler is the HTTP API. Every request is authenticated first.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", a.handleStatus)
	mux.HandleFunc("PUT /v1/roles", a.handleSetRoles)
	mux.HandleFunc("GET /v1/backup", a.handleBackup)
	mux.HandleFunc("POST /v1/clone", a.handleClone)
	return a.authenticate(mux)
}

// authenticate refuses a request without the cluster's bearer token. The
// comparison is constant-time over SHA-256 sums, so neither the token's
// content nor its length leaks through timing. Nothing of the header is logged.
func (a *Agent) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			a.refuse(w, r, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <agent.token>")
			return
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
			a.refuse(w, r, http.StatusUnauthorized, "wrong token: it must be the agent.token of cluster "+a.cluster.Name)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *Agent) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	a.log.Warn("request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "status", code, "reason", msg)
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *Agent) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	a.mu.Lock()
	st, err := a.status(ctx)
	a.mu.Unlock()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	dbCtx, dbCancel := context.WithTimeout(ctx, 2*time.Second)
	defer dbCancel()
	if ro, err := a.db.ReadOnly(dbCtx); err != nil {
		st.ReadOnlyError = err.Error()
	} else {
		st.ReadOnly = &ro
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *Agent) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
	writeJSON(w, http.StatusInternalServerError, errorBody{Error: err.Error()})
}

// requestError is a refused request: its status code and why.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) *requestError {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *requestError {
	return &requestError{http.StatusForbidden, fmt.Sprintf(format, args...)}
}

// maxBody bounds a request body; a full role set is a few hundred bytes.
const maxBody = 64 << 10

func (a *Agent) handleSetRoles(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	var req SetRolesRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		a.refuse(w, r, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		a.refuse(w, r, http.StatusBadRequest, "malformed JSON: more than one value in the body")
		return
	}
	want, rerr := a.validate(&req)
	if rerr != nil {
		a.refuse(w, r, rerr.code, rerr.msg)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.reconcile(ctx, want); err != nil {
		a.fail(w, r, err)
		return
	}
	a.setLease(req.Lease, received)
	st, err := a.status(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// validate checks a request against the file and returns the wanted VIPs.
func (a *Agent) validate(req *SetRolesRequest) (map[netip.Addr]*topology.Role, *requestError) {
	if req.Cluster != a.cluster.Name {
		return nil, forbidden("this agent serves cluster %q, not %q", a.cluster.Name, req.Cluster)
	}
	if req.Host != a.host.Name {
		return nil, forbidden("this agent is host %q, not %q", a.host.Name, req.Host)
	}
	if req.Lease != nil {
		if ttl := time.Duration(req.Lease.TTL); ttl <= 0 || ttl > MaxLease {
			return nil, badRequest("lease ttl %s: it must be more than 0 and at most %s", ttl, MaxLease)
		}
	}
	want := map[netip.Addr]*topology.Role{}
	for _, ri := range req.Roles {
		ip, err := netip.ParseAddr(ri.IP)
		if err != nil || !ip.Is4() {
			return nil, badRequest("role %q: %q is not an IPv4 address", ri.Role, ri.IP)
		}
		role := a.cluster.Role(ri.Role)
		if role == nil {
			return nil, forbidden("role %q is not declared in cluster %q", ri.Role, a.cluster.Name)
		}
		if !slices.Contains(role.Hosts, a.host.Name) {
			return nil, forbidden("role %q may not be held by host %q (its hosts: %s)", role.Name, a.host.Name, strings.Join(role.Hosts, ", "))
		}
		if !slices.Contains(role.IPs, ip.String()) {
			return nil, forbidden("IP %s is not a VIP of role %q (its IPs: %s)", ip, role.Name, strings.Join(role.IPs, ", "))
		}
		if _, dup := want[ip]; dup {
			return nil, badRequest("IP %s is requested twice", ip)
		}
		want[ip] = role
	}
	return want, nil
}

// held returns the declared VIPs on the host's interface.
func (a *Agent) held(ctx context.Context) ([]netip.Addr, error) {
	addrs, err := a.addrs.List(ctx, a.host.Interface)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ip := range addrs {
		if _, ok := a.declared[ip]; ok {
			out = append(out, ip)
		}
	}
	return out, nil
}

// reconcile makes the interface hold exactly want among the cluster's VIPs:
// releases first, then additions, each new address announced.
func (a *Agent) reconcile(ctx context.Context, want map[netip.Addr]*topology.Role) error {
	iface := a.host.Interface
	held, err := a.held(ctx)
	if err != nil {
		return err
	}
	for _, ip := range held {
		if _, keep := want[ip]; keep {
			continue
		}
		removed, err := a.addrs.Remove(ctx, iface, ip)
		if err != nil {
			return err
		}
		if removed {
			a.log.Info("VIP released", "ip", ip, "role", a.declared[ip].Name, "interface", iface)
		}
	}
	for _, ip := range sortedAddrs(want) {
		added, err := a.addrs.Ensure(ctx, iface, ip)
		if err != nil {
			return err
		}
		if !added {
			continue
		}
		a.log.Info("VIP assigned", "ip", ip, "role", want[ip].Name, "interface", iface)
		if err := a.addrs.Announce(ctx, iface, ip); err != nil {
			// The address is up; neighbours learn it when their cache entry
			// for it goes stale. Say so, but the change stands.
			a.log.Warn("gratuitous ARP failed", "ip", ip, "interface", iface, "err", err)
		}
	}
	return nil
}

func sortedAddrs(m map[netip.Addr]*topology.Role) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for ip := range m {
		out = append(out, ip)
	}
	slices.SortFunc(out, func(x, y netip.Addr) int { return x.Compare(y) })
	return out
}

// setLease applies a request's lease (or its absence) after its roles were set.
func (a *Agent) setLease(l *Lease, received time.Time) {
	if a.lease != nil && a.lease.timer != nil {
		a.lease.timer.Stop()
	}
	if l == nil {
		if a.mode == ModeLease {
			a.log.Info("static mode: VIPs stay until the next request", "previous_holder", a.lease.holder)
		}
		a.mode, a.lease = ModeStatic, nil
		return
	}
	ttl := time.Duration(l.TTL)
	ls := &leaseState{holder: l.Holder, ttl: ttl, expires: received.Add(ttl)}
	if a.mode != ModeLease || a.lease == nil || a.lease.expired {
		a.log.Info("lease mode: exclusive VIPs held while the lease is renewed", "holder", l.Holder, "ttl", ttl)
	} else {
		a.log.Debug("lease renewed", "holder", l.Holder, "ttl", ttl)
	}
	ls.timer = time.AfterFunc(time.Until(ls.expires), func() { a.expire(ls) })
	a.mode, a.lease = ModeLease, ls
}

// expire runs when ls ran out without renewal.
func (a *Agent) expire(ls *leaseState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lease != ls || ls.expired { // renewed or replaced meanwhile
		return
	}
	ls.expired = true
	a.fence("lease expired without renewal")
}

// fence drops the exclusive-role VIPs and, on a host that can hold an
// exclusive role, sets the server read_only. Called with mu held.
func (a *Agent) fence(why string) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	holder := ""
	if a.lease != nil {
		holder = a.lease.holder
	}
	log := a.log.With("holder", holder)
	held, err := a.held(ctx)
	if err != nil {
		log.Error("FENCING: cannot list VIPs", "why", why, "err", err)
	}
	var dropped []string
	for _, ip := range held {
		if a.declared[ip].Mode != topology.RoleExclusive {
			continue
		}
		if _, err := a.addrs.Remove(ctx, a.host.Interface, ip); err != nil {
			log.Error("FENCING: cannot remove VIP", "why", why, "ip", ip, "err", err)
			continue
		}
		dropped = append(dropped, ip.String())
	}
	if !a.fenceable {
		log.Warn("lease ended; this host holds no exclusive role, nothing to fence", "why", why)
		return
	}
	if err := a.db.SetReadOnly(ctx); err != nil {
		log.Error("FENCING: VIPs dropped but read_only could not be set", "why", why, "dropped", dropped, "err", err)
		return
	}
	log.Error("FENCED: exclusive VIPs dropped and server set read_only", "why", why, "dropped", dropped)
}

// Stop applies the shutdown rule: in lease mode the agent fences now (drops
// the exclusive VIPs and sets read_only), because a watch will fail the role
// over once the lease it can no longer renew runs out, and the VIP must not
// outlive the agent that guards it. In static mode the VIPs stay: restarting
// or upgrading the agent must not take the service down.
func (a *Agent) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mode != ModeLease || a.lease == nil || a.lease.expired {
		a.log.Info("agent stopping; VIPs stay (static mode)")
		return
	}
	a.lease.timer.Stop()
	a.lease.expired = true
	a.fence("agent stopping while holding a lease")
}

// status is the agent's state with the VIPs read from the interface. Called
// with mu held.
func (a *Agent) status(ctx context.Context) (*Status, error) {
	held, err := a.held(ctx)
	if err != nil {
		return nil, err
	}
	st := &Status{Cluster: a.cluster.Name, Host: a.host.Name, Mode: a.mode, Roles: []HeldRole{}}
	slices.SortFunc(held, func(x, y netip.Addr) int { return x.Compare(y) })
	for _, ip := range held {
		st.Roles = append(st.Roles, HeldRole{Role: a.declared[ip].Name, IP: ip.String(), Interface: a.host.Interface})
	}
	if l := a.lease; l != nil {
		ls := &LeaseStatus{Holder: l.holder, TTL: Duration(l.ttl), Expires: l.expires.UTC(), Expired: l.expired}
		if left := time.Until(l.expires); left > 0 && !l.expired {
			ls.ExpiresIn = Duration(left)
		}
		st.Lease = ls
	}
	return st, nil
}
