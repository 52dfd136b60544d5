package watch

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mysql-mmm/mmm/internal/pki"
)

// The control API, JSON over HTTP on monitor.listen. Every request but
// /metrics carries "Authorization: Bearer <monitor.token>":
//
//	GET  /v1/status               Report (mmm show)
//	GET  /v1/checks[?host=NAME]   []CheckReport (mmm checks)
//	POST /v1/set-online           {"host": NAME}
//	POST /v1/set-offline          {"host": NAME}
//	POST /v1/move-role            {"role": ROLE, "host": NAME, "force": bool}
//	POST /v1/mode                 {"mode": "active"|"passive"|"manual"}
//	GET  /v1/node                 this node's raft view (several watch nodes)
//	GET  /metrics                 Prometheus metrics (no token: they hold no secret)
//
// Answers: 200 with JSON; 401 without a valid token; 400 for a refused
// command, with {"error": "..."}.

// Command is the body of the POST requests.
type Command struct {
	Host  string `json:"host,omitempty"`
	Role  string `json:"role,omitempty"`
	Force bool   `json:"force,omitempty"`
	Mode  string `json:"mode,omitempty"`
}

// OK is the answer of a command that succeeded.
type OK struct {
	Message string `json:"message"`
	Report  Report `json:"status"`
}

type errorBody struct {
	Error string `json:"error"`
}

// Handler serves the control API. The token is compared in constant time
// (of its SHA-256, so its length does not leak either).
func (w *Watch) Handler() http.Handler {
	sum := sha256.Sum256([]byte(w.c.Monitor.Token.Value()))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.metrics.reg, promhttp.HandlerOpts{}))
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(rw http.ResponseWriter, r *http.Request) {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			got := sha256.Sum256([]byte(tok))
			if !ok || w.c.Monitor.Token.Value() == "" || subtle.ConstantTimeCompare(got[:], sum[:]) != 1 {
				writeJSON(rw, http.StatusUnauthorized, errorBody{"missing or wrong token (monitor.token)"})
				return
			}
			h(rw, r)
		}
	}
	mux.HandleFunc("GET /v1/status", auth(func(rw http.ResponseWriter, r *http.Request) {
		st := w.Status()
		st.Nodes = w.Nodes(r.Context())
		writeJSON(rw, http.StatusOK, st)
	}))
	// One node's own view of raft, for the other nodes' `mmm show`.
	mux.HandleFunc("GET /v1/node", auth(func(rw http.ResponseWriter, r *http.Request) {
		if w.cfg.Raft == nil {
			writeJSON(rw, http.StatusNotFound, errorBody{"this watch runs alone (no node blocks)"})
			return
		}
		writeJSON(rw, http.StatusOK, w.cfg.Raft.Info())
	}))
	mux.HandleFunc("GET /v1/checks", auth(func(rw http.ResponseWriter, r *http.Request) {
		out, err := w.Checks(r.URL.Query().Get("host"))
		if err != nil {
			writeJSON(rw, http.StatusBadRequest, errorBody{err.Error()})
			return
		}
		writeJSON(rw, http.StatusOK, out)
	}))
	command := func(run func(ctx context.Context, c Command) (string, error)) http.HandlerFunc {
		return auth(func(rw http.ResponseWriter, r *http.Request) {
			var c Command
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&c); err != nil {
				writeJSON(rw, http.StatusBadRequest, errorBody{"malformed request: " + err.Error()})
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
			defer cancel()
			// The audit trail: who (certificate identity, or the token's holder),
			// from where, what, and how it ended.
			audit := []any{"who", w.requester(r), "remote", r.RemoteAddr, "command", r.URL.Path,
				"host", c.Host, "role", c.Role, "force", c.Force, "mode", c.Mode}
			w.log.Info("control command", audit...)
			if !w.actingNow() {
				// Lost the lead between the forwarding and here.
				writeJSON(rw, http.StatusServiceUnavailable, errorBody{"this watch node just stopped leading: try again"})
				return
			}
			msg, err := run(ctx, c)
			if err != nil {
				w.log.Warn("control command failed", append(audit, "error", err)...)
				writeJSON(rw, http.StatusBadRequest, errorBody{err.Error()})
				return
			}
			w.log.Info("control command done", append(audit, "result", msg)...)
			writeJSON(rw, http.StatusOK, OK{Message: msg, Report: w.Status()})
		})
	}
	mux.HandleFunc("POST /v1/set-online", command(func(ctx context.Context, c Command) (string, error) {
		return "OK: State of '" + c.Host + "' changed to ONLINE.", w.SetOnline(ctx, c.Host)
	}))
	mux.HandleFunc("POST /v1/set-offline", command(func(ctx context.Context, c Command) (string, error) {
		return "OK: State of '" + c.Host + "' changed to ADMIN_OFFLINE.", w.SetOffline(ctx, c.Host)
	}))
	mux.HandleFunc("POST /v1/move-role", command(func(ctx context.Context, c Command) (string, error) {
		return fmt.Sprintf("OK: Role '%s' has been moved to '%s'.", c.Role, c.Host), w.MoveRole(ctx, c.Role, c.Host, c.Force)
	}))
	w.mountUI(mux, auth) // the status page: GET /, /v1/view, /v1/events/stream (ui.go)
	mux.HandleFunc("POST /v1/mode", command(func(ctx context.Context, c Command) (string, error) {
		m, err := ParseMode(c.Mode)
		if err != nil {
			return "", err
		}
		return "OK: mode is " + string(m) + ".", w.SetMode(m)
	}))
	// With several nodes a follower forwards commands to the leader (raft.go).
	return w.authorize(w.forward(mux)) // by client certificate with a tls block (tls.go)
}

