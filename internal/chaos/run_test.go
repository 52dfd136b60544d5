package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// run is one fault injected into a healthy cluster under load.
type run struct {
	s       *suite
	f       *fault
	i       int
	dir     string
	base    int    // the load's n values are base+1 …
	old     string // the writer before the fault
	standby string // the other master
	oldSID  uint32

	tStart, tFault, tHeal, tEnd time.Time

	ld  *load
	obs *observer

	mu     sync.Mutex
	events []event
	notes  []string

	// errantBase is the new writer's GTID state as soon as it acknowledged
	// its first write: what an old writer's server_id may have everywhere.
	errantBase     gtidState
	errantBaseHost string
	errantBaseAt   time.Time

	// tInjected is when the fault's action completed (tFault is when it
	// began): a write whose outcome is unknown and that was sent before
	// it may have been committed by the old writer legitimately.
	tInjected time.Time

	logOffsets map[string]int64 // watch and agent logs at the start

	// The raft faults: the leader when the run started, and the leaders the
	// fault killed or cut off.
	leaderAtStart string
	killedLeaders []string
}

type event struct {
	At   time.Time
	What string
}

func (r *run) mark(format string, args ...any) {
	r.mu.Lock()
	r.events = append(r.events, event{time.Now(), fmt.Sprintf(format, args...)})
	r.mu.Unlock()
}

// fault marks the moment of the fault (outage and checks count from it).
func (r *run) fault(format string, args ...any) {
	r.mu.Lock()
	r.tFault = time.Now()
	r.mu.Unlock()
	r.mark("FAULT: "+format, args...)
}

// faultAt is the moment of the fault (zero before it), for the goroutines
// that watch the run.
func (r *run) faultAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tFault
}

// injected marks the end of the fault's action (the link is down, the
// process is gone).
func (r *run) injected() {
	r.tInjected = time.Now()
	r.mark("(fault in place)")
}

func (r *run) heal(format string, args ...any) {
	r.tHeal = time.Now()
	r.mark("HEAL: "+format, args...)
}

func (r *run) addNote(msg string) {
	r.mu.Lock()
	r.notes = append(r.notes, msg)
	r.mu.Unlock()
	r.mark("harness: %s", msg)
}

// firstAckFrom is the first acknowledged write sent after the fault by a
// server other than not (0: any server), or a zero attempt.
func (r *run) firstAckFrom(not uint32) attempt {
	var first attempt
	tFault := r.faultAt()
	if tFault.IsZero() {
		return first
	}
	for _, a := range r.ld.snapshot() {
		if a.Outcome == acked && !a.Start.Before(tFault) && (not == 0 || a.SID != not) {
			if first.End.IsZero() || a.End.Before(first.End) {
				first = a
			}
		}
	}
	return first
}

