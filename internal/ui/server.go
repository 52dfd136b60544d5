package ui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The page's routes, on the watch's control address:
//
//	GET  /                   the page: its style and script inline (one
//	                         request), and with a valid cookie the first
//	                         picture too, so it draws before the stream opens
//	POST /ui/login           form field "token": sets the cookie, back to /
//	POST /ui/logout          clears it
//	GET  /v1/view            View as JSON (what `mmm show --format dot|svg` draws)
//	GET  /v1/events/stream   server-sent events: "view" (with the SVG; the
//	                         first one also carries the chart's history)
//	                         whenever the picture changes, "sample" every second
//	GET  /ui/checks?host=H   the host's checks, for the page
//
// Everything but the page and its two assets asks for the control API's
// token: as "Authorization: Bearer", or from the cookie the login form
// sets (HttpOnly, SameSite=Strict), since a browser's EventSource cannot
// send a header. The cookie opens only these read-only routes: the control
// API's commands still want the header.

//go:embed assets
var assets embed.FS

// CookieName is the cookie that carries the token.
const CookieName = "mmm_token"

// Source is what the page reads: functions of the watch, so that this
// package does not depend on it.
type Source struct {
	// View is the watch's picture now (no query to any server).
	View func() View
	// Sample is the probes' latest latencies and lags, for the charts.
	Sample func() Sample
	// Checks returns the checks of host (what GET /v1/checks answers).
	Checks func(host string) (any, error)
	// Auth wraps a handler with the control API's token check (the
	// Authorization header).
	Auth func(http.HandlerFunc) http.HandlerFunc
	// Period is how often the page's stream looks at the View (default
	// 250ms); SampleEvery how often a chart point is taken (default 1s);
	// History how long the charts reach back (default 5 minutes).
	Period, SampleEvery, History time.Duration
	Logger                       *slog.Logger
}

// Server serves the page and its stream; one goroutine samples the watch
// for every viewer.
type Server struct {
	src    Source
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	samples []Sample
	subs    map[chan []byte]*subscriber
	// hooked: the http.Servers whose Shutdown closes the streams.
	hooked map[*http.Server]bool
}

// New starts the sampler; Close stops it and ends every stream.
func New(src Source) *Server {
	if src.Period <= 0 {
		src.Period = 250 * time.Millisecond
	}
	if src.SampleEvery <= 0 {
		src.SampleEvery = time.Second
	}
	if src.History <= 0 {
		src.History = 5 * time.Minute
	}
	if src.Logger == nil {
		src.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{src: src, log: src.Logger, ctx: ctx, cancel: cancel, subs: map[chan []byte]*subscriber{}, hooked: map[*http.Server]bool{}}
	go s.run()
	return s
}

// Close stops the sampler and ends every stream.
func (s *Server) Close() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		close(ch)
		delete(s.subs, ch)
	}
}

