package chaos

// The raft faults: the same lab, the same agents and the same checks, but
// three watch nodes (`mmm watch --node NAME`, raft electing the one that
// acts) instead of the single watch. The lab gives every node a namespace
// of its own on the bridge (198.18.6.31-.33), so any leader can be killed or
// cut off. The single-watch faults run first; then the suite stops the
// single watch (SIGTERM: the agents go back to static mode, nothing moves)
// and starts the three nodes, which take over (docs/watch.md, "Several
// watch nodes").

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// watchNodes are the chaos lab's watch nodes. None is on the root
// namespace's address (.1, the single watch's): each gets a namespace of its
// own, so a leader can be cut off like a host.
var watchNodes = []struct{ name, lastOctet string }{{"mon1", "31"}, {"mon2", "32"}, {"mon3", "33"}}

// Ports of the watch nodes' control API and raft transport.
const (
	nodeListenPort = "9988"
	nodeRaftPort   = "9987"
)

// nodeInterface is the interface of a watch node's namespace (the lab names
// it eth0, like a host's).
const nodeInterface = "eth0"

// addWatchNodes declares the watch nodes in the lab's cluster (labtest.Modify:
// after the subnet moved), so the lab builds their namespaces. The agents
// read their own file, without node blocks: nothing changes for them.
func addWatchNodes(c *topology.Cluster) {
	c.Monitor.Nodes = nil
	for _, n := range watchNodes {
		ip := labSubnet + "." + n.lastOctet
		c.Monitor.Nodes = append(c.Monitor.Nodes, &topology.MonitorNode{Name: n.name, Listen: ip + ":" + nodeListenPort, Raft: ip + ":" + nodeRaftPort})
	}
}

var reListenLine = regexp.MustCompile(`(?m)^[ \t]*listen[ \t]*=.*\n`)

