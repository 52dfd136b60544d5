package chaos

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"syscall"
	"time"
)

// Failover policies of the faults.
const (
	allowed    = "allowed"     // a failover may (and should) happen
	forbidden  = "forbidden"   // the writer must stay
	onlyFenced = "only-fenced" // only after the fence hook ran
)

// fault is one kind of fault: inject does it to the writer r.old, holds it,
// and heals it (marking each moment).
type fault struct {
	name     string
	what     string //lint:ignore U1000 read by people: what the fault does, in the table below
	failover string
	inject   func(r *run) error
}

var faults = []*fault{
	{"kill9", "SIGKILL of the writer's mariadbd; restarted once a new writer took writes for 2 s (30 s at most)", allowed, kill9},
	{"freeze", "SIGSTOP of the writer's mariadbd for 8 s, then SIGCONT", allowed, freeze(8 * time.Second)},
	{"freeze20", "SIGSTOP of the writer's mariadbd for 20 s, then SIGCONT", allowed, freeze(20 * time.Second)},
	{"hostcut", "the writer's link down inside its namespace for 10 s, then up", allowed, hostcut(10 * time.Second)},
	{"hostcut30", "the writer's link down inside its namespace for 30 s, then up", allowed, hostcut(30 * time.Second)},
	{"monitorcut", "a blackhole route for the writer's address in the monitor's (root) namespace for 10 s: the watch alone loses it", forbidden, monitorcut},
	{"agentkill", "SIGKILL of the writer's mmm agent; restarted after 8 s", forbidden, agentkill},
	{"agentkill-hostcut", "SIGKILL of the writer's agent, then its link down for up to 20 s: a failover only through the fence hook", onlyFenced, agentkillHostcut},
	// No promotable host is left while the standby is down. Once it is back
	// (behind: the writer acknowledged writes asynchronously meanwhile), a
	// failover to it is right only if nothing is lost: the watch lets it
	// catch up from a slave that has every write first, or refuses.
	// lost/errant/diverged say whether it did.
	{"standby-then-writer", "SIGKILL of the standby master's mariadbd, 3 s later of the writer's; both restarted 8 s later (standby first)", allowed, standbyThenWriter},
	{"watchkill", "SIGKILL of the writer's mariadbd, then of mmm watch as soon as it logs the old writer fenced; the watch restarted 1 s later", allowed, watchkill},
	// No watch at all (agent.failsafe): the writer keeps its role while every
	// other agent confirms that no watch acts; writes go on.
	{"watchdown", "SIGKILL of mmm watch for 10 s, then restarted", forbidden, watchdown},
	// No watch, then the writer cut off: alone, it confirms nothing and
	// fences itself within a lease; the restarted watch fails over.
	{"watchdown-hostcut", "SIGKILL of mmm watch; 3 s later the writer's link down for 12 s; the watch restarted 2 s into the cut", allowed, watchdownHostcut},
	{"none", "no fault: a control run of 8 s (no failover allowed)", forbidden, nothing},
}

// raftFaults run on three watch nodes (raft_test.go), after the single
// watch's faults: the suite stops the single watch and starts the nodes.
// "The leader" is the node the nodes' /v1/status names when the fault
// begins.
var raftFaults = []*fault{
	// A new leader takes over within a lease: no lease runs out, nothing is
	// fenced, writes go on (the longest gap between acknowledged writes is
	// the figure to watch).
	{"leaderkill", "SIGKILL of the leader watch node; restarted after 5 s", forbidden, leaderkill},
	{"leaderkill-writerkill", "SIGKILL of the leader watch node, at once of the writer's mariadbd; the node restarted 5 s later, mariadbd once a new writer took writes for 2 s (30 s at most): one failover, by the next leader", allowed, leaderkillWriterkill},
	{"leaderkill-midfailover", "SIGKILL of the writer's mariadbd, then of the leader watch node as soon as it logs the old writer fenced; the node restarted 1 s later: the next leader finishes", allowed, leaderkillMidfailover},
	// An isolated leader steps down; its late grants carry an old epoch and
	// are refused.
	{"leadercut", "the leader watch node's link down inside its namespace for 10 s, then up", forbidden, leadercut},
	// No quorum, then no node at all: the failsafe holds the writer.
	{"watch2down", "SIGKILL of the leader watch node and of one follower for 10 s (no quorum), then both restarted", forbidden, watch2down},
	{"watchalldown", "SIGKILL of all three watch nodes for 10 s, then restarted", forbidden, watchalldown},
	// As watchdown-hostcut: alone, the writer fences itself within a lease;
	// the restarted nodes' leader fails over.
	{"watchalldown-hostcut", "SIGKILL of all three watch nodes; 3 s later the writer's link down for up to 12 s (until a new writer took writes for 2 s); the nodes restarted 2 s into the cut", allowed, watchalldownHostcut},
}