// requester names who sent a control request, for the audit log: the client
// certificate's mmm identity with a tls block, else the monitor token's holder
// (the token itself never).
func (w *Watch) requester(r *http.Request) string {
	if id, ok := pki.PeerIdentity(r.TLS); ok {
		return id.String()
	}
	return "monitor-token"
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	enc := json.NewEncoder(rw)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// noProxy is the client of a Client without its own: never through
// HTTP(S)_PROXY, the token goes straight to the watch.
var noProxy = func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return &http.Client{Transport: tr}
}()

// Client talks to a running watch.
type Client struct {
	// Base is "http://127.0.0.1:9988".
	Base string
	// Others are tried in turn when Base does not answer (the other watch
	// nodes): reads answer on any node, commands are forwarded to the leader.
	Others  []string
	Token   string
	Timeout time.Duration // per request; 0 = 3 minutes (move-role waits for catch-up)
	HTTP    *http.Client
}

// APIError is a refused request.
type APIError struct {
	StatusCode int
	Message    string
}

func (e *APIError) Error() string { return e.Message }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		payload = b
	}
	hc := c.HTTP
	if hc == nil {
		hc = noProxy
	}
	var resp *http.Response
	var failed []string
	for _, base := range append([]string{c.Base}, c.Others...) {
		var rd io.Reader
		if payload != nil {
			rd = strings.NewReader(string(payload))
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.Token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err = hc.Do(req)
		if err == nil {
			break
		}
		failed = append(failed, fmt.Sprintf("%s: %v", base, err))
		if ctx.Err() != nil {
			break
		}
	}
	if resp == nil {
		if len(failed) == 1 {
			return fmt.Errorf("the watch at %s (is `mmm watch` running?)", failed[0])
		}
		return fmt.Errorf("no watch node answers (is `mmm watch --node NAME` running?): %s", strings.Join(failed, "; "))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			return &APIError{StatusCode: resp.StatusCode, Message: eb.Error}
		}
		return &APIError{StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(b))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("malformed answer from the watch: %w", err)
	}
	return nil
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (*Report, error) {
	var r Report
	return &r, c.do(ctx, http.MethodGet, "/v1/status", nil, &r)
}

// Checks is GET /v1/checks.
func (c *Client) Checks(ctx context.Context, host string) ([]CheckReport, error) {
	var out []CheckReport
	path := "/v1/checks"
	if host != "" {
		path += "?host=" + host
	}
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Command sends one of the POST commands ("set-online", "set-offline",
// "move-role", "mode").
func (c *Client) Command(ctx context.Context, verb string, cmd Command) (*OK, error) {
	var out OK
	if err := c.do(ctx, http.MethodPost, "/v1/"+verb, cmd, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ErrNoToken: the file sets no monitor.token.
var ErrNoToken = errors.New("monitor.token is empty: the watch's API refuses every request without it")