// waitNewWriter waits until a server other than the old writer has
// acknowledged writes for hold, or max after the fault passed. It reports
// whether a new writer took writes.
func (r *run) waitNewWriter(hold, max time.Duration) bool {
	for {
		if a := r.firstAckFrom(r.oldSID); !a.End.IsZero() && time.Since(a.End) >= hold {
			return true
		}
		if time.Since(r.tFault) >= max {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watchErrantBase takes the new writer's GTID state the moment it
// acknowledged its first write after the fault.
func (r *run) watchErrantBase(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		a := r.firstAckFrom(r.oldSID)
		if a.End.IsZero() {
			continue
		}
		host := r.s.hostOf[a.SID]
		v, err := r.s.q(host, time.Second, "SELECT @@global.gtid_binlog_state")
		if err != nil {
			continue
		}
		st, err := parseGTIDState(v)
		if err != nil {
			continue
		}
		r.mu.Lock()
		r.errantBase, r.errantBaseHost, r.errantBaseAt = st, host, time.Now()
		r.mu.Unlock()
		r.mark("new writer %s acknowledged its first write; its GTID state %s", host, st)
		return
	}
}

// runOne runs fault f once (the i-th time) and checks it.
func (s *suite) runOne(f *fault, i int) *result {
	t := s.t
	old, err := s.settle(true, 4*time.Minute)
	if err != nil {
		t.Fatalf("%s run %d: the cluster is not healthy before the run: %v\nwatch log: %s", f.name, i, err, s.watchLogHint())
	}
	r := &run{s: s, f: f, i: i, old: old, oldSID: s.sid[old], base: s.nextBase, logOffsets: map[string]int64{}}
	s.nextBase += 1_000_000
	for _, m := range s.masters {
		if m != old {
			r.standby = m
		}
	}
	r.dir = filepath.Join(s.dir, "runs", fmt.Sprintf("%s-%d", f.name, i))
	_ = os.MkdirAll(r.dir, 0o755)
	s.current = r
	defer func() { s.current = nil }()
	for _, p := range s.watchLogs() {
		r.logOffsets[p] = fileSize(p)
	}
	if s.raft {
		r.leaderAtStart, _ = s.leader(5 * time.Second)
	}
	for _, h := range s.hosts {
		p := s.l.AgentLog(h)
		r.logOffsets[p] = fileSize(p)
	}

	r.tStart = time.Now()
	r.mark("run start: writer %s (server_id %d), standby %s", old, r.oldSID, r.standby)
	if s.raft {
		r.mark("watch nodes %v, leader %s", s.nodes, orDash(r.leaderAtStart))
	}
	r.obs = s.observe()
	r.ld = s.startLoad(r.base)
	stopBase := make(chan struct{})
	go r.watchErrantBase(stopBase)

	// Writes through the VIP before the fault, from both clients.
	ok := false
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		n := map[string]int{}
		for _, a := range r.ld.snapshot() {
			if a.Outcome == acked {
				n[a.Client]++
			}
		}
		if n["conn"] >= 10 && n["persist"] >= 10 && time.Since(r.tStart) > 1500*time.Millisecond {
			ok = true
			break
		}
	}
	if !ok {
		r.ld.stop()
		r.obs.stop()
		close(stopBase)
		t.Fatalf("%s run %d: no steady writes through %s before the fault: %s", f.name, i, s.vip, r.lastErrors())
	}

	if err := f.inject(r); err != nil {
		r.addNote("fault injection error: " + err.Error())
	}
	if r.faultAt().IsZero() {
		r.fault("(the fault injection did not say when)")
	}
	if r.tInjected.IsZero() {
		r.tInjected = r.tFault
	}
	if r.tHeal.IsZero() {
		r.heal("(nothing to heal)")
	}
	// The load goes on while the cluster settles (stale grants arrive at the
	// heal), and a little after.
	if _, err := s.settle(false, 90*time.Second); err != nil {
		r.addNote("not healthy after the heal: " + firstLine(err.Error()))
	}
	time.Sleep(2 * time.Second)
	r.ld.stop()
	close(stopBase)
	r.tEnd = time.Now()
	r.mark("load stopped")
	time.Sleep(300 * time.Millisecond)
	r.obs.stop()

	res := r.check()
	r.nodeReport(res)
	r.write(res)
	if res.unsafe() {
		t.Errorf("%s run %d: UNSAFE: %s\n  watch log: %s (this run: %s)\n  run dir: %s\n%s", f.name, i, res.unsafeSummary(), s.watchLogHint(),
			filepath.Join(r.dir, "watch*.log"), r.dir, indent(res.details, "  "))
		t.Logf("timeline around the fault (%s run %d):\n%s", f.name, i, r.timeline(r.tFault.Add(-2*time.Second), r.tEnd, 200))
	}
	// Leave the cluster healthy for the next run: hosts found errant or
	// diverged are rebuilt from the writer now, the rest settles.
	for _, h := range res.rebuild {
		s.note(fmt.Sprintf("REPAIR: %s rebuilt from %s after the checks", h, res.finalWriter))
		if err := s.rebuild(h, res.finalWriter); err != nil {
			s.note(fmt.Sprintf("rebuild of %s failed: %v", h, err))
		}
	}
	// Healthy again before the next run; what it took counts for this run.
	if _, err := s.settle(true, 4*time.Minute); err != nil {
		t.Fatalf("%s run %d: the cluster could not be made healthy after the run: %v\nwatch log: %s\nrun dir: %s", f.name, i, err, s.watchLogHint(), r.dir)
	}
	res.notes = r.notesCopy()
	res.repairs = countRepairs(res.notes)
	s.logf("%s", res.line())
	_ = os.WriteFile(filepath.Join(r.dir, "result.txt"), []byte(res.line()+"\n"+res.details+"\nnotes:\n"+strings.Join(res.notes, "\n")+"\n"), 0o644)
	return res
}

func (r *run) notesCopy() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.notes)
}

func countRepairs(notes []string) int {
	n := 0
	for _, x := range notes {
		if strings.HasPrefix(x, "REPAIR") {
			n++
		}
	}
	return n
}