// run looks at the view every Period and tells the streams when it
// changed; every SampleEvery it keeps a chart point.
func (s *Server) run() {
	tick := time.NewTicker(s.src.Period)
	defer tick.Stop()
	var lastSample time.Time
	for {
		s.look(&lastSample)
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Server) look(lastSample *time.Time) {
	s.mu.Lock()
	watched := len(s.subs) > 0
	s.mu.Unlock()
	// The view only while a page is open; the chart points always, so that
	// a page opened during an incident shows the minutes before it.
	var key, viewMsg []byte
	if watched {
		v := s.src.View()
		var err error
		if key, err = viewKey(&v); err == nil {
			viewMsg, err = viewMessage(&v, nil)
		}
		if err != nil {
			s.log.Error("status page: encode the view", "error", err)
			return
		}
	}
	var sampleMsg []byte
	if now := time.Now(); now.Sub(*lastSample) >= s.src.SampleEvery && s.src.Sample != nil {
		*lastSample = now
		sm := s.src.Sample()
		if b, err := json.Marshal(sm); err == nil {
			sampleMsg = sse("sample", b)
		}
		s.mu.Lock()
		s.samples = append(s.samples, sm)
		if keep := int(s.src.History / s.src.SampleEvery); len(s.samples) > keep {
			s.samples = append([]Sample(nil), s.samples[len(s.samples)-keep:]...)
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch, sub := range s.subs {
		var msgs [][]byte
		if viewMsg != nil && !bytes.Equal(sub.key, key) {
			sub.key = key
			msgs = append(msgs, viewMsg)
		}
		if sampleMsg != nil {
			msgs = append(msgs, sampleMsg)
		}
		for _, m := range msgs {
			select {
			case ch <- m:
				continue
			default:
			}
			// A viewer that does not keep up is dropped; its browser
			// reconnects and starts from a fresh picture.
			close(ch)
			delete(s.subs, ch)
			break
		}
	}
}

// subscriber is one open stream: what it was last sent.
type subscriber struct {
	key []byte // the last view sent, without its time stamp
}

// viewKey is the view without its time stamp: an unchanged picture is not
// sent again.
func viewKey(v *View) ([]byte, error) {
	k := *v
	k.At = time.Time{}
	return json.Marshal(&k)
}

// streamPayload is the data of a "view" message.
type streamPayload struct {
	View    *View    `json:"view"`
	SVG     string   `json:"svg"`
	History []Sample `json:"history,omitempty"`
}

func viewMessage(v *View, history []Sample) ([]byte, error) {
	b, err := payload(v, history)
	if err != nil {
		return nil, err
	}
	return sse("view", b), nil
}

// payload is the JSON of a "view" message.
func payload(v *View, history []Sample) ([]byte, error) {
	var svg strings.Builder
	if err := SVG(&svg, v); err != nil {
		return nil, err
	}
	return json.Marshal(streamPayload{View: v, SVG: svg.String(), History: history})
}

func sse(event string, data []byte) []byte {
	return []byte("event: " + event + "\ndata: " + string(data) + "\n\n")
}

// Register mounts the page's routes on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("POST /ui/login", s.login)
	mux.HandleFunc("POST /ui/logout", func(rw http.ResponseWriter, r *http.Request) {
		http.SetCookie(rw, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		http.Redirect(rw, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /v1/view", s.authed(func(rw http.ResponseWriter, r *http.Request) {
		v := s.src.View()
		writeJSON(rw, http.StatusOK, &v)
	}))
	mux.HandleFunc("GET /ui/checks", s.authed(s.checks))
	mux.HandleFunc("GET /v1/events/stream", s.authed(s.stream))
}

// page is index.html with its style and script inline, and the
// Content-Security-Policy that allows exactly those two (by hash) and
// nothing from anywhere else.
var page, pageCSP = buildPage()

func buildPage() (string, string) {
	read := func(name string) string {
		b, err := assets.ReadFile(name)
		if err != nil {
			panic(fmt.Sprintf("ui: embedded %s: %v", name, err)) // a build mistake, caught by every test
		}
		return string(b)
	}
	html, css, js := read("assets/index.html"), read("assets/style.css"), read("assets/app.js")
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	html = strings.Replace(html, `<link rel="stylesheet" href="/ui/style.css">`, "<style>"+css+"</style>", 1)
	html = strings.Replace(html, `<script src="/ui/app.js"></script>`, "<script>"+js+"</script>", 1)
	csp := "default-src 'none'; script-src " + hash(js) + "; style-src " + hash(css) +
		"; img-src data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	return html, csp
}

// secure sets the headers of every answer: nothing from elsewhere, no
// framing, no sniffing.
func secure(rw http.ResponseWriter) {
	h := rw.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// index serves the page. With a valid cookie it carries the first picture
// (a JSON data block, which no policy runs), so the page draws at once.
func (s *Server) index(rw http.ResponseWriter, r *http.Request) {
	secure(rw)
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	out := page
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" && s.tokenOK(c.Value) {
		v := s.src.View()
		s.mu.Lock()
		hist := append([]Sample(nil), s.samples...)
		s.mu.Unlock()
		if data, err := payload(&v, hist); err == nil {
			// json.Marshal escapes <, > and &: the data cannot end the element.
			out = strings.Replace(out, "<script>", `<script type="application/json" id="mmm-initial">`+string(data)+"</script>\n<script>", 1)
		}
	}
	_, _ = io.WriteString(rw, out)
}

// authed accepts the token from the cookie too, then runs the control
// API's own check (one implementation of it).
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	inner := s.src.Auth(h)
	return func(rw http.ResponseWriter, r *http.Request) {
		secure(rw)
		rw.Header().Set("Cache-Control", "no-store")
		if r.Header.Get("Authorization") == "" {
			if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
				r = r.Clone(r.Context())
				r.Header.Set("Authorization", "Bearer "+c.Value)
			}
		}
		inner(rw, r)
	}
}

// tokenOK runs the control API's check on a token.
func (s *Server) tokenOK(tok string) bool {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	ok := false
	s.src.Auth(func(http.ResponseWriter, *http.Request) { ok = true })(discard{http.Header{}}, r)
	return ok
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

func (s *Server) login(rw http.ResponseWriter, r *http.Request) {
	secure(rw)
	r.Body = http.MaxBytesReader(rw, r.Body, 4096)
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if tok == "" || !s.tokenOK(tok) {
		s.log.Warn("status page: login with a wrong token", "remote", r.RemoteAddr)
		http.Redirect(rw, r, "/#login-failed", http.StatusSeeOther)
		return
	}
	http.SetCookie(rw, &http.Cookie{Name: CookieName, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 12 * 3600})
	http.Redirect(rw, r, "/", http.StatusSeeOther)
}

// checks answers the host's checks. The watch reads them under the lock a
// failover holds for seconds: the page gets a clear answer instead of a
// hang.
func (s *Server) checks(rw http.ResponseWriter, r *http.Request) {
	host := r.URL.Query().Get("host")
	type answer struct {
		v   any
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		v, err := s.src.Checks(host)
		ch <- answer{v, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			writeJSON(rw, http.StatusBadRequest, map[string]string{"error": a.err.Error()})
			return
		}
		writeJSON(rw, http.StatusOK, a.v)
	case <-time.After(2 * time.Second):
		writeJSON(rw, http.StatusServiceUnavailable, map[string]string{"error": "the watch is busy (a failover or a switchover holds it): try again in a moment"})
	}
}

// stream is the page's live feed.
func (s *Server) stream(rw http.ResponseWriter, r *http.Request) {
	fl, ok := rw.(http.Flusher)
	if !ok {
		writeJSON(rw, http.StatusInternalServerError, map[string]string{"error": "streaming unsupported"})
		return
	}
	s.hookShutdown(r)
	v := s.src.View()
	s.mu.Lock()
	hist := append([]Sample(nil), s.samples...)
	s.mu.Unlock()
	first, err := viewMessage(&v, hist)
	var key []byte
	if err == nil {
		key, err = viewKey(&v)
	}
	if err != nil {
		writeJSON(rw, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	ch := make(chan []byte, 16)
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		writeJSON(rw, http.StatusServiceUnavailable, map[string]string{"error": "the watch is stopping"})
		return
	}
	s.subs[ch] = &subscriber{key: key}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if _, ok := s.subs[ch]; ok {
			close(ch)
			delete(s.subs, ch)
		}
		s.mu.Unlock()
	}()
	// The stream outlives the server's WriteTimeout (which bounds the
	// control API's answers); a client that goes away ends r.Context().
	_ = http.NewResponseController(rw).SetWriteDeadline(time.Time{})
	rw.Header().Set("Content-Type", "text/event-stream")
	rw.Header().Set("X-Accel-Buffering", "no")
	rw.WriteHeader(http.StatusOK)
	// retry: how soon the browser reconnects after a lost stream.
	if _, err := io.WriteString(rw, "retry: 1000\n\n"); err != nil {
		return
	}
	if _, err := rw.Write(first); err != nil {
		return
	}
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if _, err := rw.Write(m); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// hookShutdown ends the streams when the serving http.Server shuts down:
// Shutdown waits for connections to go idle, which a stream never does.
func (s *Server) hookShutdown(r *http.Request) {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hooked[srv] {
		s.hooked[srv] = true
		srv.RegisterOnShutdown(s.Close)
	}
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	enc := json.NewEncoder(rw)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
