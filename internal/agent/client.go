package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// DefaultTimeout bounds one client request when Client.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Client talks to the agents of one cluster. The zero value plus Cluster is
// ready to use; it is safe for concurrent use.
//
//	c := &agent.Client{Cluster: cluster}
//	st, err := c.Status(ctx, "master1")
//	st, err = c.SetRoles(ctx, "master1", []agent.RoleIP{{Role: "writer", IP: "192.168.2.201"}}, nil)
//
// SetRoles sends the FULL set of roles the host must hold: roles left out are
// released. A nil lease means static mode (apply). `mmm watch` sends a lease
// on every check to keep the writer VIP where it is, echoing a nonce of the
// agent (protocol 2, see Lease):
//
//	st, err := c.Status(ctx, "master1")             // st.Nonce
//	st, err = c.SetRoles(ctx, "master1", roles, &agent.Lease{
//		TTL: agent.Duration(cluster.Monitor.Lease), Holder: "watch@monitor1",
//		Epoch: epoch, Nonce: st.Nonce})             // the answer's st.Nonce serves the next renewal
//
// Every request carries ProtocolHeader; an answer of an agent of another
// protocol version is a *ProtocolError.
type Client struct {
	Cluster *topology.Cluster
	// Timeout bounds each request (connect, send, answer); 0 = DefaultTimeout.
	// The ctx passed to each call bounds it too.
	Timeout time.Duration
	// TLSConfig is used when agent.tls_cert is set. nil: the system roots
	// plus the certificate file agent.tls_cert itself when it is readable on
	// this machine (the usual self-signed setup, the same file on every host).
	TLSConfig *tls.Config
	// Identity is whose certificate the client presents when the cluster has
	// a tls block: pki.Monitor (the watch), pki.Host(NAME) (an agent), or
	// pki.Operator (apply and the other commands; the zero value).
	Identity pki.Identity
	// Relay: a status request or a grant that has no answer from the host's
	// agent within HedgeAfter (or cannot connect) is sent again through
	// another host's agent (relay.go). The watch sets it, so a monitor cut
	// off from one host alone keeps that host's lease.
	Relay bool
	// HedgeAfter is how long the direct request is given alone; 0: 100ms.
	HedgeAfter time.Duration

	once sync.Once
	http *http.Client
	err  error

	relayOnce sync.Once
	relayHTTP *http.Client
	relayErr  error
	relayMu   sync.Mutex
	relayNext int // index in Cluster.Hosts of the host that relayed last
	// OnPath, if set, is called when the way to a host's agent changes:
	// via is the relaying host, "" direct again.
	OnPath  func(host, via string)
	pathMu  sync.Mutex
	pathVia map[string]string
}

// APIError is an answer other than 200 from an agent.
type APIError struct {
	Host       string
	StatusCode int    // 400, 401, 403, 409 (stale grant), 500…
	Message    string // the agent's reason
	// Nonce is a fresh nonce the agent put in its refusal (authenticated
	// requests only): a watch whose grant was refused may retry with it.
	Nonce string
}

// ProtocolError is an answer from an agent that speaks another protocol
// version than this mmm (or none: an agent older than protocol 2).
type ProtocolError struct {
	Host  string
	Agent int // the agent's ProtocolVersion; 1 = no header (older than 2)
}

func (e *ProtocolError) Error() string {
	if e.Agent < ProtocolVersion {
		return fmt.Sprintf("agent on %s speaks protocol %d, this mmm speaks %d: upgrade mmm on %s (the agent) to this version", e.Host, e.Agent, ProtocolVersion, e.Host)
	}
	return fmt.Sprintf("agent on %s speaks protocol %d, this mmm speaks %d: upgrade this mmm (watch, apply) to the agent's version", e.Host, e.Agent, ProtocolVersion)
}

// checkProtocol reads the answer's ProtocolHeader.
func checkProtocol(host string, resp *http.Response) error {
	v := resp.Header.Get(ProtocolHeader)
	if v == "" {
		return &ProtocolError{Host: host, Agent: 1}
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return &ProtocolError{Host: host, Agent: 0}
	}
	if n != ProtocolVersion {
		return &ProtocolError{Host: host, Agent: n}
	}
	return nil
}