func (r *run) lastErrors() string {
	last := map[string]string{}
	for _, a := range r.ld.snapshot() {
		if a.Err != "" {
			last[a.Client] = a.Err
		}
	}
	return fmt.Sprintf("%v", last)
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

// write keeps the run's evidence in its directory: the slices of the watch
// and agent logs written during the run, the timeline, and, when a check
// failed (or CHAOS_KEEP=all), every attempt of the load and every sample.
func (r *run) write(res *result) {
	copySlice := func(src, dst string) {
		f, err := os.Open(src)
		if err != nil {
			return
		}
		defer f.Close()
		if _, err := f.Seek(r.logOffsets[src], io.SeekStart); err != nil {
			return
		}
		out, err := os.Create(dst)
		if err != nil {
			return
		}
		defer out.Close()
		_, _ = io.Copy(out, f)
	}
	for _, p := range r.s.watchLogs() {
		copySlice(p, filepath.Join(r.dir, filepath.Base(p)))
	}
	for _, h := range r.s.hosts {
		copySlice(r.s.l.AgentLog(h), filepath.Join(r.dir, "agent-"+h+".log"))
	}
	_ = os.WriteFile(filepath.Join(r.dir, "timeline.txt"), []byte(r.timeline(r.tStart, r.tEnd.Add(time.Second), 0)), 0o644)
	_ = os.WriteFile(filepath.Join(r.dir, "result.txt"), []byte(res.line()+"\n"+res.details+"\nnotes:\n"+strings.Join(r.notesCopy(), "\n")+"\n"), 0o644)
	if res.unsafe() || os.Getenv("CHAOS_KEEP") == "all" {
		if f, err := os.Create(filepath.Join(r.dir, "attempts.jsonl")); err == nil {
			w := bufio.NewWriter(f)
			enc := json.NewEncoder(w)
			for _, a := range r.ld.snapshot() {
				_ = enc.Encode(a)
			}
			w.Flush()
			f.Close()
		}
		samples, gtids, _ := r.obs.snapshot()
		if f, err := os.Create(filepath.Join(r.dir, "samples.txt")); err == nil {
			w := bufio.NewWriter(f)
			for _, sm := range samples {
				fmt.Fprintf(w, "%s %s\n", r.rel(sm.At), sm)
			}
			for _, g := range gtids {
				fmt.Fprintf(w, "%s gtid", r.rel(g.At))
				for _, h := range r.s.hosts {
					fmt.Fprintf(w, " %s=%s", h, g.State[h])
				}
				fmt.Fprintln(w)
			}
			w.Flush()
			f.Close()
		}
	}
}

func (r *run) rel(t time.Time) string {
	return fmt.Sprintf("%+8.3fs", t.Sub(r.tFault).Seconds())
}

// timeline merges what changed, in time order, between from and to: the
// harness's marks, the watch's view (writer, host states, VIP), the sampled
// read_only of the masters and the VIP's namespaces, and the load's clients
// switching between writing and failing (with the first error). max > 0
// keeps the first max lines.
func (r *run) timeline(from, to time.Time, max int) string {
	var evs []event
	r.mu.Lock()
	evs = append(evs, r.events...)
	r.mu.Unlock()
	samples, _, status := r.obs.snapshot()
	prev := ""
	for _, sm := range samples {
		if cur := sm.String(); cur != prev {
			tag := "sample"
			if sm.split() {
				tag = "SPLIT-BRAIN sample"
			}
			evs = append(evs, event{sm.At, tag + ": " + cur})
			prev = cur
		}
	}
	prev = ""
	for _, p := range status {
		cur := p.Err
		if cur == "" {
			var st []string
			for _, h := range r.s.hosts {
				st = append(st, h+"="+p.States[h])
			}
			cur = fmt.Sprintf("writer=%s vip=%s %s", p.Writer, p.VIPOn, strings.Join(st, " "))
			if p.Node != "" {
				cur = fmt.Sprintf("(node %s) leader=%s %s", p.Node, orDash(p.Leader), cur)
			}
		}
		if cur != prev {
			evs = append(evs, event{p.At, "watch: " + cur})
			prev = cur
		}
	}
	state := map[string]string{}
	for _, a := range r.ld.snapshot() {
		cur := "writing to " + r.s.hostOf[a.SID]
		if a.Outcome != acked {
			cur = a.Outcome
		}
		if cur != state[a.Client] {
			what := fmt.Sprintf("client %s: %s", a.Client, cur)
			if a.Err != "" {
				what += " (" + trunc(a.Err, 90) + ")"
			}
			evs = append(evs, event{a.Start, what})
			state[a.Client] = cur
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	var b strings.Builder
	n := 0
	for _, e := range evs {
		if e.At.Before(from) || e.At.After(to) {
			continue
		}
		if max > 0 && n >= max {
			fmt.Fprintf(&b, "  … (the whole timeline is in %s)\n", filepath.Join(r.dir, "timeline.txt"))
			break
		}
		fmt.Fprintf(&b, "  %s %s\n", r.rel(e.At), e.What)
		n++
	}
	return b.String()
}

func indent(s, pre string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return pre + strings.Join(lines, "\n"+pre)
}
