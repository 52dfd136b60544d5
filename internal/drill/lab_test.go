package drill_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/drill"
	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/internal/watch"
	"github.com/mysql-mmm/mmm/plan"
)

// The drill and simulate lab tests have the lab subnet 198.18.16.0/24 to
// themselves. They run in order against one lab, driving the real binary:
// apply, drill without a watch, then a watch, drill through it, simulate,
// and a kill -9 of the writer that must go as simulate said.
func TestMain(m *testing.M) {
	labtest.Main(m, "../../examples/lab/mmm.hcl", labtest.Subnet("198.18.16"))
}

type labEnv struct {
	t        *testing.T
	bin, cfg string
	c        *topology.Cluster
}

// mmm runs the binary and returns its stdout and exit code.
func (e *labEnv) mmm(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(e.bin, append(args, "--config", e.cfg)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("mmm %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// watchProc is `mmm watch` running as its own process, its log kept.
type watchProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string
	done chan struct{}
}

func (e *labEnv) startWatch() *watchProc {
	t := e.t
	cmd := exec.Command(e.bin, "watch", "--config", e.cfg, "--state-file", filepath.Join(t.TempDir(), "watch.state"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mmm watch: %v", err)
	}
	w := &watchProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			w.mu.Lock()
			w.log = append(w.log, sc.Text())
			w.mu.Unlock()
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-w.done
		}
	})
	return w
}

func (w *watchProc) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.log...)
}

func (e *labEnv) client() *watch.Client {
	return &watch.Client{Base: "http://" + e.c.Monitor.Listen, Token: e.c.Monitor.Token.Value(), Timeout: 3 * time.Second}
}

