//go:build linux

package agent

// Integration tests against the lab (198.18.3.0/24): real agents in the
// hosts' namespaces, real VIPs, a client in the root namespace.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/vip"
	"github.com/mysql-mmm/mmm/schema"
)

const (
	labConfig = "../../examples/lab/mmm.hcl"
	labSubnet = "198.18.3"
	// serveEnv makes the test binary run an agent for the named host (started
	// by startAgent inside that host's namespace) instead of the tests.
	serveEnv = "MMM_AGENT_TEST_SERVE"
)

func TestMain(m *testing.M) {
	if host := os.Getenv(serveEnv); host != "" {
		os.Exit(serveForTest(host))
	}
	labtest.Main(m, labConfig, labtest.Subnet(labSubnet))
}

// serveForTest runs what `mmm agent --host NAME` runs, on the lab's cluster.
func serveForTest(host string) int {
	loader := schema.NewLoader(schema.Options{RequireSecrets: true})
	c, diags := loader.Load(labConfig)
	if diags.HasErrors() {
		_ = loader.WriteDiagnostics(os.Stderr, diags)
		return 1
	}
	if err := lab.RewriteSubnet(c, labSubnet); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := slogDebug(os.Stderr)
	cfg := Config{Cluster: c, Host: host, Logger: logger,
		StateDir:           os.Getenv("MMM_AGENT_STATE_DIR"),
		ServerDefaultsFile: os.Getenv("MMM_AGENT_SERVER_DEFAULTS_FILE")}
	if err := Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startAgent runs an agent for host inside its namespace and waits until it
// answers. It is stopped (SIGTERM, by pid) when the test ends, and its log
// must not contain the token.
func startAgent(t *testing.T, l *lab.Lab, host string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), host+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := l.ServerControl(host)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	// A fresh state directory: the agent starts as on a first start.
	cmd.Env = append(os.Environ(), serveEnv+"="+host,
		"MMM_AGENT_STATE_DIR="+t.TempDir(), "MMM_AGENT_SERVER_DEFAULTS_FILE="+sc.DefaultsFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	inNamespace(t, l.Namespace(host), func() error { return cmd.Start() })
	logFile.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		b, _ := os.ReadFile(logPath)
		if bytes.Contains(b, []byte(l.Cluster().Agent.Token.Value())) {
			t.Errorf("agent %s logged its token:\n%s", host, b)
		}
		if t.Failed() {
			t.Logf("agent %s log:\n%s", host, b)
		}
	})
	c := &Client{Cluster: l.Cluster(), Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.Status(context.Background(), host)
		if err == nil {
			return
		}
		select {
		case err := <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("agent %s exited: %v\n%s", host, err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s does not answer: %v", host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inNamespace runs fn on an OS thread switched into the named namespace, and
// switches the thread back afterwards. (A thread left in a lab namespace could
// be the process's main thread, whose namespace is the one /proc shows: the
// lab's teardown would then take the test process for one of its own.)
func inNamespace(t *testing.T, name string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer origin.Close()
		target, err := netns.GetFromName(name)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		fnErr := fn()
		if err := netns.Set(origin); err != nil {
			// Stay locked: the runtime ends the thread with the goroutine.
			errc <- errors.Join(fnErr, fmt.Errorf("return to the root namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in namespace %s: %v", name, err)
	}
}

func macOf(t *testing.T, l *lab.Lab, host string) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	inNamespace(t, l.Namespace(host), func() error {
		link, err := netlink.LinkByName(l.Cluster().Host(host).Interface)
		if err != nil {
			return err
		}
		mac = link.Attrs().HardwareAddr
		return nil
	})
	return mac
}

// clearVIPs removes every declared VIP from every host when the test ends, so
// tests do not see each other's addresses.
func clearVIPs(t *testing.T, l *lab.Lab) {
	t.Cleanup(func() {
		for _, h := range l.Cluster().Hosts {
			inNamespace(t, l.Namespace(h.Name), func() error {
				for _, r := range l.Cluster().Roles {
					for _, ip := range r.IPs {
						if _, err := vip.Remove(context.Background(), h.Interface, netip.MustParseAddr(ip)); err != nil {
							return err
						}
					}
				}
				return nil
			})
		}
	})
}

func serverIDVia(t *testing.T, l *lab.Lab, addr string) (uint32, error) {
	t.Helper()
	h := l.Cluster().Host("master1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return lab.QueryServerID(ctx, addr, h.Port, h.Admin)
}

func writerVIP(l *lab.Lab) string { return l.Cluster().WriterRole().IPs[0] }

func TestLabVIPReachesTheHost(t *testing.T) {
	l := labtest.Get(t)
	clearVIPs(t, l)
	startAgent(t, l, "master1")
	c := &Client{Cluster: l.Cluster()}
	ctx := context.Background()
	st, err := c.SetRoles(ctx, "master1", []RoleIP{{Role: "writer", IP: writerVIP(l)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Holds(writerVIP(l)) || st.Mode != ModeStatic {
		t.Fatalf("status after assign: %+v", st)
	}
	id, err := serverIDVia(t, l, writerVIP(l))
	if err != nil {
		t.Fatalf("connect to the writer VIP from the root namespace: %v", err)
	}
	if want := l.Cluster().ServerIDFor(l.Cluster().Host("master1")); id != want {
		t.Fatalf("the writer VIP reached server_id %d, want master1's %d", id, want)
	}
	st, err = c.Status(ctx, "master1")
	if err != nil {
		t.Fatal(err)
	}
	if st.ReadOnly == nil || st.ReadOnlyError != "" {
		t.Fatalf("status must report read_only: %+v", st)
	}
}

func TestLabVIPMoveAndProbe(t *testing.T) {
	l := labtest.Get(t)
	clearVIPs(t, l)
	startAgent(t, l, "master1")
	startAgent(t, l, "master2")
	c := &Client{Cluster: l.Cluster()}
	ctx := context.Background()
	writer := []RoleIP{{Role: "writer", IP: writerVIP(l)}}
	ip := netip.MustParseAddr(writerVIP(l))
	probe := func() ([]net.HardwareAddr, error) {
		return vip.Probe(ctx, l.Bridge(), ip, 300*time.Millisecond)
	}

	if _, err := c.SetRoles(ctx, "master1", writer, nil); err != nil {
		t.Fatal(err)
	}
	if id, err := serverIDVia(t, l, writerVIP(l)); err != nil || id != l.Cluster().ServerIDFor(l.Cluster().Host("master1")) {
		t.Fatalf("before the move: server_id %d, %v", id, err)
	}
	macs, err := probe()
	if err != nil || len(macs) != 1 || macs[0].String() != macOf(t, l, "master1").String() {
		t.Fatalf("probe before the move: %v, %v (master1 is %s)", macs, err, macOf(t, l, "master1"))
	}

	// Release on the old holder, then assign (with gratuitous ARP) on the new.
	if _, err := c.SetRoles(ctx, "master1", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetRoles(ctx, "master2", writer, nil); err != nil {
		t.Fatal(err)
	}
	// The root namespace's ARP cache still had master1's MAC for the VIP; the
	// client reaches master2 only because the announcement replaced it.
	id, err := serverIDVia(t, l, writerVIP(l))
	if want := l.Cluster().ServerIDFor(l.Cluster().Host("master2")); err != nil || id != want {
		t.Fatalf("after the move the client reached server_id %d (%v), want master2's %d", id, err, want)
	}
	macs, err = probe()
	if err != nil || len(macs) != 1 || macs[0].String() != macOf(t, l, "master2").String() {
		t.Fatalf("probe after the move: %v, %v (master2 is %s)", macs, err, macOf(t, l, "master2"))
	}

	// The same VIP put on master1 too, behind the agents' backs: two MACs.
	inNamespace(t, l.Namespace("master1"), func() error {
		_, err := vip.Ensure(ctx, "eth0", ip)
		return err
	})
	macs, err = probe()
	var conflict *vip.ConflictError
	if !errors.As(err, &conflict) || len(macs) != 2 {
		t.Fatalf("probe with the VIP on two hosts: %v, %v", macs, err)
	}
	for _, h := range []string{"master1", "master2"} {
		if !strings.Contains(err.Error(), macOf(t, l, h).String()) {
			t.Errorf("the conflict does not name %s's MAC %s: %v", h, macOf(t, l, h), err)
		}
	}
	// Nobody holds a reader VIP: no MAC, no error.
	if macs, err := vip.Probe(ctx, l.Bridge(), netip.MustParseAddr(l.Cluster().Role("reader").IPs[0]), 200*time.Millisecond); err != nil || len(macs) != 0 {
		t.Fatalf("probe of an unheld VIP: %v, %v", macs, err)
	}
}

func TestLabLeaseExpiryFences(t *testing.T) {
	l := labtest.Get(t)
	clearVIPs(t, l)
	db, err := l.DB("master1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "SET GLOBAL read_only = OFF"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.ExecContext(ctx, "SET GLOBAL read_only = OFF") })
	startAgent(t, l, "master1")
	c := &Client{Cluster: l.Cluster()}
	writer := []RoleIP{{Role: "writer", IP: writerVIP(l)}}
	st, err := c.Status(ctx, "master1")
	if err != nil {
		t.Fatal(err)
	}
	// Renewed a few times, the VIP stays; each renewal echoes the nonce of
	// the previous answer.
	for range 3 {
		st, err = c.SetRoles(ctx, "master1", writer, &Lease{TTL: Duration(time.Second), Holder: "watch@test", Nonce: st.Nonce})
		if err != nil {
			t.Fatal(err)
		}
		if !st.Holds(writerVIP(l)) || st.Mode != ModeLease || st.Lease.Expired {
			t.Fatalf("status while renewed: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Then the renewals stop.
	for deadline := time.Now().Add(15 * time.Second); ; {
		st, err = c.Status(ctx, "master1")
		if err != nil {
			t.Fatal(err)
		}
		// The VIP goes first and read_only follows: wait for the whole fence.
		if st.Lease != nil && st.Lease.Expired && st.Fence != nil && st.Fence.Complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lease did not expire and fence: %+v (fence %+v)", st, st.Fence)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Holds(writerVIP(l)) || st.ReadOnly == nil || !*st.ReadOnly {
		t.Fatalf("after expiry the VIP must be gone and read_only on: %+v (read_only %v)", st, st.ReadOnly)
	}
	var ro bool
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&ro); err != nil || !ro {
		t.Fatalf("read_only on master1 after expiry: %v, %v", ro, err)
	}
	if _, err := serverIDVia(t, l, writerVIP(l)); err == nil {
		t.Fatal("the writer VIP still answers after the lease expired")
	}
}

func TestLabRefusedRequestsChangeNothing(t *testing.T) {
	l := labtest.Get(t)
	clearVIPs(t, l)
	startAgent(t, l, "master1")
	c := &Client{Cluster: l.Cluster()}
	ctx := context.Background()
	if _, err := c.SetRoles(ctx, "master1", []RoleIP{{Role: "writer", IP: writerVIP(l)}}, nil); err != nil {
		t.Fatal(err)
	}
	base, _ := c.URL("master1")
	body := fmt.Sprintf(`{"cluster":%q,"host":"master1","roles":[]}`, l.Cluster().Name)
	other := fmt.Sprintf(`{"cluster":%q,"host":"master2","roles":[]}`, l.Cluster().Name)
	for _, tc := range []struct {
		name, token, body string
		want              int
	}{
		{"no token", "", body, 401},
		{"wrong token", "not-the-token", body, 401},
		{"another host", l.Cluster().Agent.Token.Value(), other, 403},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+"/v1/roles", strings.NewReader(tc.body))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	st, err := c.Status(ctx, "master1")
	if err != nil || !st.Holds(writerVIP(l)) {
		t.Fatalf("refused requests released the VIP: %+v, %v", st, err)
	}
}

func TestLabStartAgents(t *testing.T) {
	l := labtest.Get(t)
	clearVIPs(t, l)
	ctx := context.Background()
	pids, err := l.StartAgents(ctx, func(host string) *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), serveEnv+"="+host)
		return cmd
	})
	t.Cleanup(func() { _ = l.StopAgents() })
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{Cluster: l.Cluster()}
	for _, h := range l.Cluster().Hosts {
		st, err := c.Status(ctx, h.Name)
		if err != nil || st.Host != h.Name || pids[h.Name] == 0 {
			t.Fatalf("agent of %s (pid %d): %+v, %v", h.Name, pids[h.Name], st, err)
		}
	}
	if err := l.StopAgents(); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Client{Cluster: l.Cluster(), Timeout: time.Second}).Status(ctx, "master1"); err == nil {
		t.Fatal("an agent still answers after StopAgents")
	}
}

// TestLabFrozenServerFenced: a stopped server (SIGSTOP: the port accepts,
// nothing greets) is reported frozen by its agent at once, and a fence
// request kills it (read_only cannot be set on it); it then comes back.
// The fence stops a privileged client too: MariaDB's read_only does not
// stop an account with READ_ONLY ADMIN (the lab's admin has ALL), so the
// agent kills every client session after setting it. Seen on a real server:
// the privileged session opened before the fence is gone, and nothing it
// could still write gets in.
func TestLabFenceKillsPrivilegedSessions(t *testing.T) {
	l := labtest.Get(t)
	clearVIPs(t, l)
	db, err := l.DB("master1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	mustExec := func(conn interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}, stmts ...string) {
		t.Helper()
		for _, q := range stmts {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	mustExec(db, "SET GLOBAL read_only = OFF", "CREATE DATABASE IF NOT EXISTS fencetest",
		"CREATE TABLE IF NOT EXISTS fencetest.t (n INT PRIMARY KEY)", "DELETE FROM fencetest.t")
	t.Cleanup(func() { _, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS fencetest") })
	// The privileged client: one session kept open, writing.
	client, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	mustExec(client, "INSERT INTO fencetest.t VALUES (1)")

	startAgent(t, l, "master1")
	c := &Client{Cluster: l.Cluster(), Timeout: 5 * time.Second}
	st, err := c.Status(ctx, "master1")
	if err != nil {
		t.Fatal(err)
	}
	st, err = c.Fence(ctx, "master1", FenceRequest{Nonce: st.Nonce, Why: "privileged sessions (lab test)"})
	if err != nil {
		t.Fatal(err)
	}
	if f := st.Fence; f == nil || !f.ReadOnly || !f.Complete || f.ServerKilled || f.SessionsKilled < 1 {
		t.Fatalf("fence of a live server with a privileged client: %+v", st.Fence)
	}
	t.Logf("fence: %+v", st.Fence)
	if _, err := client.ExecContext(ctx, "INSERT INTO fencetest.t VALUES (2)"); err == nil {
		t.Fatal("the privileged session opened before the fence still writes")
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM fencetest.t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows after the fence: %d, %v (want 1)", n, err)
	}
	var ro int
	if err := db.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&ro); err != nil || ro != 1 {
		t.Fatalf("read_only after the fence: %d, %v", ro, err)
	}
}

func TestLabFrozenServerFenced(t *testing.T) {
	l := labtest.Get(t)
	clearVIPs(t, l)
	sc, err := l.ServerControl("master1")
	if err != nil {
		t.Fatal(err)
	}
	_, pidFile, err := readServerOptions(sc.DefaultsFile)
	if err != nil || pidFile == "" {
		t.Fatalf("pid file of master1: %q, %v", pidFile, err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, l, "master1")
	c := &Client{Cluster: l.Cluster(), Timeout: 5 * time.Second}
	ctx := context.Background()
	// The agent's log shows whether it used the socket; the server is ok.
	waitStatus := func(what string, within time.Duration, cond func(*Status) bool) *Status {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			st, err := c.Status(ctx, "master1")
			if err == nil && cond(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not within %s: %+v, %v", what, within, st, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitStatus("server ok", 5*time.Second, func(st *Status) bool { return st.Server != nil && st.Server.State == ProbeOK })
	if _, err := c.SetRoles(ctx, "master1", []RoleIP{{Role: "writer", IP: writerVIP(l)}}, nil); err != nil {
		t.Fatal(err)
	}

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	stopped := time.Now()
	st := waitStatus("frozen", 2*time.Second, func(st *Status) bool { return st.Server != nil && st.Server.State == ProbeFrozen })
	t.Logf("frozen reported %s after SIGSTOP", time.Since(stopped).Round(time.Millisecond))
	if d := time.Since(stopped); d > time.Second {
		t.Errorf("frozen reported after %s, want about 0.5s", d)
	}

	start := time.Now()
	st, err = c.Fence(ctx, "master1", FenceRequest{Nonce: st.Nonce, Why: "frozen (lab test)"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fence took %s: %+v", time.Since(start).Round(time.Millisecond), st.Fence)
	if f := st.Fence; f == nil || !f.ServerKilled || !f.Complete || st.Holds(writerVIP(l)) {
		t.Fatalf("fence of a frozen server: %+v (VIP held: %v)", st.Fence, st.Holds(writerVIP(l)))
	}
	if processAlive(pid) {
		t.Fatalf("pid %d still alive after the fence", pid)
	}
	// A stale fence request (its nonce died with the fence) is refused.
	_, err = c.Fence(ctx, "master1", FenceRequest{Nonce: st.Nonce + "x"})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		t.Fatalf("a fence with an unknown nonce: %v", err)
	}

	// The server comes back (as systemd would restart it); the agent sees
	// the new process and, holding no writer lease, sets it read_only.
	inNamespace(t, l.Namespace("master1"), func() error { return exec.Command("sh", "-c", sc.Start).Run() })
	st = waitStatus("restart seen", 20*time.Second, func(st *Status) bool {
		return st.Server != nil && st.Server.Restarts >= 1 && st.ReadOnly != nil && *st.ReadOnly
	})
	if st.Mode != ModeLease || st.Lease == nil || !st.Lease.Expired {
		t.Fatalf("after a fence the agent holds no valid lease: %+v", st)
	}
}
