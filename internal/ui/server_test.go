package ui

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeAuth is the control API's check reduced to its contract: the
// Authorization header carries "Bearer <token>".
func fakeAuth(token string) func(http.HandlerFunc) http.HandlerFunc {
	return func(h http.HandlerFunc) http.HandlerFunc {
		return func(rw http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				writeJSON(rw, http.StatusUnauthorized, map[string]string{"error": "missing or wrong token"})
				return
			}
			h(rw, r)
		}
	}
}

func newTestServer(t *testing.T) (*httptest.Server, *Server) {
	t.Helper()
	s := New(Source{
		View: func() View { v := labView(); v.At = time.Now(); return *v },
		Sample: func() Sample {
			return Sample{At: time.Now(), Hosts: map[string]HostSample{"slave1": {Lag: i64(1), PingMS: 0.4}}}
		},
		Checks: func(host string) (any, error) {
			if host == "slow" {
				time.Sleep(3 * time.Second) // a failover holds the watch
			}
			return []map[string]any{{"host": host, "check": "ping", "ok": true}}, nil
		},
		Auth:   fakeAuth("s3cret"),
		Period: 20 * time.Millisecond, SampleEvery: 20 * time.Millisecond,
	})
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return srv, s
}

func TestServerAuth(t *testing.T) {
	srv, _ := newTestServer(t)
	get := func(path, token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// The page itself holds no data: it loads without a token, with a
	// policy that forbids anything from elsewhere.
	resp := get("/", "")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("GET /: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	for _, p := range []string{"/v1/view", "/v1/events/stream", "/ui/checks?host=slave1"} {
		if code := get(p, "").StatusCode; code != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", p, code)
		}
		if code := get(p, "wrong").StatusCode; code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", p, code)
		}
	}
	if code := get("/v1/view", "s3cret").StatusCode; code != 200 {
		t.Errorf("GET /v1/view with the token: %d", code)
	}

	// The login form: a wrong token sets no cookie; the right one sets an
	// HttpOnly, SameSite=Strict cookie that opens the read-only routes.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(srv.URL+"/ui/login", url.Values{"token": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(srv.URL)
	if len(jar.Cookies(u)) != 0 {
		t.Fatal("a wrong token got a cookie")
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.PostForm(srv.URL+"/ui/login", url.Values{"token": {"s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") || !strings.Contains(sc, CookieName+"=") {
		t.Fatalf("login cookie: %q", sc)
	}
	cookie := resp.Cookies()[0]
	// The page carries the first picture only for a valid cookie.
	for _, tc := range []struct {
		cookie *http.Cookie
		want   bool
	}{{nil, false}, {&http.Cookie{Name: CookieName, Value: "wrong"}, false}, {cookie, true}} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		if tc.cookie != nil {
			req.AddCookie(tc.cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strings.Contains(string(body), `id="mmm-initial"`); got != tc.want {
			t.Errorf("GET / with cookie %v: first picture inline %v, want %v", tc.cookie, got, tc.want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ui/checks?host=slave1", nil)
	req.AddCookie(cookie)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("checks with the cookie: %d", resp.StatusCode)
	}
}

func TestServerChecksBusy(t *testing.T) {
	srv, _ := newTestServer(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ui/checks?host=slow", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("checks while the watch is held: %d, want 503", resp.StatusCode)
	}
}

func TestServerStream(t *testing.T) {
	srv, s := newTestServer(t)
	time.Sleep(100 * time.Millisecond) // a few samples for the history
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var events []string
	var firstData string
	for sc.Scan() && len(events) < 3 {
		line := sc.Text()
		if ev, ok := strings.CutPrefix(line, "event: "); ok {
			events = append(events, ev)
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok && firstData == "" {
			firstData = d
		}
	}
	if len(events) < 3 || events[0] != "view" || events[1] != "sample" {
		t.Fatalf("events %v, want view then samples", events)
	}
	for _, want := range []string{`"history":[`, `"svg":"\u003csvg`, `data-host=\"master2\"`, `"writer":"master2"`} {
		if !strings.Contains(firstData, want) {
			t.Errorf("first view lacks %s", want)
		}
	}
	// An unchanged view is not sent again: only samples follow.
	for i := 0; i < 5 && sc.Scan(); i++ {
		if sc.Text() == "event: view" {
			t.Error("an unchanged view was sent again")
		}
	}
	// Close ends the stream.
	s.Close()
	for sc.Scan() {
	}
}