func (e *labEnv) waitWatch(timeout time.Duration, what string, cond func(r *watch.Report) bool) *watch.Report {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last *watch.Report
	var lastErr error
	for time.Now().Before(deadline) {
		r, err := e.client().Status(context.Background())
		if err == nil {
			last = r
			if cond(r) {
				return r
			}
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("%s: not within %s (last error %v); status %+v", what, timeout, lastErr, last)
	return nil
}

func allOnline(r *watch.Report) bool {
	for _, h := range r.Hosts {
		if h.State != watch.Online {
			return false
		}
	}
	return len(r.Hosts) > 0
}

func TestDrillAndSimulateLab(t *testing.T) {
	l := labtest.Get(t)
	e := &labEnv{t: t, c: l.Cluster()}
	e.bin, e.cfg = labtest.StartAgents(t)
	if out, errOut, code := e.mmm("apply", "--auto-approve"); code != 0 {
		t.Fatalf("mmm apply: exit %d\n%s\n%s", code, out, errOut)
	}

	t.Run("drill without a watch, as apply", func(t *testing.T) {
		e.t = t
		rep := e.drill(1)
		if !strings.HasPrefix(rep.Via, "apply") {
			t.Errorf("via %q, want apply", rep.Via)
		}
	})

	e.t = t
	w := e.startWatch()
	e.waitWatch(60*time.Second, "the watch sees every host ONLINE with master1 the writer", func(r *watch.Report) bool {
		return allOnline(r) && r.Writer == "master1" && r.Busy == ""
	})

	t.Run("drill --rounds 3 through the watch", func(t *testing.T) {
		e.t = t
		rep := e.drill(3)
		if !strings.Contains(rep.Via, "watch") {
			t.Errorf("via %q, want the watch", rep.Via)
		}
	})

	t.Run("Ctrl-C stops the drill after the move in flight, with a healthy writer", func(t *testing.T) {
		e.t = t
		cmd := exec.Command(e.bin, "drill", "--rounds", "20", "--json", "--config", e.cfg)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		_ = cmd.Process.Signal(os.Interrupt)
		err := cmd.Wait()
		var rep drill.Report
		if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
			t.Fatalf("no JSON report after Ctrl-C (%v; exit %v)\n%s\n%s", jerr, err, out.String(), errb.String())
		}
		t.Logf("interrupted after %d moves; final writer %s; exit %v", len(rep.Moves), rep.FinalWriter, err)
		if err != nil || !rep.Interrupted || rep.RowsLost != 0 {
			t.Fatalf("exit %v, interrupted %v, %d lost: %s\n%s", err, rep.Interrupted, rep.RowsLost, rep.Error, errb.String())
		}
		r := e.waitWatch(30*time.Second, "the watch sees one writer, every host ONLINE", func(r *watch.Report) bool {
			return allOnline(r) && r.Writer == rep.FinalWriter && r.Busy == ""
		})
		if got := writable(t, e.c); got != rep.FinalWriter {
			t.Errorf("writable masters %q, the drill left %s", got, rep.FinalWriter)
		}
		if r.Writer != "master1" {
			// Put the writer back for the simulate test.
			if _, err := e.client().Command(context.Background(), "move-role", watch.Command{Role: "writer", Host: "master1"}); err != nil {
				t.Fatalf("move the writer back: %v", err)
			}
		}
	})

	t.Run("simulate --fail the writer, then kill -9 it: the watch does as simulated", func(t *testing.T) {
		e.t = t
		e.waitWatch(60*time.Second, "every host ONLINE again after the drill", func(r *watch.Report) bool {
			return allOnline(r) && r.Writer == "master1" && r.Busy == ""
		})
		// The cut of the writer from the monitor alone: no failover.
		out, errOut, code := e.mmm("simulate", "--cut", "master1", "--json")
		var cut struct {
			watch.Simulation
			Source string `json:"source"`
		}
		if err := json.Unmarshal([]byte(out), &cut); err != nil || code != 0 || cut.Failover {
			t.Fatalf("simulate --cut master1: exit %d, failover %v (%v)\n%s\n%s", code, cut.Failover, err, out, errOut)
		}
		t.Logf("simulate --cut master1: %s: %s", cut.Verdict, cut.Why)
		for _, tc := range []struct {
			flag string
			kind watch.FaultKind
		}{{"--freeze", watch.FaultFrozen}, {"--lose", watch.FaultHostLost}} {
			out, errOut, code := e.mmm("simulate", tc.flag, "master1", "--json")
			var s struct {
				watch.Simulation
				Source string `json:"source"`
			}
			if err := json.Unmarshal([]byte(out), &s); err != nil || code != 2 || !s.Failover || s.Kind != tc.kind || s.Candidate != "master2" {
				t.Fatalf("simulate %s master1: exit %d, failover %v, kind %s, candidate %q (%v)\n%s\n%s", tc.flag, code, s.Failover, s.Kind, s.Candidate, err, out, errOut)
			}
			t.Logf("simulate %s master1: %s; fence: %s", tc.flag, s.Why, s.Fence)
		}

		text, _, code := e.mmm("simulate", "--fail", "master1")
		if code != 2 {
			t.Fatalf("simulate --fail master1: exit %d, want 2\n%s", code, text)
		}
		t.Logf("mmm simulate --fail master1:\n%s", text)
		out, errOut, code = e.mmm("simulate", "--fail", "master1", "--json")
		var sim struct {
			watch.Simulation
			Source string `json:"source"`
		}
		if err := json.Unmarshal([]byte(out), &sim); err != nil || code != 2 {
			t.Fatalf("simulate --json: exit %d (%v)\n%s\n%s", code, err, out, errOut)
		}
		if !sim.Failover || sim.Candidate != "master2" || sim.Plan == nil || !strings.Contains(sim.Source, "running watch") {
			t.Fatalf("simulated: failover %v candidate %q source %q: %s", sim.Failover, sim.Candidate, sim.Source, sim.NoFailover)
		}
		predicted := stepIDs(sim.Plan)

		pid := serverPID(t, l, "master1")
		before := len(w.lines())
		killedAt := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d: %v", pid, err)
		}
		r := e.waitWatch(30*time.Second, "the watch fails over", func(r *watch.Report) bool { return r.Writer != "master1" && r.Busy == "" })
		t.Logf("the watch promoted %s %s after the kill", r.Writer, time.Since(killedAt).Round(time.Millisecond))
		if r.Writer != sim.Candidate {
			t.Errorf("the watch promoted %s, simulate said %s", r.Writer, sim.Candidate)
		}
		var event string
		for _, ev := range r.Events {
			if strings.HasPrefix(ev.Message, "failover: ") {
				event = ev.Message
			}
		}
		t.Logf("watch event: %s", event)
		if !strings.Contains(event, "in place of master1 ("+string(sim.Kind)) {
			t.Errorf("the watch's failover event %q does not name the simulated fault kind %q", event, sim.Kind)
		}
		// The steps the watch ran for the failover, from its log.
		time.Sleep(500 * time.Millisecond)
		var ran []string
		for _, line := range w.lines()[before:] {
			if strings.Contains(line, "msg=step") && strings.Contains(line, "what=failover") {
				if id := field(line, "step"); id != "" && !contains(ran, id) {
					ran = append(ran, id)
				}
			}
		}
		sort.Strings(ran)
		sort.Strings(predicted)
		t.Logf("simulated steps: %v", predicted)
		t.Logf("executed steps:  %v", ran)
		if strings.Join(ran, " ") != strings.Join(predicted, " ") {
			t.Errorf("the watch ran other steps than simulate predicted:\n  simulated %v\n  executed  %v", predicted, ran)
		}
	})
}

