package watch_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

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

// The watch tests have the lab subnet 198.18.7.0/24 to themselves. They run
// in order against one lab.
func TestMain(m *testing.M) {
	labtest.Main(m, "../../examples/lab/mmm.hcl", labtest.Subnet("198.18.7"))
}

type cluster struct {
	bin, cfg string         // the mmm binary and the lab file rewritten to this /24
	pids     map[string]int // servers restarted by the test: pid by host
	t        testing.TB
	l        *lab.Lab
	c        *topology.Cluster
	agents   *agent.Client
	w        *watch.Watch
	cancel   context.CancelFunc
	done     chan struct{}
	// statusOf, when set, answers in place of w (several watch nodes: the
	// one that acts at the moment).
	statusOf func() watch.Report
}

// report is the status of the watch that acts.
func (k *cluster) report() watch.Report {
	if k.statusOf != nil {
		return k.statusOf()
	}
	return k.w.Status()
}

func (k *cluster) inspect(ctx context.Context) *topology.Live {
	live := inspect.Inspect(ctx, k.c, inspect.Options{Timeouts: conn.Timeouts{Connect: 500 * time.Millisecond, Query: 2 * time.Second}})
	inspect.Agents(ctx, k.c, k.agents, live, time.Second)
	return live
}

// setUp converges the lab with mmm apply (agents in every namespace place the
// VIPs), creates the test table and starts a watch.
func setUp(t testing.TB) *cluster {
	l := labtest.Get(t)
	// An earlier test of the package may have left a server stopped (the
	// ones TestWatchLab restarts by hand end with it): start what is down.
	upCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := l.Up(upCtx); err != nil {
		t.Fatalf("lab up: %v", err)
	}
	k := &cluster{t: t, l: l, c: l.Cluster(), pids: map[string]int{}}
	k.c.Monitor.StateFile = filepath.Join(t.TempDir(), "watch.state")
	// The watch (not the agents) reads these: a rejoin in seconds, not 30.
	k.c.Monitor.AutoSetOnline = 3 * time.Second
	k.bin, k.cfg = labtest.StartAgents(t)
	// As `mmm watch` makes it: a request that gets no direct answer is
	// relayed through another host's agent.
	k.agents = &agent.Client{Cluster: k.c, Timeout: time.Second, Relay: true, HedgeAfter: watch.RelayHedge(k.c),
		OnPath: func(host, via string) {
			if w := k.w; w != nil {
				w.AgentPath(host, via)
			}
		}}

	ctx := context.Background()
	a := &apply.Applier{
		Cluster: k.c, Inspect: k.inspect,
		Diff: func(live *topology.Live) *plan.Plan { return plan.Diff(k.c, live, plan.Options{Now: time.Now()}) },
		DBs:  &apply.Pool{Cluster: k.c}, Agents: k.agents, LockWait: 5 * time.Second,
	}
	defer a.DBs.(*apply.Pool).Close()
	if _, err := a.Apply(ctx, a.Diff(a.Inspect(ctx))); err != nil {
		t.Fatalf("apply: %v", err)
	}
	db := adminDB(t, k.c, "master1")
	mustExec(t, db, "CREATE DATABASE IF NOT EXISTS shop", "CREATE TABLE IF NOT EXISTS shop.t (id INT AUTO_INCREMENT PRIMARY KEY, n INT NOT NULL UNIQUE)")
	k.startWatch()
	return k
}

