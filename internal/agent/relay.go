package agent

// The relay: a monitor cut off from one host alone (a partial partition:
// the monitor's route to the writer is lost, the other hosts and the
// clients still reach it) would stop renewing that host's lease, and the
// writer would fence itself although nothing is wrong with it. With
// Client.Relay, a request that gets no answer in time is sent again through
// another host's agent: POST /v1/relay opens a plain TCP tunnel from that
// agent to the target agent, and the request runs inside it end to end —
// the target's TLS, its client-certificate check and the token are the
// same as on the direct path, and the grant protocol (nonce issued less
// than a lease ago by the target's own clock, epoch) refuses a relayed
// grant that arrives late exactly as it refuses a direct one. docs/watch.md,
// "Relay".

import (
	"bufio"
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
	"syscall"
	"time"

	"github.com/mysql-mmm/mmm/internal/pki"
)

// RelayRequest is the body of POST /v1/relay.
type RelayRequest struct {
	Cluster string `json:"cluster"`
	Host    string `json:"host"` // whose agent the tunnel reaches
}

const (
	// relayDialTimeout bounds the relaying agent's dial of the target.
	relayDialTimeout = time.Second
	// relayLifetime ends a tunnel: the client's pool then dials again,
	// directly first, so a healed direct path is used again within it.
	relayLifetime = time.Minute
)

// handleRelay answers POST /v1/relay: it dials the target host's agent and,
// on success, answers 200 with an empty body and turns the connection into
// a byte pipe to it. Only the monitor may open one (authz.go), only to an
// agent the file declares (never an arbitrary address), never to itself.
func (a *Agent) handleRelay(w http.ResponseWriter, r *http.Request) {
	var req RelayRequest
	if rerr := decode(w, r, &req); rerr != nil {
		a.refuse(w, r, rerr.code, rerr.msg)
		return
	}
	if rerr := a.notOurCluster(req.Cluster); rerr != nil {
		a.refuse(w, r, rerr.code, rerr.msg)
		return
	}
	target := a.cluster.Host(req.Host)
	switch {
	case target == nil:
		a.refuse(w, r, http.StatusForbidden, "host "+strconv.Quote(req.Host)+" is not declared in cluster "+strconv.Quote(a.cluster.Name))
		return
	case target.Name == a.host.Name:
		a.refuse(w, r, http.StatusBadRequest, "a relay to this agent itself: call it directly")
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		a.refuse(w, r, http.StatusInternalServerError, "this connection cannot carry a relay (HTTP/2): speak HTTP/1.1")
		return
	}
	addr := net.JoinHostPort(target.Address, strconv.Itoa(a.cluster.Agent.Port))
	dctx, cancel := context.WithTimeout(r.Context(), relayDialTimeout)
	up, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		a.refuse(w, r, http.StatusBadGateway, fmt.Sprintf("host %s cannot reach the agent of %s (%s): %v", a.host.Name, target.Name, addr, err))
		return
	}
	down, brw, err := hj.Hijack()
	if err != nil {
		up.Close()
		a.log.Warn("relay: hijack", "err", err)
		return
	}
	a.log.Info("relay opened", "to", target.Name, "who", identityOf(r), "remote", r.RemoteAddr)
	// The server's read and write deadlines stay on a hijacked connection;
	// the tunnel has its own lifetime instead.
	end := time.Now().Add(relayLifetime)
	_ = down.SetDeadline(end)
	_ = up.SetDeadline(end)
	if _, err := io.WriteString(down, "HTTP/1.1 200 OK\r\n"+ProtocolHeader+": "+strconv.Itoa(ProtocolVersion)+"\r\nContent-Length: 0\r\n\r\n"); err != nil {
		down.Close()
		up.Close()
		return
	}
	pipe(down, brw.Reader, up)
}

// pipe copies both ways until either side ends, then closes both. buffered
// holds what the client sent after its request, already read.
func pipe(down net.Conn, buffered *bufio.Reader, up net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(up, buffered) // buffered reads through to down
		closeWrite(up)
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(down, up)
		closeWrite(down)
	}()
	wg.Wait()
	down.Close()
	up.Close()
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		return
	}
	c.Close()
}

// identityOf names the caller for the log: the certificate's identity when
// there is one.
func identityOf(r *http.Request) string {
	if id, ok := r.Context().Value(identityKey{}).(pki.Identity); ok {
		return id.String()
	}
	return "token"
}

// hedged says whether a request may be sent a second time through a relay:
// the lease's two requests, whose duplicates are harmless (a status asks;
// a grant's nonce is accepted once, the copy gets 409).
func hedged(method, path string) bool {
	return (method == http.MethodGet && path == "/v1/status") || (method == http.MethodPut && path == "/v1/roles")
}

// hedgeAfter is how long a hedged request waits for a direct answer before
// its copy goes through a relay.
func (c *Client) hedgeAfter() time.Duration {
	if c.HedgeAfter > 0 {
		return c.HedgeAfter
	}
	return 100 * time.Millisecond
}