// writeRaftConfig writes the watch nodes' file: the suite's file (the
// chaos monitor settings, the fence hook) with the node blocks instead of
// monitor.listen (validate refuses both).
func (s *suite) writeRaftConfig() {
	t := s.t
	b, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	loc := reMonitorBlock.FindStringIndex(text)
	if loc == nil {
		t.Fatalf("%s has no top-level monitor block", s.cfg)
	}
	head, body := text[:loc[1]], text[loc[1]:]
	if l := reListenLine.FindStringIndex(body); l != nil {
		body = body[:l[0]] + body[l[1]:]
	}
	var nodes strings.Builder
	nodes.WriteString("\n  # The chaos suite's watch nodes, each in a namespace of its own.\n")
	for _, n := range s.c.Monitor.Nodes {
		fmt.Fprintf(&nodes, "  node %q {\n    listen = %q\n    raft   = %q\n  }\n", n.Name, n.Listen, n.Raft)
	}
	s.raftCfg = filepath.Join(s.dir, "mmm-raft.hcl")
	if err := os.WriteFile(s.raftCfg, []byte(head+nodes.String()+body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, s.bin, "validate", "--config", s.raftCfg).CombinedOutput(); err != nil {
		t.Fatalf("mmm validate %s: %v\n%s", s.raftCfg, err, out)
	}
}

// nodeLog is where watch node node's output goes: the suite's dir. The lab
// writes it to WatchLog(node) in its own dir, which is a symbolic link to
// this file (the lab's dir goes with the lab).
func (s *suite) nodeLog(node string) string { return filepath.Join(s.dir, "watch-"+node+".log") }

func (s *suite) nodeCmd(node string) *exec.Cmd {
	raftDir := filepath.Join(s.dir, "raft")
	cmd := exec.Command(s.bin, "watch", "--config", s.raftCfg, "--node", node,
		"--data-dir", filepath.Join(raftDir, node), "--state-file", filepath.Join(raftDir, "watch.state"))
	if lvl := os.Getenv("CHAOS_WATCH_LOG_LEVEL"); lvl != "" {
		cmd.Env = append(os.Environ(), "MMM_LOG_LEVEL="+lvl)
	}
	return cmd
}

// useRaft switches the suite to the three watch nodes: the single watch
// stops cleanly (it hands the agents back: roles and read_only stay), the
// nodes start, elect a leader, and the cluster must be healthy under it.
func (s *suite) useRaft() {
	t := s.t
	if s.raft {
		return
	}
	s.writeRaftConfig()
	if s.watch != nil {
		s.stopWatch()
		s.logf("the single watch stopped (SIGTERM); starting the watch nodes %v", s.nodes)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "raft"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range s.nodes {
		// The lab's log of the node is a link to the suite's.
		link := s.l.WatchLog(n)
		_ = os.Remove(link)
		if err := os.Symlink(s.nodeLog(n), link); err != nil {
			t.Fatalf("log of watch node %s: %v", n, err)
		}
	}
	s.raft = true
	s.api = s.nodesAPI()
	t.Cleanup(s.stopNodes)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.l.StartWatches(ctx, s.nodeCmd); err != nil {
		t.Fatalf("start the watch nodes: %v", err)
	}
	for _, n := range s.nodes {
		if err := s.l.WaitWatchListening(ctx, n); err != nil {
			t.Fatalf("watch node %s: %v", n, err)
		}
	}
	leader, err := s.leader(30 * time.Second)
	if err != nil {
		t.Fatalf("the watch nodes elect no leader: %v (logs %s)", err, s.watchLogHint())
	}
	s.logf("watch nodes started; %s leads", leader)
	if _, err := s.settle(true, 3*time.Minute); err != nil {
		t.Fatalf("the cluster did not become healthy under the watch nodes: %v\nwatch logs: %s", err, s.watchLogHint())
	}
}

// nodesAPI asks every node (see apiClient.status: the leader's answer wins).
func (s *suite) nodesAPI() *apiClient {
	a := &apiClient{token: s.c.Monitor.Token.Value()}
	for _, n := range s.c.Monitor.Nodes {
		a.bases = append(a.bases, "http://"+n.Listen)
	}
	return a
}

// stopNodes stops every watch node the lab recorded (SIGTERM, SIGKILL
// after the lab's timeout), also after a failure.
func (s *suite) stopNodes() {
	if err := s.l.StopWatches(); err != nil {
		s.t.Errorf("stop the watch nodes: %v", err)
	}
}

// nodeAlive says whether watch node node runs.
func (s *suite) nodeAlive(node string) bool { return s.l.WatchPID(node) > 0 }

// killNodes sends SIGKILL to the nodes at once (by the lab's recorded pids),
// then waits until each is gone and its record dropped.
func (s *suite) killNodes(nodes ...string) error {
	for _, n := range nodes {
		if pid := s.l.WatchPID(n); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	var errs []error
	for _, n := range nodes {
		errs = append(errs, s.l.StopWatch(n, syscall.SIGKILL, 5*time.Second))
	}
	return errors.Join(errs...)
}

// startNodes starts the nodes again on their data dirs (one after the
// other: the lab waits half a second for each to stay up) and waits until
// their control API listens.
func (s *suite) startNodes(nodes ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for _, n := range nodes {
		if _, err := s.l.StartWatch(ctx, n, s.nodeCmd(n)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range nodes {
		if err := s.l.WaitWatchListening(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setNodeLink puts a watch node's namespace link down or up.
func (s *suite) setNodeLink(node string, up bool) error {
	ns := s.l.WatchNamespace(node)
	if ns == "" {
		return fmt.Errorf("watch node %s has no namespace of its own", node)
	}
	state := "down"
	if up {
		state = "up"
	}
	return s.ip("-n", ns, "link", "set", nodeInterface, state)
}

// leader asks the nodes' /v1/status until one names a leader.
func (s *suite) leader(timeout time.Duration) (string, error) {
	return s.leaderOtherThan(nil, timeout)
}

// leaderOtherThan waits until the nodes name a leader not in not.
func (s *suite) leaderOtherThan(not []string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := s.api.status(ctx)
		cancel()
		switch {
		case err != nil:
			last = err.Error()
		case st.Leader == "":
			last = "no leader known to " + st.Node
		case slices.Contains(not, st.Leader):
			last = "the leader is still " + st.Leader
		default:
			return st.Leader, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no leader within %s: %s", timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watchLogs are the logs of the watches of the current phase.
func (s *suite) watchLogs() []string {
	if !s.raft {
		return []string{s.watchLog}
	}
	var out []string
	for _, n := range s.nodes {
		out = append(out, s.nodeLog(n))
	}
	return out
}

func (s *suite) watchLogHint() string { return strings.Join(s.watchLogs(), ", ") }

// --- the watch a fault kills -----------------------------------------------

// watchTarget is one watch process a fault kills and restarts: the single
// watch, or a watch node.
type watchTarget struct {
	what  string // "mmm watch", "the leader watch node mon1"
	log   string
	kill  func() error
	start func() error
}

func (s *suite) singleWatch() watchTarget {
	return watchTarget{what: "mmm watch", log: s.watchLog,
		kill:  func() error { s.killWatch(syscall.SIGKILL, 5*time.Second); return nil },
		start: func() error { s.startWatch(); return nil }}
}

func (s *suite) nodeTarget(node, what string) watchTarget {
	return watchTarget{what: what, log: s.nodeLog(node),
		kill:  func() error { return s.killNodes(node) },
		start: func() error { return s.startNodes(node) }}
}

// --- what the node logs say ---------------------------------------------------

var (
	reActs         = regexp.MustCompile(`leading: this watch node acts`)
	reFailoverDone = regexp.MustCompile(`msg="failover done"`)
	reStepDown     = regexp.MustCompile(`no longer the leader`)
	reStaleGrant   = regexp.MustCompile(`msg="stale grant refused"`)
)

// markLeading marks, in the background, the first node of nodes that logs
// that it acts from now on (within timeout): the takeover's moment.
func (r *run) markLeading(nodes []string, timeout time.Duration) {
	s := r.s
	offsets := map[string]int64{}
	for _, n := range nodes {
		offsets[s.nodeLog(n)] = fileSize(s.nodeLog(n))
	}
	t0 := time.Now()
	go func() {
		deadline := t0.Add(timeout)
		for time.Now().Before(deadline) {
			for _, n := range nodes {
				if line, ok := findLine(s.nodeLog(n), offsets[s.nodeLog(n)], reActs); ok {
					r.mark("watch node %s acts (%.3fs after the fault): %s", n, time.Since(r.faultAt()).Seconds(), trunc(strings.TrimSpace(line), 160))
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		r.mark("harness: none of %v logged that it acts within %s", nodes, timeout)
	}()
}

// findLine is the first line of path from offset matching re.
func findLine(path string, offset int64, re *regexp.Regexp) (string, bool) {
	lines := linesFrom(path, offset, re)
	if len(lines) == 0 {
		return "", false
	}
	return lines[0], true
}

// linesFrom are the whole lines of path from offset matching re.
func linesFrom(path string, offset int64, re *regexp.Regexp) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if re.Match(sc.Bytes()) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// nodeReport says, for a raft fault, who led and who failed over during the
// run, from the nodes' logs since the run started and the watch's view: the
// result's details (result.txt) and its line carry it.
func (r *run) nodeReport(res *result) {
	s := r.s
	if !s.raft {
		return
	}
	var acts, dones, downs []string
	for _, n := range s.nodes {
		p := s.nodeLog(n)
		for _, l := range linesFrom(p, r.logOffsets[p], reActs) {
			acts = append(acts, n+": "+trunc(l, 120))
		}
		for _, l := range linesFrom(p, r.logOffsets[p], reFailoverDone) {
			dones = append(dones, n+": "+trunc(l, 160))
			res.failoverBy = append(res.failoverBy, n)
		}
		for _, l := range linesFrom(p, r.logOffsets[p], reStepDown) {
			downs = append(downs, n+": "+trunc(l, 120))
		}
	}
	// Grants the agents refused as stale (a deposed leader's, a late one).
	stale := map[string]int{}
	for _, h := range s.hosts {
		p := s.l.AgentLog(h)
		if n := len(linesFrom(p, r.logOffsets[p], reStaleGrant)); n > 0 {
			stale[h] = n
		}
	}
	// The writer's moves in the acting watch's view (the leader's own
	// answers: a follower may lag behind it for a moment).
	_, _, polls := r.obs.snapshot()
	prev := r.old
	for _, p := range polls {
		if p.Node != p.Leader {
			continue
		}
		if p.Writer != "" && p.Writer != prev {
			res.writerMoves = append(res.writerMoves, prev+" -> "+p.Writer)
			prev = p.Writer
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "watch nodes: leader at the start %s", orDash(r.leaderAtStart))
	for _, x := range acts {
		fmt.Fprintf(&b, "\n  took over: %s", x)
	}
	for _, x := range downs {
		fmt.Fprintf(&b, "\n  stepped down: %s", x)
	}
	for _, x := range dones {
		fmt.Fprintf(&b, "\n  failover done: %s", x)
	}
	fmt.Fprintf(&b, "\n  the writer's moves in the watch's view: %v", res.writerMoves)
	fmt.Fprintf(&b, "\n  stale grants refused by the agents: %v", stale)
	if len(dones) > 1 || len(res.writerMoves) > 1 {
		fmt.Fprintf(&b, "\n  MORE THAN ONE FAILOVER in this run")
	}
	for _, n := range res.failoverBy {
		if slices.Contains(r.killedLeaders, n) && r.f.name != "watchalldown-hostcut" {
			fmt.Fprintf(&b, "\n  note: %s, the leader the fault killed or cut off, logged a failover done in this run", n)
		}
	}
	res.details += b.String() + "\n"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// --- the raft faults ---------------------------------------------------------

// currentLeader is the leader at the fault, recorded for the run's report.
func (r *run) currentLeader() (string, error) {
	leader, err := r.s.leader(10 * time.Second)
	if err != nil {
		return "", err
	}
	r.killedLeaders = append(r.killedLeaders, leader)
	return leader, nil
}

func (s *suite) others(not ...string) []string {
	var out []string
	for _, n := range s.nodes {
		if !slices.Contains(not, n) {
			out = append(out, n)
		}
	}
	return out
}

func leaderkill(r *run) error {
	s := r.s
	leader, err := r.currentLeader()
	if err != nil {
		return err
	}
	r.markLeading(s.others(leader), 5*time.Second)
	r.fault("kill -9 of the leader watch node %s for 5s", leader)
	if err := s.killNodes(leader); err != nil {
		return err
	}
	r.injected()
	time.Sleep(5*time.Second - time.Since(r.tFault))
	r.heal("watch node %s restarted", leader)
	return s.startNodes(leader)
}

func leaderkillWriterkill(r *run) error {
	s := r.s
	leader, err := r.currentLeader()
	if err != nil {
		return err
	}
	r.markLeading(s.others(leader), 5*time.Second)
	r.fault("kill -9 of the leader watch node %s, then of mariadbd of the writer %s", leader, r.old)
	if pid := s.l.WatchPID(leader); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	serr := s.signalServer(r.old, syscall.SIGKILL)
	if err := errors.Join(s.killNodes(leader), serr); err != nil {
		return err
	}
	r.injected()
	time.Sleep(5*time.Second - time.Since(r.tFault))
	r.mark("watch node %s restarted", leader)
	if err := s.startNodes(leader); err != nil {
		r.addNote("restart of watch node " + leader + ": " + err.Error())
	}
	r.waitNewWriter(2*time.Second, 30*time.Second)
	r.heal("restart mariadbd of %s", r.old)
	return s.restartServer(r.old)
}

func leaderkillMidfailover(r *run) error {
	s := r.s
	leader, err := r.currentLeader()
	if err != nil {
		return err
	}
	r.markLeading(s.others(leader), 15*time.Second)
	return killMidFailover(r, s.nodeTarget(leader, "the leader watch node "+leader))
}

func leadercut(r *run) error {
	s := r.s
	leader, err := r.currentLeader()
	if err != nil {
		return err
	}
	r.markLeading(s.others(leader), 10*time.Second)
	r.fault("link of the leader watch node %s down for 10s", leader)
	if err := s.setNodeLink(leader, false); err != nil {
		return err
	}
	r.injected()
	time.Sleep(10 * time.Second)
	r.heal("link of watch node %s up", leader)
	return s.setNodeLink(leader, true)
}

func watch2down(r *run) error {
	s := r.s
	leader, err := r.currentLeader()
	if err != nil {
		return err
	}
	follower := s.others(leader)[0]
	r.fault("kill -9 of the leader watch node %s and of %s for 10s: no quorum", leader, follower)
	if err := s.killNodes(leader, follower); err != nil {
		return err
	}
	r.injected()
	time.Sleep(10 * time.Second)
	r.heal("watch nodes %s and %s restarted", leader, follower)
	r.markLeading(s.nodes, 15*time.Second)
	return s.startNodes(leader, follower)
}

func watchalldown(r *run) error {
	s := r.s
	leader, err := r.currentLeader()
	if err != nil {
		return err
	}
	r.fault("kill -9 of all watch nodes (leader %s) for 10s", leader)
	if err := s.killNodes(s.nodes...); err != nil {
		return err
	}
	r.injected()
	time.Sleep(10 * time.Second)
	r.heal("all watch nodes restarted")
	r.markLeading(s.nodes, 15*time.Second)
	return s.restartAllNodes()
}

func watchalldownHostcut(r *run) error {
	s := r.s
	leader, err := r.currentLeader()
	if err != nil {
		return err
	}
	if err := s.killNodes(s.nodes...); err != nil {
		return err
	}
	r.mark("all watch nodes killed (kill -9; leader was %s)", leader)
	time.Sleep(3 * time.Second)
	r.fault("link of %s down with no watch node running", r.old)
	if err := s.setLink(r.old, false); err != nil {
		return err
	}
	r.injected()
	time.Sleep(2 * time.Second)
	r.markLeading(s.nodes, 15*time.Second)
	if err := s.restartAllNodes(); err != nil {
		r.addNote("restart of the watch nodes: " + err.Error())
	}
	r.mark("all watch nodes restarted")
	r.waitNewWriter(2*time.Second, 12*time.Second)
	r.heal("link of %s up", r.old)
	return s.setLink(r.old, true)
}

// restartAllNodes starts every node at once (one settle period for all).
func (s *suite) restartAllNodes() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.l.StartWatches(ctx, s.nodeCmd)
	for _, n := range s.nodes {
		err = errors.Join(err, s.l.WaitWatchListening(ctx, n))
	}
	return err
}