func (e *APIError) Error() string {
	return fmt.Sprintf("agent %s: %d %s: %s", e.Host, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// ErrUnknownHost is returned for a host the cluster does not declare.
var ErrUnknownHost = errors.New("host not declared in the topology")

// URL is the base URL of host's agent ("http://198.18.0.11:9989").
func (c *Client) URL(host string) (string, error) {
	h := c.Cluster.Host(host)
	if h == nil {
		return "", fmt.Errorf("agent %s: %w", host, ErrUnknownHost)
	}
	scheme := "http"
	if tlsOn(c.Cluster) {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(h.Address, strconv.Itoa(c.Cluster.Agent.Port)), nil
}

// Status asks host's agent what it holds.
func (c *Client) Status(ctx context.Context, host string) (*Status, error) {
	return c.do(ctx, host, http.MethodGet, "/v1/status", nil)
}

// SetRoles tells host's agent the full set of VIPs it must hold, with a lease
// (watch) or without (apply: static mode), and returns what it holds after.
func (c *Client) SetRoles(ctx context.Context, host string, roles []RoleIP, lease *Lease) (*Status, error) {
	if roles == nil {
		roles = []RoleIP{} // "hold nothing", not "field missing"
	}
	req := SetRolesRequest{Cluster: c.Cluster.Name, Host: host, Roles: roles, Lease: lease}
	return c.do(ctx, host, http.MethodPut, "/v1/roles", req)
}

// Fence asks host's agent to fence its host now (drop the exclusive VIPs, set
// its server read_only and kill its client sessions, SIGKILL it if that
// fails in kill mode). req carries an epoch and a nonce as a lease does
// (Cluster and Host are filled in when empty); a stale one is an *APIError
// with StatusCode 409. The answer's Fence says what was done.
func (c *Client) Fence(ctx context.Context, host string, req FenceRequest) (*Status, error) {
	if req.Cluster == "" {
		req.Cluster = c.Cluster.Name
	}
	if req.Host == "" {
		req.Host = host
	}
	var st Status
	if err := c.doJSON(ctx, host, http.MethodPost, "/v1/fence", req, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Witness asks witness's agent to probe each target's server port and agent
// from where it stands, each probe bounded by timeout (0: the agent's
// default, 250ms; at most 5s). The request itself is bounded by the
// client's Timeout and ctx.
func (c *Client) Witness(ctx context.Context, witness string, targets []string, timeout time.Duration) (*WitnessReport, error) {
	req := WitnessRequest{Cluster: c.Cluster.Name, Targets: make([]WitnessTarget, len(targets)), Timeout: Duration(timeout)}
	for i, t := range targets {
		req.Targets[i] = WitnessTarget{Host: t}
	}
	var rep WitnessReport
	if err := c.doJSON(ctx, witness, http.MethodPost, "/v1/witness", req, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

func (c *Client) do(ctx context.Context, host, method, path string, body any) (*Status, error) {
	var st Status
	if err := c.doJSON(ctx, host, method, path, body, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (c *Client) doJSON(ctx context.Context, host, method, path string, body, out any) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, via, err := c.send(ctx, host, method, path, body)
	if err != nil {
		// *url.Error names the URL (address, no token).
		return fmt.Errorf("agent %s: %w", host, err)
	}
	defer resp.Body.Close()
	if err := checkProtocol(host, resp); err != nil {
		return err
	}
	if c.Relay && hedged(method, path) {
		c.notePath(host, via)
	}
	if resp.StatusCode != http.StatusOK {
		return apiError(host, resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("agent %s: read answer: %w", host, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("agent %s: malformed answer: %w", host, err)
	}
	return nil
}

// notePath calls OnPath when the way host's agent answered changed.
func (c *Client) notePath(host, via string) {
	c.pathMu.Lock()
	if c.pathVia == nil {
		c.pathVia = map[string]string{}
	}
	old, known := c.pathVia[host]
	c.pathVia[host] = via
	c.pathMu.Unlock()
	if c.OnPath != nil && (old != via) && (known || via != "") {
		c.OnPath(host, via)
	}
}

// request builds an authenticated request to host's agent, with body as JSON.
func (c *Client) request(ctx context.Context, host, method, path string, body any) (*http.Request, error) {
	base, err := c.URL(host)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", host, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Cluster.Agent.Token.Value())
	setCloneToken(c.Cluster, req) // authz.go
	req.Header.Set(ProtocolHeader, strconv.Itoa(ProtocolVersion))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// apiError reads an answer other than 200 into an *APIError.
func apiError(host string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb errorBody
	msg := string(bytes.TrimSpace(b))
	if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		msg = eb.Error
	}
	return &APIError{Host: host, StatusCode: resp.StatusCode, Message: msg, Nonce: eb.Nonce}
}

func (c *Client) client() (*http.Client, error) {
	c.once.Do(func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Never through HTTP(S)_PROXY: the token and the backup stream go
		// straight to the agent.
		tr.Proxy = nil
		if tlsOn(c.Cluster) {
			tr.TLSClientConfig, c.err = c.clientTLS()
		}
		c.http = &http.Client{Transport: tr}
	})
	return c.http, c.err
}
