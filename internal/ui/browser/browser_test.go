package browser_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/inspect"
	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/internal/watch"
	"github.com/mysql-mmm/mmm/plan"
)

// The status page's browser test has the lab subnet 198.18.14.0/24.
func TestMain(m *testing.M) {
	labtest.Main(m, "../../../examples/lab/mmm.hcl", labtest.Subnet("198.18.14"))
}

// chromium finds Debian's browser (MMM_CHROMIUM names another). Without
// it the test skips, unless MMM_REQUIRE_LAB=1 (CI, make test): then it
// fails.
func chromium(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome"}
	if env := os.Getenv("MMM_CHROMIUM"); env != "" {
		names = []string{env}
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(labtest.RequireEnv) == "1" {
		t.Fatalf("no browser (%s) and %s=1: install it with `make deps` (Debian package chromium)", strings.Join(names, ", "), labtest.RequireEnv)
	}
	t.Skipf("no browser (%s): make deps installs chromium", strings.Join(names, ", "))
	return ""
}

// startWatch converges the lab with apply (agents place the VIPs) and runs
// a watch serving its control API on monitor.listen.
// cutOff makes the watch's network check (monitor.ping_ips) fail, as when
// the monitor host is the one cut off.
var cutOff atomic.Bool

func startWatch(t *testing.T, l *lab.Lab) (w *watch.Watch, c *topology.Cluster, srv *http.Server, mmm func(args ...string) (string, error)) {
	c = l.Cluster()
	c.Monitor.StateFile = filepath.Join(t.TempDir(), "watch.state")
	bin, cfg := labtest.StartAgents(t)
	mmm = func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"--config", cfg}, args...)...).CombinedOutput()
		return string(out), err
	}
	agents := &agent.Client{Cluster: c, Timeout: time.Second}
	timeouts := conn.Timeouts{Connect: 500 * time.Millisecond, Query: 2 * time.Second}
	inspectAll := func(ctx context.Context) *topology.Live {
		live := inspect.Inspect(ctx, c, inspect.Options{Timeouts: timeouts})
		inspect.Agents(ctx, c, agents, live, time.Second)
		return live
	}
	ctx := context.Background()
	a := &apply.Applier{
		Cluster: c, Inspect: inspectAll,
		Diff: func(live *topology.Live) *plan.Plan { return plan.Diff(c, live, plan.Options{Now: time.Now()}) },
		DBs:  &apply.Pool{Cluster: c}, Agents: agents, LockWait: 5 * time.Second,
	}
	defer a.DBs.(*apply.Pool).Close()
	if _, err := a.Apply(ctx, a.Diff(a.Inspect(ctx))); err != nil {
		t.Fatalf("apply: %v", err)
	}
	pool := &apply.Pool{Cluster: c, Timeouts: timeouts}
	// Wired as `mmm watch` wires it: one kept connection per host.
	w = watch.New(watch.Config{Cluster: c, Inspect: inspectAll, DBs: pool, Agents: agents, Holder: "watch@uitest",
		NewReader: func(host string) watch.HostReader {
			return inspect.NewReader(c, c.Host(host), inspect.Options{Timeouts: timeouts, SkipAccounts: true})
		},
		PingNetwork: func(ctx context.Context, ip string, timeout time.Duration) error {
			if cutOff.Load() {
				return errors.New("cut off by the test")
			}
			return nil
		},
		FailoverDBs: func() apply.Databases {
			return &apply.Pool{Cluster: c, Timeouts: conn.Timeouts{Connect: 500 * time.Millisecond, Query: 10 * time.Second}}
		},
	})
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w.Start(wctx)
	go func() {
		defer close(done)
		_ = w.Run(wctx)
		pool.Close()
	}()
	t.Cleanup(func() { cancel(); <-done })

	ln, err := net.Listen("tcp", c.Monitor.Listen)
	if err != nil {
		t.Fatalf("listen %s: %v", c.Monitor.Listen, err)
	}
	srv = &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	})
	return w, c, srv, mmm
}