// allFaults are every fault FAULTS can name, in the order of FAULTS=all.
var allFaults = slices.Concat(faults, raftFaults)

// onNodes says whether the fault runs on the three watch nodes.
func (f *fault) onNodes() bool { return slices.Contains(raftFaults, f) }

func faultByName(name string) *fault {
	for _, f := range allFaults {
		if f.name == name {
			return f
		}
	}
	return nil
}

func kill9(r *run) error {
	s := r.s
	r.fault("kill -9 mariadbd of %s", r.old)
	if err := s.signalServer(r.old, syscall.SIGKILL); err != nil {
		return err
	}
	r.injected()
	r.waitNewWriter(2*time.Second, 30*time.Second)
	r.heal("restart mariadbd of %s", r.old)
	return s.restartServer(r.old)
}

func freeze(d time.Duration) func(*run) error {
	return func(r *run) error {
		s := r.s
		pid := s.l.ServerPID(r.old)
		r.fault("kill -STOP mariadbd of %s (pid %d) for %s", r.old, pid, d)
		if err := s.signalServer(r.old, syscall.SIGSTOP); err != nil {
			return err
		}
		r.injected()
		time.Sleep(d)
		if s.l.ServerPID(r.old) != pid {
			// The fence of a frozen server may stop it (agent.fence = "kill").
			r.heal("mariadbd of %s was stopped while frozen: restart it", r.old)
			return s.restartServer(r.old)
		}
		r.heal("kill -CONT mariadbd of %s", r.old)
		return syscall.Kill(pid, syscall.SIGCONT)
	}
}

func hostcut(d time.Duration) func(*run) error {
	return func(r *run) error {
		s := r.s
		r.fault("link of %s down for %s", r.old, d)
		if err := s.setLink(r.old, false); err != nil {
			return err
		}
		r.injected()
		time.Sleep(d)
		r.heal("link of %s up", r.old)
		return s.setLink(r.old, true)
	}
}

func monitorcut(r *run) error {
	s := r.s
	addr := s.c.Host(r.old).Address + "/32"
	r.fault("blackhole route for %s (%s) in the monitor's namespace for 10s", r.old, addr)
	if err := s.ip("route", "add", "blackhole", addr); err != nil {
		return err
	}
	r.injected()
	time.Sleep(10 * time.Second)
	r.heal("blackhole route removed")
	return s.ip("route", "del", "blackhole", addr)
}

func agentkill(r *run) error {
	s := r.s
	r.fault("kill -9 of the agent of %s for 8s", r.old)
	if err := s.killAgent(r.old); err != nil {
		return err
	}
	r.injected()
	time.Sleep(8 * time.Second)
	r.heal("agent of %s restarted", r.old)
	return s.restartAgent(r.old)
}

func agentkillHostcut(r *run) error {
	s := r.s
	if err := s.killAgent(r.old); err != nil {
		return err
	}
	r.mark("kill -9 of the agent of %s", r.old)
	time.Sleep(500 * time.Millisecond)
	r.fault("link of %s down, its agent dead (fence hook configured: %v)", r.old, s.hook != "")
	if err := s.setLink(r.old, false); err != nil {
		return err
	}
	r.injected()
	r.waitNewWriter(2*time.Second, 20*time.Second)
	r.heal("link of %s up, its agent restarted", r.old)
	err := s.setLink(r.old, true)
	if e := s.restartAgent(r.old); err == nil {
		err = e
	}
	if !s.serverAlive(r.old) {
		r.mark("mariadbd of %s is down (the fence hook powered it off): restarted", r.old)
		if e := s.restartServer(r.old); err == nil {
			err = e
		}
	}
	return err
}

func standbyThenWriter(r *run) error {
	s := r.s
	if err := s.signalServer(r.standby, syscall.SIGKILL); err != nil {
		return err
	}
	r.mark("kill -9 mariadbd of the standby %s", r.standby)
	time.Sleep(3 * time.Second)
	r.fault("kill -9 mariadbd of the writer %s (the standby %s is dead)", r.old, r.standby)
	if err := s.signalServer(r.old, syscall.SIGKILL); err != nil {
		return err
	}
	r.injected()
	time.Sleep(8 * time.Second)
	r.heal("restart mariadbd of %s, then of %s", r.standby, r.old)
	err := s.restartServer(r.standby)
	time.Sleep(2 * time.Second)
	if e := s.restartServer(r.old); err == nil {
		err = e
	}
	return err
}