// attempt is a relayed copy of a request and what came back.
type attempt struct {
	resp   *http.Response
	err    error
	via    string // the relaying host
	cancel context.CancelFunc
}

// send sends the request to host's agent directly and, when c.Relay and
// the request is hedged, a copy through another host's agent if the direct
// one has no answer within hedgeAfter or cannot connect. The first 200
// wins (a relayed 200 cancels the direct attempt); another answer wins
// only when no 200 comes. The common case, a direct answer in time, costs
// one timer: the direct request runs on the caller's goroutine.
func (c *Client) send(ctx context.Context, host, method, path string, body any) (*http.Response, string, error) {
	hc, err := c.client()
	if err != nil {
		return nil, "", fmt.Errorf("agent %s: %w", host, err)
	}
	if !c.Relay || !hedged(method, path) || len(c.Cluster.Hosts) < 2 {
		req, err := c.request(ctx, host, method, path, body)
		if err != nil {
			return nil, "", err
		}
		resp, err := hc.Do(req)
		return resp, "", err
	}
	// The direct attempt's context ends when a relayed answer makes it moot,
	// or when its answer is closed: cancelling it before the caller read
	// the body would cost the kept connection.
	dctx, dcancel := context.WithCancel(ctx)
	req, err := c.request(dctx, host, method, path, body)
	if err != nil {
		dcancel()
		return nil, "", err
	}
	// Shared with the relayed copy's goroutine and the timers, under mu:
	// directDone once the direct attempt returned (directOK: with a 200,
	// which nothing may cancel any more); cut once the relayed side
	// cancelled the direct attempt, whose answer then loses.
	var (
		mu                   sync.Mutex
		relayed              chan attempt // made when the copy is sent
		directDone, directOK bool
		cut                  bool
	)
	cutDirect := func() { // with mu held
		if !(directDone && directOK) {
			cut = true
			dcancel()
		}
	}
	relay := func(hedge bool) chan attempt {
		mu.Lock()
		defer mu.Unlock()
		if relayed != nil || (hedge && directDone) {
			return relayed
		}
		ch := make(chan attempt, 1)
		relayed = ch
		go func() {
			rc, err := c.relayClient()
			if err != nil {
				ch <- attempt{err: err, cancel: func() {}}
				return
			}
			actx, cancel := context.WithCancel(ctx)
			rreq, err := c.request(actx, host, method, path, body)
			if err != nil {
				cancel()
				ch <- attempt{err: err, cancel: func() {}}
				return
			}
			resp, err := rc.Do(rreq)
			switch {
			case err == nil && resp.StatusCode == http.StatusOK:
				mu.Lock()
				cutDirect() // the direct attempt cannot do better
				mu.Unlock()
			case err == nil:
				// The agent refused this copy: the direct one, if it got
				// there first, answers within about as long; then it is moot.
				time.AfterFunc(c.hedgeAfter(), func() {
					mu.Lock()
					cutDirect()
					mu.Unlock()
				})
			}
			ch <- attempt{resp: resp, err: err, via: c.lastRelay(), cancel: cancel}
		}()
		return ch
	}
	timer := time.AfterFunc(c.hedgeAfter(), func() { relay(true) })
	resp, derr := hc.Do(req)
	timer.Stop()
	mu.Lock()
	directDone = true
	directOK = derr == nil && resp.StatusCode == http.StatusOK && !cut
	wasCut, ch := cut, relayed
	mu.Unlock()
	if wasCut {
		// The relayed answer came first and is on its way (it cut this one
		// before it sent it): it wins.
		if derr == nil {
			resp.Body.Close()
		}
		a := <-ch
		return a.resp, a.via, a.err
	}
	if directOK {
		if ch != nil {
			go discardLater(ch)
		}
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: dcancel}
		return resp, "", nil
	}
	if derr == nil {
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: dcancel}
	} else {
		dcancel()
	}
	// Refused is an answer of the host itself (its agent is down): a relay
	// would be refused as well.
	if ch == nil && derr != nil && !errors.Is(derr, syscall.ECONNREFUSED) && ctx.Err() == nil {
		ch = relay(false)
	}
	if ch == nil {
		return resp, "", derr
	}
	var grace <-chan time.Time
	if derr == nil {
		// The agent answered the direct copy: the relayed one, if it got
		// there first, answers within about as long.
		grace = time.After(c.hedgeAfter())
	}
	// An answer already in wins over a context that ended meanwhile.
	var a attempt
	var got bool
	select {
	case a = <-ch:
		got = true
	default:
		select {
		case a = <-ch:
			got = true
		case <-grace:
			go discardLater(ch)
		case <-ctx.Done():
			go discardLater(ch)
		}
	}
	if got {
		if a.err == nil && (a.resp.StatusCode == http.StatusOK || derr != nil) {
			if derr == nil {
				resp.Body.Close()
			}
			return a.resp, a.via, nil
		}
		discard(&a)
	}
	return resp, "", derr
}

