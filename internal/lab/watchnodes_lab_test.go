package lab_test

// The lab's watch nodes: examples/lab-raft (three monitor node blocks) moved
// to its own /24, 198.18.21.0/24, beside the package's labtest lab on
// 198.18.4. mon1 is on the root namespace's x.y.z.1, mon2 and mon3 get
// namespaces of their own; a trivial command per node stands in for
// `mmm watch --node` and proves where it runs and that its pid is kept.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/schema"
)

const (
	raftExample      = "../../examples/lab-raft/mmm.hcl"
	watchNodesSubnet = "198.18.21"
)

func TestWatchNodesInNamespaces(t *testing.T) {
	l := upWatchNodesLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	want := map[string]string{ // node -> its address in the lab
		"mon1": watchNodesSubnet + ".1",
		"mon2": watchNodesSubnet + ".31",
		"mon3": watchNodesSubnet + ".32",
	}
	assertWatchNamespaces(t, l, want)
	for node, ip := range want {
		if err := ping(ip, 2*time.Second); err != nil {
			t.Errorf("watch node %s (%s) does not answer ping from the root namespace: %v", node, ip, err)
		}
	}

	pids, err := l.StartWatches(ctx, showAddrsThenSleep)
	if err != nil {
		t.Fatalf("StartWatches: %v", err)
	}
	for node, ip := range want {
		assertWatchRuns(t, l, node, pids[node])
		assertLogShows(t, l, node, ip+"/24")
	}

	// One node stopped: only it is gone, and its record with it.
	stopped := pids["mon2"]
	if err := l.StopWatch("mon2", syscall.SIGTERM, 5*time.Second); err != nil {
		t.Fatalf("StopWatch mon2: %v", err)
	}
	if l.WatchPID("mon2") != 0 || processRuns(stopped) {
		t.Errorf("mon2 (pid %d) still runs after StopWatch (WatchPID %d)", stopped, l.WatchPID("mon2"))
	}
	for _, node := range []string{"mon1", "mon3"} {
		assertWatchRuns(t, l, node, pids[node])
	}

	// A second Up keeps the watch nodes' namespaces and what runs in them.
	if _, err := l.Up(ctx); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	assertWatchRuns(t, l, "mon3", pids["mon3"])

	// Started again, alone, in its namespace.
	pid, err := l.StartWatch(ctx, "mon2", showAddrsThenSleep("mon2"))
	if err != nil {
		t.Fatalf("StartWatch mon2: %v", err)
	}
	if pid == stopped {
		t.Errorf("mon2 restarted with its old pid %d", pid)
	}
	assertWatchRuns(t, l, "mon2", pid)
	pids["mon2"] = pid

	// A watch that ends at once is an error that shows its output.
	_, err = l.StartWatch(ctx, "mon3", exec.Command("sh", "-c", "echo no-such-flag; exit 3"))
	if err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("StartWatch of a command that exits at once: err = %v, want its output in the error", err)
	}
	if l.WatchPID("mon3") != 0 {
		t.Errorf("mon3 has pid %d after a failed start", l.WatchPID("mon3"))
	}

	// Down stops the watches by their record (mon1's is in the root
	// namespace: no namespace removal reaches it) and removes the nodes'
	// namespaces and veths with the hosts'.
	if err := l.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	for node, pid := range pids {
		if processRuns(pid) {
			t.Errorf("watch node %s (pid %d) still runs after Down", node, pid)
		}
	}
	assertNothingLeft(t, l)
}

// TestWatchNodeAddressChecks: a node's listen and raft must share an IP,
// the lab's; only a node on x.y.z.1 may share it with anything.
func TestWatchNodeAddressChecks(t *testing.T) {
	for _, tc := range []struct {
		name, listen, raft, want string
	}{
		{"two IPs", "198.18.21.31:9988", "198.18.21.33:9987", `watch node "mon2": listen 198.18.21.31:9988 and raft 198.18.21.33:9987 are on different IPs`},
		{"a host's address", "198.18.21.11:9988", "198.18.21.11:9987", `address 198.18.21.11 is also the address of host "master1"`},
		{"a VIP", "198.18.21.100:9988", "198.18.21.100:9987", `is also a VIP of role "writer"`},
		{"another node's", "198.18.21.32:9986", "198.18.21.32:9985", `watch node "mon3": address 198.18.21.32 is also watch node "mon2"`},
		{"outside the lab", "198.18.22.31:9988", "198.18.22.31:9987", "is not in the lab's 198.18.21.0/24"},
		{"broadcast", "198.18.21.255:9988", "198.18.21.255:9987", "broadcast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadRaftExample(t)
			c.Monitor.Nodes[1].Listen, c.Monitor.Nodes[1].Raft = tc.listen, tc.raft
			_, err := lab.New(c, lab.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("lab.New: err = %v, want %q", err, tc.want)
			}
		})
	}
	c := loadRaftExample(t)
	c.Monitor.Nodes[2].Listen, c.Monitor.Nodes[2].Raft = watchNodesSubnet+".1:9986", watchNodesSubnet+".1:9985"
	l, err := lab.New(c, lab.Options{})
	if err != nil {
		t.Fatalf("two nodes on the root namespace's address: %v", err)
	}
	if ns := l.WatchNamespace("mon3"); ns != "" {
		t.Errorf("mon3 on x.y.z.1 runs in namespace %q, want the root namespace", ns)
	}
}