// reFenced is the watch's log line saying the old writer is fenced (the
// current watch: msg="old writer fenced").
var reFenced = regexp.MustCompile(`(?i)\bfenced\b`)

func watchkill(r *run) error { return killMidFailover(r, r.s.singleWatch()) }

// killMidFailover kills the writer's mariadbd, then the watch w as soon as
// its log says the old writer is fenced, and restarts it 1 s later: the
// restarted watch (or the next leader) must finish the failover or leave
// one writer cleanly.
func killMidFailover(r *run, w watchTarget) error {
	s := r.s
	off := fileSize(w.log)
	if w.log == s.watchLog {
		r.fault("kill -9 mariadbd of %s; the watch is killed when it logs the fence", r.old)
	} else {
		r.fault("kill -9 mariadbd of %s; %s is killed when it logs the fence", r.old, w.what)
	}
	if err := s.signalServer(r.old, syscall.SIGKILL); err != nil {
		return err
	}
	r.injected()
	wait := 15 * time.Second
	if d, err := time.ParseDuration(os.Getenv("CHAOS_WATCHKILL_AFTER")); err == nil {
		wait = d // a fixed delay instead of the log line
	}
	line, ok := tailFor(w.log, off, reFenced, wait)
	if ok {
		r.mark("the watch logged: %s", trunc(line, 160))
	} else {
		r.addNote(fmt.Sprintf("no fence line in the watch's log within %s: killed then", wait))
	}
	if err := w.kill(); err != nil {
		return err
	}
	r.mark("%s killed (kill -9)", w.what)
	if wm := s.writableMasters(300 * time.Millisecond); slices.Contains(wm, r.standby) {
		r.addNote("the watch was killed after the promotion: " + r.standby + " was writable already")
	}
	time.Sleep(time.Second)
	if err := w.start(); err != nil {
		r.addNote(fmt.Sprintf("restart of %s: %v", w.what, err))
	}
	r.mark("%s restarted", w.what)
	r.waitNewWriter(2*time.Second, 30*time.Second)
	r.heal("restart mariadbd of %s", r.old)
	return s.restartServer(r.old)
}

func watchdown(r *run) error {
	s := r.s
	r.fault("kill -9 of mmm watch for 10s")
	s.killWatch(syscall.SIGKILL, 5*time.Second)
	r.injected()
	time.Sleep(10 * time.Second)
	r.heal("mmm watch restarted")
	s.startWatch()
	return nil
}

func watchdownHostcut(r *run) error {
	s := r.s
	s.killWatch(syscall.SIGKILL, 5*time.Second)
	r.mark("mmm watch killed (kill -9)")
	time.Sleep(3 * time.Second)
	r.fault("link of %s down with no watch running", r.old)
	if err := s.setLink(r.old, false); err != nil {
		return err
	}
	r.injected()
	time.Sleep(2 * time.Second)
	s.startWatch()
	r.mark("mmm watch restarted")
	r.waitNewWriter(2*time.Second, 10*time.Second)
	r.heal("link of %s up", r.old)
	return s.setLink(r.old, true)
}

func nothing(r *run) error {
	r.fault("nothing (control run)")
	r.injected()
	time.Sleep(8 * time.Second)
	r.heal("nothing")
	return nil
}

// tailFor follows path from offset until a line matches re or timeout.
func tailFor(path string, offset int64, re *regexp.Regexp, timeout time.Duration) (string, bool) {
	deadline := time.Now().Add(timeout)
	f, err := os.Open(path)
	if err != nil {
		time.Sleep(timeout)
		return "", false
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "", false
	}
	rd := bufio.NewReader(f)
	var partial string
	for time.Now().Before(deadline) {
		line, err := rd.ReadString('\n')
		partial += line
		if err != nil { // no whole line yet
			time.Sleep(2 * time.Millisecond)
			continue
		}
		if re.MatchString(partial) {
			return partial, true
		}
		partial = ""
	}
	return "", false
}

// undoFaults puts back what a fault interrupted by a failing test may have
// left: links down (hosts' and watch nodes'), blackhole routes, stopped
// servers.
func (s *suite) undoFaults() {
	for _, n := range s.nodes {
		_ = s.setNodeLink(n, true)
	}
	for _, h := range s.hosts {
		_ = s.setLink(h, true)
		_ = s.ip("route", "del", "blackhole", s.c.Host(h).Address+"/32")
		if pid := s.l.ServerPID(h); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
}