// drill runs `mmm drill --rounds N --json` and checks the report: every
// move measured, no row lost, the writer back where it started, the scratch
// schema gone.
func (e *labEnv) drill(rounds int) *drill.Report {
	t := e.t
	t.Helper()
	out, errOut, code := e.mmm("drill", "--rounds", strconv.Itoa(rounds), "--json")
	var rep drill.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("mmm drill: exit %d, no JSON report (%v)\n%s\n%s", code, err, out, errOut)
	}
	t.Logf("progress:\n%s", errOut)
	for i, m := range rep.Moves {
		t.Logf("move %d (round %d) %s -> %s: took %s, writes blocked %s, replicas follow %s, %d writes in the move, %d rows checked, %d lost %s (load's last error: %s)",
			i+1, m.Round, m.From, m.To, m.Took, m.WriteBlocked, m.Follow, m.Writes, m.RowsChecked, m.RowsLost, m.Error, m.LoadError)
	}
	if code != 0 || rep.Error != "" {
		t.Fatalf("mmm drill: exit %d: %s\n%s", code, rep.Error, errOut)
	}
	if len(rep.Moves) != 2*rounds {
		t.Errorf("%d moves, want %d", len(rep.Moves), 2*rounds)
	}
	for _, m := range rep.Moves {
		if m.RowsLost != 0 || m.RowsChecked == 0 || m.WriteBlocked <= 0 {
			t.Errorf("move %s -> %s: %d rows lost of %d checked, writes blocked %s", m.From, m.To, m.RowsLost, m.RowsChecked, m.WriteBlocked)
		}
	}
	if rep.FinalWriter != rep.Writer || rep.Writer != "master1" {
		t.Errorf("the drill started with writer %s and ended with %s", rep.Writer, rep.FinalWriter)
	}
	// Nothing of the drill is left on any host.
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range e.c.Hosts {
		for {
			left, err := leftovers(e.c, h)
			if err == nil && left == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %d drill schema/account left (%v)", h.Name, left, err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return &rep
}

// writable lists the writable masters, as plan sees them.
func writable(t *testing.T, c *topology.Cluster) string {
	var out []string
	for _, h := range c.Masters() {
		db, err := conn.Open(context.Background(), h, conn.Timeouts{})
		if err != nil {
			t.Fatal(err)
		}
		var ro int
		err = db.QueryRow("SELECT @@global.read_only").Scan(&ro)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ro == 0 {
			out = append(out, h.Name)
		}
	}
	return strings.Join(out, "+")
}

func leftovers(c *topology.Cluster, h *topology.Host) (int, error) {
	db, err := conn.Open(context.Background(), h, conn.Timeouts{})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow("SELECT (SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?) + (SELECT COUNT(*) FROM mysql.user WHERE user = ?)",
		drill.Schema, drill.Account).Scan(&n)
	return n, err
}

// serverPID is host's mariadbd pid from the lab's state.
func serverPID(t *testing.T, l *lab.Lab, host string) int {
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

func stepIDs(p *plan.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.ID)
	}
	return out
}

// field reads key=value (or key="value") from a slog text line.
func field(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		if j := strings.Index(v[1:], `"`); j >= 0 {
			return v[1 : j+1]
		}
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