func waitStatus(t *testing.T, w *watch.Watch, timeout time.Duration, what string, cond func(r watch.Report) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(w.Status()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %+v", what, timeout, w.Status())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// browser drives one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T, exe, allow string) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // root in CI: Chromium's sandbox refuses to run as root
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-proxy-server", true),
		// The page is the only thing this browser may reach: no name
		// lookups, so no traffic leaves the lab.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE "+allow),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, without a timeout (see chromedp.Run)
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	return &browser{t: t, ctx: ctx}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS polls a JavaScript condition in the page until it holds.
func (b *browser) waitJS(timeout time.Duration, what, js string) time.Duration {
	b.t.Helper()
	t0 := time.Now()
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return time.Since(t0)
		}
		if time.Since(t0) > timeout {
			dom := eval[string](b, `(document.getElementById("banners")||{}).innerText + "\n" + (document.getElementById("hosts")||{}).innerText + "\n" + (document.getElementById("detail")||{}).innerText + "\n" + (document.getElementById("events")||{}).innerText`)
			b.t.Fatalf("page: %s: not within %s (last error %v); page shows:\n%s", what, timeout, err, dom)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) screenshot(path string, full bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	var png []byte
	var err error
	if full {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	} else {
		png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d bytes)", path, len(png))
}

// binDir is the module's bin/, where the screenshots go for review.
func binDir(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	dir := filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func serverPID(t *testing.T, l *lab.Lab, host string) int {
	st, err := l.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range st {
		if h.Name == host && h.PID > 0 {
			return h.PID
		}
	}
	t.Fatalf("no running server for %s in the lab's state", host)
	return 0
}

func hostJS(host, cond string) string {
	return fmt.Sprintf(`(function(){var g=document.querySelector('#topology g.host[data-host=%q]'); return g && (%s);})()`, host, cond)
}

func TestStatusPage(t *testing.T) {
	exe := chromium(t)
	l := labtest.Get(t)
	w, c, srv, mmm := startWatch(t, l)
	writerVIP := c.WriterRole().IPs[0]
	waitStatus(t, w, 30*time.Second, "every host ONLINE with its roles", func(r watch.Report) bool {
		n := 0
		for _, h := range r.Hosts {
			if h.State != watch.Online {
				return false
			}
			n += len(h.Roles)
		}
		return r.Writer == "master1" && n == 1+len(c.Role("reader").IPs)
	})
	base := "http://" + c.Monitor.Listen
	token := c.Monitor.Token.Value()

	// What the page's requests cost, timed from the monitor host (the lab's
	// root namespace): the page, then the view it asks for.
	for _, p := range []string{"/", "/v1/view"} {
		req, _ := http.NewRequest(http.MethodGet, base+p, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Logf("GET %s: %d, %d bytes in %s", p, resp.StatusCode, n, time.Since(t0).Round(10*time.Microsecond))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
	}

	monitorIP, _, err := net.SplitHostPort(c.Monitor.Listen)
	if err != nil {
		t.Fatalf("monitor.listen %q: %v", c.Monitor.Listen, err)
	}
	// mmm show --format dot|svg: the same drawing, from the CLI.
	if out, err := mmm("show", "--format", "dot"); err != nil || !strings.Contains(out, `digraph "lab"`) || !strings.Contains(out, `"master1" -> "slave1"`) {
		t.Errorf("mmm show --format dot: %v\n%s", err, out)
	}
	out, err := mmm("show", "--format", "svg")
	if err != nil || !strings.HasPrefix(out, "<svg") || !strings.Contains(out, `data-host="master1" data-state="ONLINE"`) {
		t.Errorf("mmm show --format svg: %v\n%s", err, out)
	} else if err := os.WriteFile(filepath.Join(binDir(t), "ui-topology.svg"), []byte(out), 0o644); err != nil {
		t.Error(err)
	}

	b := newBrowser(t, exe, monitorIP)

	// Without the token cookie the page asks for the token.
	b.do(chromedp.Navigate(base + "/"))
	b.waitJS(10*time.Second, "login form shown", `!document.getElementById("login").hidden`)
	b.do(
		chromedp.SendKeys(chromedp.CSS(`#login input[name=token]`), "wrong"),
		chromedp.Submit(chromedp.CSS(`#login form`)),
	)
	b.waitJS(10*time.Second, "wrong token refused", `!document.getElementById("login-error").hidden`)
	b.do(
		chromedp.SendKeys(chromedp.CSS(`#login input[name=token]`), token),
		chromedp.Submit(chromedp.CSS(`#login form`)),
	)
	b.waitJS(10*time.Second, "topology drawn after the login", `document.querySelectorAll("#topology g.host").length == 4`)
	if ck := eval[string](b, `document.cookie`); strings.Contains(ck, "mmm_token") {
		t.Errorf("the token cookie is readable from JavaScript: %q", ck)
	}

	// Page load, with the cookie: navigation to the first drawn view.
	var loads []float64
	for i := 0; i < 5; i++ {
		b.do(chromedp.Navigate(base + "/"))
		b.waitJS(10*time.Second, "first view", `window.mmmFirstView > 0`)
		loads = append(loads, eval[float64](b, `window.mmmFirstView`))
	}
	nav := eval[string](b, `(function(){
		var n = performance.getEntriesByType("navigation")[0], m = window.mmmTimes;
		return "page responseEnd " + n.responseEnd.toFixed(1) + " ms, script start " + m.script.toFixed(1) + " ms, DOMContentLoaded " + n.domContentLoadedEventEnd.toFixed(1) +
			" ms, stream open " + (m.open || 0).toFixed(1) + " ms, first view drawn " + m.view.toFixed(1) + " ms";
	})()`)
	t.Logf("page load from the lab: first view drawn %v ms after navigation start (5 loads); last load: %s", loads, nav)

	// What the open page costs the servers: statements per second each
	// server answered (its Questions counter) with the page closed, then
	// open and streaming. The watch's own probes are the same in both.
	b.do(chromedp.Navigate("about:blank"))
	closed := questionsRate(t, c, 3*time.Second)
	b.do(chromedp.Navigate(base + "/"))
	b.waitJS(10*time.Second, "first view", `window.mmmFirstView > 0`)
	open := questionsRate(t, c, 3*time.Second)
	t.Logf("statements/s per server, page closed: %s; page open: %s", closed, open)

	// Hosts, roles and states, in the drawing and in the table.
	for _, h := range c.Hosts {
		b.waitJS(5*time.Second, h.Name+" ONLINE in the drawing and the table",
			hostJS(h.Name, `g.getAttribute("data-state") == "ONLINE"`)+
				fmt.Sprintf(` && document.querySelector('#hosts tr[data-host=%q]').getAttribute("data-state") == "ONLINE"`, h.Name))
	}
	b.waitJS(5*time.Second, "master1 the writer with the writer VIP",
		hostJS("master1", fmt.Sprintf(`g.getAttribute("data-writer") == "true" && g.getAttribute("data-roles").indexOf("writer(%s)") >= 0`, writerVIP)))
	for _, s := range []string{"slave1", "slave2"} {
		b.waitJS(5*time.Second, s+" holds a reader VIP", hostJS(s, `g.getAttribute("data-roles").indexOf("reader(") >= 0`))
	}
	b.waitJS(5*time.Second, "replication arrows from master1 to the slaves",
		`document.querySelector('#topology g.edge[data-from="master1"][data-to="slave1"]') && document.querySelector('#topology g.edge[data-from="master1"][data-to="slave2"]') && document.querySelector('#topology g.edge[data-from="master1"][data-to="master2"]')`)
	// No banner of a lost watch, a mode or a cut-off monitor. (On a loaded
	// machine the watch may, rightly, call the writer unreachable for a
	// moment: that banner is the watch's verdict, not the page's.)
	b.waitJS(5*time.Second, "no lost/mode/network banner while all is well",
		`!document.querySelector('#banners [data-banner="lost"], #banners [data-banner="mode"], #banners [data-banner="network"]')`)

	// Click a host: its checks.
	b.do(chromedp.Click(chromedp.CSS(`#topology g.host[data-host="slave1"] rect`)))
	b.waitJS(10*time.Second, "slave1's checks", `document.querySelector('#checks tr[data-check="rep_threads"]') && document.getElementById("detail-title").textContent.indexOf("slave1") == 0`)
	b.waitJS(15*time.Second, "a few chart points", `document.querySelectorAll('#chart-latency path[data-series]').length > 0`)
	b.screenshot(filepath.Join(binDir(t), "ui-before.png"), false)

	// kill -9 of the writer's server: the page shows the new writer and the
	// failover without a reload.
	eval[bool](b, `window.mmmNoReload = true`)
	pid := serverPID(t, l, "master1")
	killedAt := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	took := b.waitJS(40*time.Second, "master2 the writer with the writer VIP",
		hostJS("master2", fmt.Sprintf(`g.getAttribute("data-writer") == "true" && g.getAttribute("data-roles").indexOf("writer(%s)") >= 0`, writerVIP)))
	t.Logf("the page showed master2 as the writer %s after the kill", took.Round(time.Millisecond))
	b.waitJS(10*time.Second, "the failover in the event timeline",
		`Array.from(document.querySelectorAll('#events li[data-kind="failover"]')).some(function(li){return li.textContent.indexOf("failover: master2 is the writer in place of master1") >= 0})`)
	// With its steps and their timings (the promotion among them).
	b.waitJS(5*time.Second, "the failover's steps with their timings",
		`Array.from(document.querySelectorAll('#events li[data-kind="failover"] details.steps li')).some(function(li){return li.textContent.indexOf("master2:set_variable:read_only") >= 0 && / ms/.test(li.textContent)})`)
	b.waitJS(10*time.Second, "master1 out of ONLINE", hostJS("master1", `g.getAttribute("data-state") != "ONLINE"`))
	if !eval[bool](b, `window.mmmNoReload === true`) {
		t.Fatal("the page reloaded to show the failover")
	}
	t.Logf("failover shown %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	// The slaves follow the new writer in the drawing.
	b.waitJS(20*time.Second, "the slaves drawn under master2",
		`document.querySelector('#topology g.edge[data-from="master2"][data-to="slave1"]') && document.querySelector('#topology g.edge[data-from="master2"][data-to="slave2"]')`)
	b.do(chromedp.Click(chromedp.CSS(`#topology g.host[data-host="master1"] rect`)))
	b.waitJS(10*time.Second, "master1's checks", `document.getElementById("detail-title").textContent.indexOf("master1") == 0 && document.querySelector('#checks td.fail')`)
	b.screenshot(filepath.Join(binDir(t), "ui-after.png"), false)
	b.screenshot(filepath.Join(binDir(t), "ui-after-full.png"), true) // the whole page: charts and timeline

	// Banners: the mode, then a lost watch.
	if err := w.SetMode(watch.ModeManual); err != nil {
		t.Fatal(err)
	}
	b.waitJS(10*time.Second, "manual-mode banner", `document.querySelector('#banners [data-banner="mode"]')`)
	if err := w.SetMode(watch.ModeActive); err != nil {
		t.Fatal(err)
	}
	b.waitJS(10*time.Second, "manual-mode banner gone", `!document.querySelector('#banners [data-banner="mode"]')`)

	cutOff.Store(true)
	b.waitJS(10*time.Second, "monitor-cut-off banner", `document.querySelector('#banners [data-banner="network"]')`)
	cutOff.Store(false)
	b.waitJS(10*time.Second, "monitor-cut-off banner gone", `!document.querySelector('#banners [data-banner="network"]')`)

	// Phone-sized viewport.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	b.waitJS(5*time.Second, "one column on a phone", `document.getElementById("hosts").getBoundingClientRect().width <= 390`)
	if over := eval[bool](b, `document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`); over {
		t.Errorf("the page scrolls sideways on a phone (%d px wide)", eval[int](b, `document.documentElement.scrollWidth`))
	}
	b.screenshot(filepath.Join(binDir(t), "ui-phone.png"), false)
	b.do(chromedp.EmulateViewport(1280, 800))

	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t0 := time.Now()
	err = srv.Shutdown(sctx)
	cancel()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("the control API did not shut down with a page open: %v", err)
	}
	t.Logf("control API shut down in %s with a page streaming", time.Since(t0).Round(time.Millisecond))
	b.waitJS(15*time.Second, "lost-watch banner", `document.querySelector('#banners [data-banner="lost"]')`)
}

// questionsRate is, per server, the statements it answered per second over
// d (Questions counts each statement a client sends, ours included: one per
// server per reading, subtracted).
func questionsRate(t *testing.T, c *topology.Cluster, d time.Duration) string {
	t.Helper()
	read := func() map[string]int64 {
		out := map[string]int64{}
		for _, h := range c.Hosts {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			db, err := conn.Open(ctx, h, conn.Timeouts{})
			if err != nil {
				cancel()
				t.Fatalf("connect %s: %v", h.Name, err)
			}
			var name string
			var n int64
			err = db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &n)
			db.Close()
			cancel()
			if err != nil {
				t.Fatalf("Questions on %s: %v", h.Name, err)
			}
			out[h.Name] = n
		}
		return out
	}
	before := read()
	time.Sleep(d)
	after := read()
	var parts []string
	for _, h := range c.Hosts {
		parts = append(parts, fmt.Sprintf("%s %.1f", h.Name, float64(after[h.Name]-before[h.Name]-1)/d.Seconds()))
	}
	return strings.Join(parts, ", ")
}