func (k *cluster) startWatch() {
	t := k.t
	pool := &apply.Pool{Cluster: k.c, Timeouts: conn.Timeouts{Connect: 500 * time.Millisecond, Query: 2 * time.Second}}
	k.w = watch.New(watch.Config{Cluster: k.c, Inspect: k.inspect, DBs: pool, Agents: k.agents, Holder: "watch@test",
		NewReader: func(host string) watch.HostReader {
			return inspect.NewReader(k.c, k.c.Host(host), inspect.Options{Timeouts: conn.Timeouts{Connect: 500 * time.Millisecond, Query: 2 * time.Second}, SkipAccounts: true})
		},
		FailoverDBs: func() apply.Databases {
			return &apply.Pool{Cluster: k.c, Timeouts: conn.Timeouts{Connect: 500 * time.Millisecond, Query: 10 * time.Second}}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel, k.done = cancel, make(chan struct{})
	k.w.Start(ctx)
	go func() {
		defer close(k.done)
		_ = k.w.Run(ctx)
		pool.Close()
	}()
	t.Cleanup(k.stopWatch)
}

func (k *cluster) stopWatch() {
	if k.cancel != nil {
		k.cancel()
		<-k.done
		k.cancel = nil
	}
}

// waitFor polls cond until it holds or timeout passes; it returns the last
// status for the failure message.
func (k *cluster) waitFor(timeout time.Duration, what string, cond func(r watch.Report) bool) watch.Report {
	k.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := k.report()
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("%s: not within %s; status:\n%s", what, timeout, render(r))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func render(r watch.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode %s writer %s verdict %s (%s) last_failure %q\n", r.Mode, r.Writer, r.WriterVerdict, r.VerdictWhy, r.LastFailure)
	for _, h := range r.Hosts {
		fmt.Fprintf(&b, "  %s %s %v problem=%q reason=%q\n", h.Name, h.State, h.Roles, h.Problem, h.Reason)
	}
	for _, e := range r.Events {
		fmt.Fprintf(&b, "  event %s %s\n", e.At.Format("15:04:05.000"), e.Message)
	}
	return b.String()
}

func hostReport(r watch.Report, host string) *watch.HostReport {
	for i := range r.Hosts {
		if r.Hosts[i].Name == host {
			return &r.Hosts[i]
		}
	}
	return nil
}

func state(r watch.Report, host string) watch.State {
	for _, h := range r.Hosts {
		if h.Name == host {
			return h.State
		}
	}
	return ""
}

func problem(r watch.Report, host string) string {
	for _, h := range r.Hosts {
		if h.Name == host {
			return h.Problem
		}
	}
	return ""
}

func roles(r watch.Report, host string) []watch.RoleIP {
	for _, h := range r.Hosts {
		if h.Name == host {
			return h.Roles
		}
	}
	return nil
}

func allOnline(r watch.Report) bool {
	for _, h := range r.Hosts {
		if h.State != watch.Online {
			return false
		}
	}
	return true
}

func TestWatchLab(t *testing.T) {
	k := setUp(t)
	c := k.c
	whole := t // servers restarted by a subtest live until the whole test ends
	writerVIP := c.WriterRole().IPs[0]
	k.waitFor(20*time.Second, "every host ONLINE with its roles", func(r watch.Report) bool {
		return allOnline(r) && r.Writer == "master1" && len(roles(r, "master1")) == 1 && len(roles(r, "slave1")) == 1 && len(roles(r, "slave2")) == 1
	})
	// Steady state: the greeting probe rests while the kept connection
	// answers, and the writer stays judged alive all along.
	for range 20 {
		if r := k.w.Status(); r.WriterVerdict != watch.WriterAlive {
			t.Fatalf("healthy writer judged %s in steady state:\n%s", r.WriterVerdict, render(r))
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Run("monitor cut off from the writer alone: no failover, the lease goes through a relay, writes go on", func(t *testing.T) {
		m1 := c.Host("master1").Address
		ld := startLoad(t, c, writerVIP)
		ld.waitAfter(t, time.Now(), 10*time.Second)
		cut := time.Now()
		if out, err := exec.Command("ip", "route", "add", "blackhole", m1+"/32").CombinedOutput(); err != nil {
			t.Fatalf("blackhole route: %v: %s", err, out)
		}
		restored := false
		restore := func() {
			if !restored {
				restored = true
				_ = exec.Command("ip", "route", "del", "blackhole", m1+"/32").Run()
			}
		}
		defer restore()
		k.waitFor(10*time.Second, "writer judged unreachable", func(r watch.Report) bool {
			return r.WriterVerdict == watch.WriterUnreachable
		})
		// Several leases and trap periods: without the relay the writer's
		// agent fences it one lease after the cut.
		time.Sleep(max(3*c.Monitor.TrapPeriod, 4*c.Monitor.Lease))
		r := k.w.Status()
		if r.Writer != "master1" || r.WriterVerdict == watch.WriterDead {
			t.Fatalf("failover on a monitor-only cut:\n%s", render(r))
		}
		if ro := readOnly(t, c, "master2"); !ro {
			t.Fatal("master2 became writable on a monitor-only cut")
		}
		ld.mu.Lock()
		failed, lastAck := ld.errsAfter(cut), ld.ackAt[len(ld.ackAt)-1]
		ld.mu.Unlock()
		if failed > 0 || time.Since(lastAck) > 2*c.Monitor.Lease {
			t.Fatalf("writes through the writer VIP stopped during a monitor-only cut: %d failed since the cut, last acknowledged %s ago (%v)",
				failed, time.Since(lastAck).Round(time.Millisecond), ld.lastErr())
		}
		relayed := false
		for _, h := range []string{"master2", "slave1", "slave2"} {
			if b, err := os.ReadFile(k.l.AgentLog(h)); err == nil && strings.Contains(string(b), "relay opened") {
				relayed = true
			}
		}
		if !relayed {
			t.Error("no agent logged a relay to master1")
		}
		if hr := hostReport(r, "master1"); hr == nil || !strings.Contains(hr.Agent, "only through") {
			t.Errorf("mmm show does not say master1's agent is reached through a relay:\n%s", render(r))
		}
		restore()
		k.waitFor(20*time.Second, "writer master1 seen directly again", func(r watch.Report) bool {
			return r.Writer == "master1" && len(roles(r, "master1")) == 1 && r.WriterVerdict == watch.WriterAlive
		})
		acked := ld.stop()
		checkRows(t, c, "master1", acked)
	})

	t.Run("slave SQL thread stopped: REPLICATION_FAIL, its reader VIP moves, and back", func(t *testing.T) {
		mustExec(t, adminDB(t, c, "slave1"), "STOP SLAVE SQL_THREAD")
		r := k.waitFor(20*time.Second, "slave1 REPLICATION_FAIL and slave2 holding both reader VIPs", func(r watch.Report) bool {
			return state(r, "slave1") == watch.ReplicationFail && len(roles(r, "slave1")) == 0 && len(roles(r, "slave2")) == 2
		})
		t.Logf("slave1: %s", render(r))
		mustExec(t, adminDB(t, c, "slave1"), "START SLAVE SQL_THREAD")
		k.waitFor(20*time.Second, "slave1 ONLINE with a reader VIP again", func(r watch.Report) bool {
			return state(r, "slave1") == watch.Online && len(roles(r, "slave1")) == 1 && len(roles(r, "slave2")) == 1
		})
	})

	t.Run("move-role writer master2 and back under write load: no write lost", func(t *testing.T) {
		load := startLoad(t, c, writerVIP)
		two := startTwoWritersProbe(t, c)
		time.Sleep(500 * time.Millisecond)
		for _, to := range []string{"master2", "master1"} {
			t0 := time.Now()
			if err := k.w.MoveRole(context.Background(), "writer", to, false); err != nil {
				t.Fatalf("move-role writer %s: %v\n%s", to, err, render(k.w.Status()))
			}
			t.Logf("move-role writer %s took %s", to, time.Since(t0).Round(time.Millisecond))
			if id := serverIDVia(c, writerVIP); id != c.ServerIDFor(c.Host(to)) {
				t.Fatalf("after move-role the writer VIP reaches server_id %d, want %s's", id, to)
			}
			load.waitAfter(t, time.Now(), 10*time.Second)
			// Linux ignores a gratuitous ARP within a second (locktime) of
			// the last update of the entry: two moves of one VIP in less
			// than that leave clients with the first holder's MAC until the
			// entry goes stale. Real moves are not that close.
			time.Sleep(1100 * time.Millisecond)
		}
		acked := load.stop()
		if n := two.stop(); n > 0 {
			t.Errorf("%d samples saw two writable masters", n)
		}
		checkRows(t, c, "master1", acked)
		if err := k.w.MoveRole(context.Background(), "reader", "slave1", false); err == nil {
			t.Error("move-role of a balanced role was accepted")
		}
		k.waitFor(20*time.Second, "every host ONLINE after the switchovers", allOnline)
	})

	t.Run("control API and CLI verbs", func(t *testing.T) {
		ln, err := net.Listen("tcp", c.Monitor.Listen)
		if err != nil {
			t.Fatalf("listen %s: %v", c.Monitor.Listen, err)
		}
		srv := &http.Server{Handler: k.w.Handler()}
		go srv.Serve(ln)
		defer srv.Close()
		mmm := func(args ...string) (string, error) {
			cmd := exec.Command(k.bin, append([]string{"--config", k.cfg}, args...)...)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		out, err := mmm("show")
		if err != nil || !strings.Contains(out, "# Mode: active, writer: master1") ||
			!strings.Contains(out, "master1("+c.Host("master1").Address+") master/ONLINE. Roles: writer("+writerVIP+")") {
			t.Fatalf("mmm show: %v\n%s", err, out)
		}
		if out, err := mmm("checks", "slave1", "--json"); err != nil || !strings.Contains(out, `"check": "rep_threads"`) {
			t.Fatalf("mmm checks slave1 --json: %v\n%s", err, out)
		}
		if out, err := mmm("set-offline", "slave2"); err != nil || !strings.Contains(out, "ADMIN_OFFLINE") {
			t.Fatalf("mmm set-offline slave2: %v\n%s", err, out)
		}
		k.waitFor(10*time.Second, "slave1 holds both reader VIPs", func(r watch.Report) bool {
			return state(r, "slave2") == watch.AdminOffline && len(roles(r, "slave1")) == 2 && len(roles(r, "slave2")) == 0
		})
		if out, err := mmm("set-online", "slave2"); err != nil || !strings.Contains(out, "ONLINE") {
			t.Fatalf("mmm set-online slave2: %v\n%s", err, out)
		}
		k.waitFor(10*time.Second, "readers balanced again", func(r watch.Report) bool {
			return state(r, "slave2") == watch.Online && len(roles(r, "slave1")) == 1 && len(roles(r, "slave2")) == 1
		})
		// The writer set offline hands its role to the other master first
		// (MMM's set_offline); back online it stays a standby (no fail_back).
		time.Sleep(1100 * time.Millisecond) // the writer VIP's last move is past the neighbours' ARP lock time
		if out, err := mmm("set-offline", "master1"); err != nil || !strings.Contains(out, "ADMIN_OFFLINE") {
			t.Fatalf("mmm set-offline master1 (the writer): %v\n%s", err, out)
		}
		k.waitFor(10*time.Second, "master2 writes, master1 ADMIN_OFFLINE without roles", func(r watch.Report) bool {
			return r.Writer == "master2" && state(r, "master1") == watch.AdminOffline && len(roles(r, "master1")) == 0 && len(roles(r, "master2")) == 1
		})
		if id := serverIDVia(c, writerVIP); id != c.ServerIDFor(c.Host("master2")) {
			t.Fatalf("after set-offline of the writer the writer VIP reaches server_id %d, want master2's", id)
		}
		if out, err := mmm("set-online", "master1"); err != nil || !strings.Contains(out, "ONLINE") {
			t.Fatalf("mmm set-online master1: %v\n%s", err, out)
		}
		k.waitFor(10*time.Second, "master1 ONLINE as the standby", func(r watch.Report) bool {
			return state(r, "master1") == watch.Online && r.Writer == "master2"
		})
		time.Sleep(1100 * time.Millisecond)
		if out, err := mmm("move-role", "writer", "master1"); err != nil {
			t.Fatalf("mmm move-role writer master1: %v\n%s", err, out)
		}
		k.waitFor(10*time.Second, "master1 writes again", func(r watch.Report) bool {
			return r.Writer == "master1" && len(roles(r, "master1")) == 1
		})
		if out, err := mmm("move-role", "writer", "nosuchhost"); err == nil || !strings.Contains(out, "not a host of role") {
			t.Fatalf("mmm move-role to an unknown host: %v\n%s", err, out)
		}
		if out, err := mmm("mode", "manual", "--json"); err != nil || !strings.Contains(out, `"mode": "manual"`) {
			t.Fatalf("mmm mode manual: %v\n%s", err, out)
		}
		if out, err := mmm("mode", "active"); err != nil {
			t.Fatalf("mmm mode active: %v\n%s", err, out)
		}
		// The gauges follow the checks: give them a few periods after the moves.
		var missing []string
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			resp, err := http.Get("http://" + c.Monitor.Listen + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			missing = nil
			for _, want := range []string{`mmm_host_state{host="master1",state="ONLINE"} 1`, "mmm_check_latency_seconds_bucket", `mmm_writer{host="master1"} 1`, "mmm_replication_lag_seconds"} {
				if !strings.Contains(string(body), want) {
					missing = append(missing, want)
				}
			}
			if len(missing) == 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, want := range missing {
			t.Errorf("/metrics lacks %s", want)
		}
	})

	t.Run("writer host cut off from everyone: failover once its lease ran out, its agent fenced it", func(t *testing.T) {
		// Replicas notice a silent source after slave_net_timeout (60s by
		// default); the lab's replicas get 3s (heartbeat 1s).
		for _, h := range []string{"master1", "master2", "slave1", "slave2"} {
			mustExec(t, adminDB(t, c, h), "SET GLOBAL slave_net_timeout = 3", "STOP SLAVE IO_THREAD", "START SLAVE IO_THREAD")
		}
		// A grant "in flight" at the cut: the watch's next lease for
		// master1, with a nonce master1's agent issued now, that TCP would
		// deliver once the link is back. It is sent after the heal below.
		pre, err := k.agents.Status(context.Background(), "master1")
		if err != nil || pre.Nonce == "" {
			t.Fatalf("status of master1's agent before the cut: %v", err)
		}
		veth := fmt.Sprintf("%sv%d", k.l.ID(), netip.MustParseAddr(c.Host("master1").Address).As4()[3])
		if out, err := exec.Command("ip", "link", "set", veth, "down").CombinedOutput(); err != nil {
			t.Fatalf("cut master1 (%s down): %v %s", veth, err, out)
		}
		up := func() { _ = exec.Command("ip", "link", "set", veth, "up").Run() }
		defer up()
		cutAt := time.Now()
		k.waitFor(30*time.Second, "master2 becomes the writer", func(r watch.Report) bool { return r.Writer == "master2" })
		t.Logf("failover %s after the cut", time.Since(cutAt).Round(time.Millisecond))
		waitWritableVia(t, c, writerVIP, 10*time.Second)
		// Seen from inside its namespace, the isolated master1 fenced itself.
		ns := k.l.Namespace("master1")
		out, err := inNamespace(ns, c, "master1", "SELECT @@global.read_only")
		if err != nil || strings.TrimSpace(out) != "1" {
			t.Errorf("isolated master1 read_only = %q (%v), want 1: its agent must fence it when the lease runs out", out, err)
		}
		addrs, _ := exec.Command("ip", "netns", "exec", ns, "ip", "-4", "-o", "addr", "show").Output()
		if strings.Contains(string(addrs), " "+writerVIP+"/") {
			t.Errorf("isolated master1 still holds the writer VIP")
		}
		up()
		// The delayed grant arrives: refused, and the writer VIP stays on
		// master2 alone.
		var stale error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			_, stale = k.agents.SetRoles(context.Background(), "master1", []agent.RoleIP{{Role: "writer", IP: writerVIP}},
				&agent.Lease{TTL: agent.Duration(c.Monitor.Lease), Holder: "watch@test", Epoch: pre.Epoch, Nonce: pre.Nonce})
			var apiErr *agent.APIError
			if stale == nil || errors.As(stale, &apiErr) {
				break // answered (network errors: the link is still coming up)
			}
		}
		var apiErr *agent.APIError
		if !errors.As(stale, &apiErr) || apiErr.StatusCode != http.StatusConflict {
			t.Errorf("the delayed grant to master1 was not refused as stale: %v", stale)
		} else {
			t.Logf("delayed grant refused: %s", apiErr.Message)
		}
		logText, _ := os.ReadFile(k.l.AgentLog("master1"))
		if !strings.Contains(string(logText), "stale grant refused") {
			t.Errorf("master1's agent log does not say it refused a stale grant")
		}
		for i := 0; i < 10; i++ {
			var holders []string
			for _, h := range []string{"master1", "master2"} {
				addrs, _ := exec.Command("ip", "netns", "exec", k.l.Namespace(h), "ip", "-4", "-o", "addr", "show").Output()
				if strings.Contains(string(addrs), " "+writerVIP+"/") {
					holders = append(holders, h)
				}
			}
			if len(holders) != 1 || holders[0] != "master2" {
				t.Fatalf("after the heal the writer VIP is on %v, want master2 alone", holders)
			}
			time.Sleep(100 * time.Millisecond)
		}
		k.waitFor(30*time.Second, "master1 back ONLINE as a replica", func(r watch.Report) bool {
			return state(r, "master1") == watch.Online && r.Writer == "master2"
		})
		waitReplicates(t, k, "master1", "master2", 15*time.Second)
	})

	t.Run("kill -9 of the idle writer, then it rejoins as a read-only replica and comes ONLINE", func(t *testing.T) {
		killWriter(t, k, "master2", "master1", false)
		k.pids["master2"] = restartServer(t, whole, k.l, "master2")
		r := k.waitFor(30*time.Second, "master2 ONLINE again (auto_set_online)", func(r watch.Report) bool {
			return state(r, "master2") == watch.Online
		})
		if r.Writer != "master1" || len(roles(r, "master2")) != 0 {
			t.Fatalf("the writer moved back on rejoin:\n%s", render(r))
		}
		if !readOnly(t, c, "master2") {
			t.Error("master2 rejoined writable")
		}
		waitReplicates(t, k, "master2", "master1", 15*time.Second)
		waitReplicates(t, k, "master1", "master2", 15*time.Second) // master-master again
		var semi int
		if err := adminDB(t, c, "master1").QueryRow("SELECT @@global.rpl_semi_sync_master_enabled").Scan(&semi); err != nil || semi != 1 {
			t.Errorf("semi-sync on the writer after the rejoin: %d %v", semi, err)
		}
	})

	t.Run("kill -9 of the writer's server under write load", func(t *testing.T) {
		killWriter(t, k, "master1", "master2", true)
	})

	t.Run("old master back with an errant transaction: fenced, reported by GTID, kept out of ONLINE", func(t *testing.T) {
		k.pids["master1"] = restartServer(t, whole, k.l, "master1")
		// Written while isolated (no replication started), as root, which
		// read_only does not stop: a transaction master2 never gets. The
		// agent fences a restarted server by killing its client sessions,
		// which may catch this one, even while it connects: write again on a
		// new session then (a second errant row changes nothing below).
		var db *sql.DB
		deadline := time.Now().Add(10 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var err error
			if db == nil {
				db, err = conn.Open(ctx, c.Host("master1"), conn.Timeouts{})
			}
			if err == nil {
				_, err = db.ExecContext(ctx, "INSERT INTO shop.t (n) VALUES (-1000)")
			}
			cancel()
			if err == nil {
				break
			}
			// The kill may land after the commit but before the answer:
			// the row is there then, and the retry says so.
			var me *mysql.MySQLError
			if errors.As(err, &me) && me.Number == 1062 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("write the errant row on master1: %v", err)
			}
			t.Logf("write the errant row on master1: %v (again)", err)
			time.Sleep(200 * time.Millisecond)
		}
		t.Cleanup(func() { db.Close() })
		var errant string
		for try := 1; ; try++ {
			err := db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&errant)
			if err == nil {
				break
			}
			if try == 3 {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // a session the fence killed
		}
		r := k.waitFor(20*time.Second, "master1 reported with its errant GTID", func(r watch.Report) bool {
			for _, h := range r.Hosts {
				if h.Name == "master1" && strings.Contains(h.Problem, errant) {
					return true
				}
			}
			return false
		})
		t.Logf("master1: %s", render(r))
		if !readOnly(t, c, "master1") {
			t.Error("master1 came back writable and was not fenced")
		}
		time.Sleep(5 * time.Second) // past auto_set_online
		r = k.w.Status()
		if state(r, "master1") == watch.Online || r.Writer != "master2" {
			t.Fatalf("master1 with errant transactions went ONLINE or took the writer:\n%s", render(r))
		}
		if err := k.w.SetOnline(context.Background(), "master1"); err == nil || !strings.Contains(err.Error(), "errant") {
			t.Errorf("set-online of a host with errant transactions: %v", err)
		}
		if err := k.w.MoveRole(context.Background(), "writer", "master1", true); err == nil {
			t.Error("move-role to a host with errant transactions was accepted")
		}
		// The writer does not take the errant transaction from it.
		var n int
		if err := adminDB(t, c, "master2").QueryRow("SELECT COUNT(*) FROM shop.t WHERE n = -1000").Scan(&n); err != nil || n != 0 {
			t.Errorf("the errant row reached the writer: %d %v", n, err)
		}
	})
}

// killWriter kills old's mariadbd (kill -9, by pid) and checks the failover
// to want: the writer VIP follows, slaves repoint, never two writable
// masters, and with load every write acknowledged before or after the kill
// is on the new writer, row by row.
func killWriter(t testing.TB, k *cluster, old, want string, withLoad bool) time.Duration {
	t.Helper()
	c := k.c
	writerVIP := c.WriterRole().IPs[0]
	pid := k.pids[old]
	if pid == 0 {
		pid = serverPID(t, k.l, old)
	}
	two := startTwoWritersProbe(t, c)
	var ld *load
	before := 0
	var toWrite time.Duration
	if withLoad {
		ld = startLoad(t, c, writerVIP)
		time.Sleep(2 * time.Second) // acknowledged writes before the kill
		before = ld.count()
		t.Logf("%d writes acknowledged in the 2s before the kill (last error: %v)", before, ld.lastErr())
		if before == 0 {
			t.Fatalf("no write went through %s before the kill: %v", writerVIP, ld.lastErr())
		}
	}
	killedAt := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	r := k.waitFor(30*time.Second, want+" becomes the writer", func(r watch.Report) bool { return r.Writer == want })
	t.Logf("failover after %s", time.Since(killedAt).Round(time.Millisecond))
	if withLoad {
		firstWrite := ld.waitAfter(t, killedAt, 30*time.Second)
		toWrite = firstWrite.Sub(killedAt)
		t.Logf("first acknowledged write through the VIP %s after the kill", toWrite.Round(time.Millisecond))
		time.Sleep(time.Second)
		acked := ld.stop()
		checkRows(t, c, want, acked)
		t.Logf("%d acknowledged writes, all on %s (%d before the kill)", len(acked), want, before)
	} else {
		waitWritableVia(t, c, writerVIP, 30*time.Second)
	}
	if n := two.stop(); n > 0 {
		t.Errorf("%d samples saw two writable masters", n)
	}
	for _, s := range []string{"slave1", "slave2"} {
		// A slave may have received from the dying writer a transaction the
		// new writer never got (sent to every replica at once, acknowledged
		// by none: the client saw no commit). Then it is ahead: reported and
		// left alone, by design. Otherwise it follows the new writer.
		if p := problem(k.report(), s); strings.Contains(p, "ahead of the new writer") {
			t.Logf("%s: %s", s, p)
			continue
		}
		waitReplicates(t, k, s, want, 15*time.Second)
	}
	if id := serverIDVia(c, writerVIP); id != c.ServerIDFor(c.Host(want)) {
		t.Fatalf("the writer VIP reaches server_id %d, want %s's %d", id, want, c.ServerIDFor(c.Host(want)))
	}
	if state(r, old) == watch.Online {
		t.Errorf("%s still ONLINE after its server was killed", old)
	}
	return toWrite
}

// waitReplicates waits until host replicates from source, both threads running.
func waitReplicates(t testing.TB, k *cluster, host, source string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		lh := inspect.InspectHost(context.Background(), k.c, k.c.Host(host), inspect.Options{})
		rs := lh.Replica
		if rs != nil && rs.SourceHost == k.c.Host(source).Address && rs.Running() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not replicate from %s: %+v\n%s", host, source, rs, render(k.report()))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// inNamespace runs one query with the mariadb client inside ns against host
// (the password in the environment, not on the command line).
func inNamespace(ns string, c *topology.Cluster, host, query string) (string, error) {
	h := c.Host(host)
	cmd := exec.Command("ip", "netns", "exec", ns, "mariadb", "--protocol=tcp", "-h", h.Address, "-P", strconv.Itoa(h.Port),
		"-u", h.Admin.User, "-N", "-B", "-e", query)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+h.Admin.Password.Value())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// restartServer starts host's mariadbd again on its data directory, in its
// namespace, without starting replication (a master back from a crash,
// still isolated). It is stopped when whole ends (nil: never; the lab's
// teardown stops it with the namespace).
func restartServer(t, whole testing.TB, l *lab.Lab, host string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Dir(), "lab.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st lab.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	var hs *lab.HostState
	for _, h := range st.Hosts {
		if h.Name == host {
			hs = h
		}
	}
	if hs == nil {
		t.Fatalf("no %s in the lab state", host)
	}
	bin, err := exec.LookPath("mariadbd")
	if err != nil {
		bin = "/usr/sbin/mariadbd"
	}
	cmd := exec.Command("ip", "netns", "exec", hs.Namespace, bin, "--defaults-file="+hs.DefaultsFile, "--skip-slave-start")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("restart %s: %v", host, err)
	}
	go func() { _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	if whole != nil {
		whole.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGTERM) })
	} // else it stays: the lab knows it by its pid file (lab.Up keeps it)
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := conn.Open(context.Background(), l.Cluster().Host(host), conn.Timeouts{Connect: 500 * time.Millisecond})
		if err == nil {
			db.Close()
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come back: %v", host, err)
			return 0
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// --- helpers ------------------------------------------------------------

// checkRows fails unless every acknowledged n is a row on host.
func checkRows(t testing.TB, c *topology.Cluster, host string, acked []int) {
	t.Helper()
	db := adminDB(t, c, host)
	have := map[int]bool{}
	rows, err := db.Query("SELECT n FROM shop.t")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		have[n] = true
	}
	rows.Close()
	var missing []int
	for _, n := range acked {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged writes missing on %s: %v", len(missing), len(acked), host, missing)
	}
}

func adminDB(t testing.TB, c *topology.Cluster, host string) *sql.DB {
	t.Helper()
	db, err := conn.Open(context.Background(), c.Host(host), conn.Timeouts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func readOnly(t testing.TB, c *topology.Cluster, host string) bool {
	t.Helper()
	var ro int
	if err := adminDB(t, c, host).QueryRow("SELECT @@global.read_only").Scan(&ro); err != nil {
		t.Fatal(err)
	}
	return ro == 1
}

// appDB connects as the application account through addr (a VIP).
func appDB(c *topology.Cluster, addr string) (*sql.DB, error) {
	h := *c.Host("master1")
	h.Address = addr
	u := c.User("app", "%")
	h.Admin = topology.Account{User: u.Name, Password: u.Password}
	return conn.Open(context.Background(), &h, conn.Timeouts{Connect: 500 * time.Millisecond, Query: 2 * time.Second})
}

func serverIDVia(c *topology.Cluster, ip string) uint32 {
	h := *c.Host("master1")
	h.Address = ip
	db, err := conn.Open(context.Background(), &h, conn.Timeouts{Connect: time.Second})
	if err != nil {
		return 0
	}
	defer db.Close()
	var id uint32
	if err := db.QueryRow("SELECT @@server_id").Scan(&id); err != nil {
		return 0
	}
	return id
}

func waitWritableVia(t testing.TB, c *topology.Cluster, ip string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		db, err := appDB(c, ip)
		if err == nil {
			_, err = db.Exec("INSERT INTO shop.t (n) VALUES (-1) ON DUPLICATE KEY UPDATE n = n")
			db.Close()
			if err == nil {
				return
			}
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no write through %s within %s: %v", ip, timeout, last)
}

func serverPID(t testing.TB, l *lab.Lab, host string) int {
	t.Helper()
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

// load inserts n = 1, 2, 3 … through the writer VIP, one row per
// transaction, and records every n the server acknowledged.
type load struct {
	mu    sync.Mutex
	acked []int
	ackAt []time.Time
	// startAt: when each acknowledged write was sent.
	startAt []time.Time
	err     error
	errAt   []time.Time
	stopCh  chan struct{}
	done    chan struct{}
}

// loadRuns numbers the loads so that each writes its own n values.
var loadRuns int

func startLoad(t testing.TB, c *topology.Cluster, vip string) *load {
	loadRuns++
	base := loadRuns * 1_000_000
	ld := &load{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ld.done)
		var db *sql.DB
		defer func() {
			if db != nil {
				db.Close()
			}
		}()
		for n := base + 1; ; n++ {
			select {
			case <-ld.stopCh:
				return
			default:
			}
			if db == nil {
				var err error
				if db, err = appDB(c, vip); err != nil {
					ld.setErr(err)
					time.Sleep(20 * time.Millisecond)
					continue
				}
			}
			started := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := db.ExecContext(ctx, "INSERT INTO shop.t (n) VALUES (?)", n)
			cancel()
			if err != nil {
				ld.setErr(err)
				db.Close()
				db = nil
				time.Sleep(20 * time.Millisecond)
				continue
			}
			ld.mu.Lock()
			ld.acked = append(ld.acked, n)
			ld.ackAt = append(ld.ackAt, time.Now())
			ld.startAt = append(ld.startAt, started)
			ld.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { ld.stop() })
	return ld
}

func (ld *load) setErr(err error) {
	ld.mu.Lock()
	ld.err = err
	ld.errAt = append(ld.errAt, time.Now())
	ld.mu.Unlock()
}

// errsAfter counts the failed writes after from (called with mu held).
func (ld *load) errsAfter(from time.Time) int {
	k := 0
	for _, at := range ld.errAt {
		if at.After(from) {
			k++
		}
	}
	return k
}

func (ld *load) lastErr() error { ld.mu.Lock(); defer ld.mu.Unlock(); return ld.err }
func (ld *load) count() int     { ld.mu.Lock(); defer ld.mu.Unlock(); return len(ld.acked) }

func (ld *load) waitAfter(t testing.TB, after time.Time, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ld.mu.Lock()
		for i, at := range ld.ackAt {
			// A write sent after the moment: one in flight may have been
			// committed before it.
			if ld.startAt[i].After(after) {
				ld.mu.Unlock()
				return at
			}
		}
		ld.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no write through the writer VIP acknowledged within %s of the kill: %v", timeout, ld.lastErr())
	return time.Time{}
}

func (ld *load) stop() []int {
	select {
	case <-ld.stopCh:
	default:
		close(ld.stopCh)
	}
	<-ld.done
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return append([]int{}, ld.acked...)
}

// twoWriters samples read_only on both masters and counts the samples in
// which both were writable.
type twoWriters struct {
	stopCh chan struct{}
	done   chan struct{}
	both   int
}

func startTwoWritersProbe(t testing.TB, c *topology.Cluster) *twoWriters {
	p := &twoWriters{stopCh: make(chan struct{}), done: make(chan struct{})}
	dbs := map[string]*sql.DB{}
	for _, m := range []string{"master1", "master2"} {
		db, err := conn.Open(context.Background(), c.Host(m), conn.Timeouts{Connect: 300 * time.Millisecond, Query: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		dbs[m] = db
	}
	go func() {
		defer close(p.done)
		defer func() {
			for _, db := range dbs {
				db.Close()
			}
		}()
		for {
			select {
			case <-p.stopCh:
				return
			default:
			}
			writable := 0
			for _, db := range dbs {
				var ro int
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				if err := db.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&ro); err == nil && ro == 0 {
					writable++
				}
				cancel()
			}
			if writable > 1 {
				p.both++
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *twoWriters) stop() int {
	select {
	case <-p.stopCh:
	default:
		close(p.stopCh)
	}
	<-p.done
	return p.both
}