// upWatchNodesLab starts the lab of examples/lab-raft on watchNodesSubnet
// and tears it down when the test ends, also when it fails. Like
// labtest.Get, it skips without root or mariadbd, or fails with
// MMM_REQUIRE_LAB=1.
func upWatchNodesLab(t *testing.T) *lab.Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no lab")
	}
	if err := lab.Check(); err != nil {
		noLab(t, err)
	}
	l, err := lab.New(loadRaftExample(t), lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("tearing down lab %s: %v", l.ID(), err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := l.Up(ctx); err != nil {
		noLab(t, fmt.Errorf("lab up: %w", err))
	}
	return l
}

func noLab(t *testing.T, err error) {
	t.Helper()
	if os.Getenv(labtest.RequireEnv) == "1" {
		t.Fatalf("the lab did not start (%s=1): %v", labtest.RequireEnv, err)
	}
	t.Skipf("no lab: %v", err)
}

func loadRaftExample(t *testing.T) *topology.Cluster {
	t.Helper()
	loader := schema.NewLoader(schema.Options{RequireSecrets: true})
	c, diags := loader.Load(raftExample)
	if diags.HasErrors() {
		var buf bytes.Buffer
		_ = loader.WriteDiagnostics(&buf, diags)
		t.Fatalf("load %s:\n%s", raftExample, buf.String())
	}
	if err := lab.RewriteSubnet(c, watchNodesSubnet); err != nil {
		t.Fatal(err)
	}
	return c
}

// showAddrsThenSleep stands in for `mmm watch --node NODE`: it prints the
// addresses it sees (so the log says which namespace it ran in) and then
// sleeps as the same process, so its pid is the recorded one.
func showAddrsThenSleep(node string) *exec.Cmd {
	return exec.Command("sh", "-c", `echo "node $0"; ip -4 -o addr show; exec sleep 300`, node)
}

func assertWatchNamespaces(t *testing.T, l *lab.Lab, want map[string]string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	for node, ip := range want {
		ns := l.WatchNamespace(node)
		if ip == l.MonitorAddress().String() {
			if ns != "" {
				t.Errorf("%s is on the monitor address %s but has namespace %q", node, ip, ns)
			}
			continue
		}
		if want := l.ID() + "-watch-" + node; ns != want {
			t.Errorf("%s: namespace %q, want %q", node, ns, want)
			continue
		}
		if !strings.Contains(string(out), ns) {
			t.Errorf("namespace %s of %s is not in ip netns list:\n%s", ns, node, out)
		}
		addrs, err := exec.Command("ip", "-n", ns, "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
		if err != nil || !strings.Contains(string(addrs), ip+"/24") {
			t.Errorf("%s: eth0 in %s has %q (err %v), want %s/24", node, ns, addrs, err, ip)
		}
	}
}

// assertWatchRuns: pid runs, is the node's recorded watch and lives in the
// node's namespace (the root namespace for "").
func assertWatchRuns(t *testing.T, l *lab.Lab, node string, pid int) {
	t.Helper()
	if pid == 0 || !processRuns(pid) {
		t.Errorf("watch node %s: pid %d does not run", node, pid)
		return
	}
	if got := l.WatchPID(node); got != pid {
		t.Errorf("watch node %s: WatchPID = %d, want %d", node, got, pid)
	}
	nsPath := "/proc/self/ns/net"
	if ns := l.WatchNamespace(node); ns != "" {
		nsPath = filepath.Join("/run/netns", ns)
	}
	if !sameFile(nsPath, "/proc/"+strconv.Itoa(pid)+"/ns/net") {
		t.Errorf("watch node %s: pid %d is not in the network namespace %s", node, pid, nsPath)
	}
}

// assertLogShows waits for the node's log to list addr (the command prints
// before it sleeps, maybe after StartWatches returned) and checks that a
// namespaced node sees nothing of the root namespace's bridge address.
func assertLogShows(t *testing.T, l *lab.Lab, node, addr string) {
	t.Helper()
	var log []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		log, _ = os.ReadFile(l.WatchLog(node))
		if bytes.Contains(log, []byte(addr)) {
			break
		}
	}
	if !bytes.Contains(log, []byte(addr)) {
		t.Errorf("watch node %s: its log %s does not show %s:\n%s", node, l.WatchLog(node), addr, log)
	}
	if l.WatchNamespace(node) != "" && bytes.Contains(log, []byte(l.MonitorAddress().String()+"/24")) {
		t.Errorf("watch node %s sees the root namespace's %s: it does not run in its namespace:\n%s", node, l.MonitorAddress(), log)
	}
}

// assertNothingLeft checks with the system's own tools that no namespace,
// link or state of the lab is left.
func assertNothingLeft(t *testing.T, l *lab.Lab) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), l.ID()+"-") {
		t.Errorf("namespaces left after Down:\n%s", out)
	}
	out, err = exec.Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, " "+l.ID()+":") || strings.Contains(line, " "+l.ID()+"v") {
			t.Errorf("link left after Down: %s", line)
		}
	}
	if _, err := os.Stat(l.Dir()); !os.IsNotExist(err) {
		t.Errorf("state dir %s still there after Down (err=%v)", l.Dir(), err)
	}
}

// processRuns: pid exists and is no zombie.
func processRuns(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// ping sends one ICMP echo to ip from the root namespace (a raw socket: the
// lab runs as root) and waits for the reply.
func ping(ip string, timeout time.Duration) error {
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	id := os.Getpid() & 0xffff
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("mmm lab test")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	dst := &net.IPAddr{IP: net.ParseIP(ip)}
	if _, err := c.WriteTo(b, dst); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for {
		n, peer, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		reply, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || reply.Type != ipv4.ICMPTypeEchoReply || peer.String() != ip {
			continue
		}
		if echo, ok := reply.Body.(*icmp.Echo); ok && echo.ID == id {
			return nil
		}
	}
}