// discard closes an answer that lost.
func discard(a *attempt) {
	if a.resp != nil {
		a.resp.Body.Close()
	}
	a.cancel()
}

// discardLater closes the relayed answer when it comes.
func discardLater(ch chan attempt) {
	a := <-ch
	discard(&a)
}

// lastRelay names the host whose agent opened the last tunnel.
func (c *Client) lastRelay() string {
	c.relayMu.Lock()
	defer c.relayMu.Unlock()
	return c.Cluster.Hosts[c.relayNext%len(c.Cluster.Hosts)].Name
}

// relayClient is the HTTP client whose connections are relay tunnels.
func (c *Client) relayClient() (*http.Client, error) {
	c.relayOnce.Do(func() {
		var tlsCfg *tls.Config
		if tlsOn(c.Cluster) {
			tlsCfg, c.relayErr = c.clientTLS()
		}
		tr := &http.Transport{
			Proxy:               nil,
			DialContext:         c.dialRelay,
			TLSClientConfig:     tlsCfg, // end to end with the target agent
			TLSHandshakeTimeout: 2 * time.Second,
			// Tunnels end after relayLifetime on the relaying side; idle
			// ones are dropped sooner so a healed direct path serves again.
			IdleConnTimeout:     15 * time.Second,
			MaxIdleConnsPerHost: 1,
		}
		c.relayHTTP = &http.Client{Transport: tr}
	})
	return c.relayHTTP, c.relayErr
}

// dialRelay opens a tunnel to the agent at addr through the first other
// host's agent that opens one, trying them in turn (starting after the last
// one that worked) within ctx.
func (c *Client) dialRelay(ctx context.Context, _, addr string) (net.Conn, error) {
	target := c.hostAt(addr)
	if target == "" {
		return nil, fmt.Errorf("relay: %s is no declared agent", addr)
	}
	hosts := c.Cluster.Hosts
	c.relayMu.Lock()
	first := c.relayNext
	c.relayMu.Unlock()
	var errs []error
	for i := range hosts {
		via := hosts[(first+i)%len(hosts)].Name
		if via == target {
			continue
		}
		conn, err := c.openTunnel(ctx, via, target)
		if err == nil {
			c.relayMu.Lock()
			c.relayNext = (first + i) % len(hosts)
			c.relayMu.Unlock()
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("no agent relays to %s: %w", target, errors.Join(errs...))
}

// hostAt is the declared host whose agent listens on addr.
func (c *Client) hostAt(addr string) string {
	for _, h := range c.Cluster.Hosts {
		if net.JoinHostPort(h.Address, strconv.Itoa(c.Cluster.Agent.Port)) == addr {
			return h.Name
		}
	}
	return ""
}

// openTunnel asks via's agent for a tunnel to target's agent.
func (c *Client) openTunnel(ctx context.Context, via, target string) (net.Conn, error) {
	base, err := c.URL(via)
	if err != nil {
		return nil, err
	}
	h := c.Cluster.Host(via)
	addr := net.JoinHostPort(h.Address, strconv.Itoa(c.Cluster.Agent.Port))
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("relay %s: %w", via, err)
	}
	conn := raw
	if tlsOn(c.Cluster) {
		cfg, err := c.clientTLS()
		if err != nil {
			raw.Close()
			return nil, err
		}
		cfg = cfg.Clone()
		cfg.ServerName = h.Address
		cfg.NextProtos = []string{"http/1.1"} // a tunnel needs HTTP/1.1 (hijack)
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("relay %s: TLS: %w", via, err)
		}
		conn = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	b, _ := json.Marshal(RelayRequest{Cluster: c.Cluster.Name, Host: target})
	req, err := http.NewRequest(http.MethodPost, base+"/v1/relay", bytes.NewReader(b))
	if err != nil {
		conn.Close()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Cluster.Agent.Token.Value())
	req.Header.Set(ProtocolHeader, strconv.Itoa(ProtocolVersion))
	req.Header.Set("Content-Type", "application/json")
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("relay %s: %w", via, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("relay %s: %w", via, err)
	}
	if err := checkProtocol(via, resp); err != nil {
		resp.Body.Close()
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		err := apiError(via, resp)
		resp.Body.Close()
		conn.Close()
		return nil, err
	}
	resp.Body.Close()
	_ = conn.SetDeadline(time.Time{})
	return &tunnel{Conn: conn, r: br, via: via}, nil
}

// tunnel is a relayed connection: reads go through the reader that read
// the relay's answer (it may hold the first bytes of the target's).
type tunnel struct {
	net.Conn
	r   *bufio.Reader
	via string
}

func (t *tunnel) Read(p []byte) (int, error) { return t.r.Read(p) }
