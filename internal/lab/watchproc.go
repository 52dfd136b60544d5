//go:build linux

package lab

// The watch processes of a lab: started like the agents (the caller says
// how a watch is run: the CLI runs its own executable, a test what it
// likes), detached, each in its node's namespace or the root namespace,
// and recorded by pid so StopWatch, StopWatches and Down stop them, also
// those in the root namespace, which no namespace removal would reach.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

// watchesFile records the watches' pids in the lab's state dir.
const watchesFile = "watches.json"

// watchSettle is how long a started watch must keep running to count as
// started: a wrong flag or an unreadable file ends it at once, and the
// caller then gets its log instead of a pid that is already gone.
const watchSettle = 500 * time.Millisecond

// WatchCommand returns the command that runs watch node node, e.g.
// exec.Command(mmmPath, "watch", "--config", file, "--node", node). Secrets
// go in its Env, never in its arguments.
type WatchCommand func(node string) *exec.Cmd

// watchRecord is one started watch.
type watchRecord struct {
	PID int `json:"pid"`
	// Start is the process's start time (/proc/PID/stat field 22): with it
	// a pid reused by another program is never taken for (or stopped as)
	// the watch, in the root namespace too, where no namespace tells them
	// apart.
	Start     uint64 `json:"start"`
	Namespace string `json:"namespace,omitempty"`
}

// alive reports whether the recorded watch still runs (and is still ours).
func (r watchRecord) alive() bool {
	if !serverAlive(r.PID, "") {
		return false
	}
	if st, err := procStartTime(r.PID); err != nil || st != r.Start {
		return false
	}
	return r.Namespace == "" || inNamespace(r.PID, r.Namespace)
}

// StartWatches starts every watch node of the file (or the single watch),
// each in its node's namespace, with output in WatchLog(node), and records
// the pids. Watches still running from an earlier call are stopped first.
// A watch that ends within its first half second is an error with its log.
// Down stops them too.
func (l *Lab) StartWatches(ctx context.Context, command WatchCommand) (map[string]int, error) {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	if err := l.stopWatchesLocked(); err != nil {
		return nil, err
	}
	started := map[string]*startedWatch{}
	var errs []error
	for _, w := range l.watches {
		s, err := l.startWatch(w, command(w.Name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		started[w.Name] = s
	}
	// One settle period for all: the nodes of a raft cluster should come up
	// together, not half a second apart each.
	errs = append(errs, l.settle(ctx, started))
	recs := map[string]watchRecord{}
	pids := map[string]int{}
	for name, s := range started {
		recs[name], pids[name] = s.rec, s.rec.PID
	}
	if err := writeWatches(l.dir, recs); err != nil {
		errs = append(errs, err)
	}
	return pids, errors.Join(errs...)
}

// StartWatch starts one watch node again (after the chaos suite stopped or
// killed it) the way StartWatches does, and records its pid beside the
// others. A watch of node still running is stopped first.
func (l *Lab) StartWatch(ctx context.Context, node string, cmd *exec.Cmd) (int, error) {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	w := l.watchNode(node)
	if w == nil {
		return 0, fmt.Errorf("lab %s has no watch node %q (it runs %v)", l.id, node, l.WatchNodes())
	}
	recs, err := readWatches(l.dir)
	if err != nil {
		return 0, err
	}
	if err := l.stopRecorded(node, recs[node], syscall.SIGTERM, l.opts.StopTimeout); err != nil {
		return 0, err
	}
	delete(recs, node)
	s, err := l.startWatch(*w, cmd)
	if err != nil {
		return 0, errors.Join(err, writeWatches(l.dir, recs))
	}
	if err := l.settle(ctx, map[string]*startedWatch{node: s}); err != nil {
		return 0, errors.Join(err, writeWatches(l.dir, recs))
	}
	recs[node] = s.rec
	return s.rec.PID, writeWatches(l.dir, recs)
}

// StopWatch stops one watch node by its recorded pid: sig first (SIGTERM
// for a clean stop, SIGKILL for a crash), SIGKILL after grace if it still
// runs. A watch that does not run is no error. (To freeze one, send
// SIGSTOP to WatchPID yourself: StopWatch waits for the process to end.)
func (l *Lab) StopWatch(node string, sig syscall.Signal, grace time.Duration) error {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	recs, err := readWatches(l.dir)
	if err != nil {
		return err
	}
	rec, ok := recs[node]
	if !ok {
		return nil
	}
	if err := l.stopRecorded(node, rec, sig, grace); err != nil {
		return err
	}
	delete(recs, node)
	return writeWatches(l.dir, recs)
}

// StopWatches stops every recorded watch (SIGTERM, then SIGKILL after
// StopTimeout). No watches is no error.
func (l *Lab) StopWatches() error {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	return l.stopWatchesLocked()
}

func (l *Lab) stopWatchesLocked() error {
	return stopRecordedWatches(l.dir, l.opts.StopTimeout)
}

// WatchPID is the pid of node's running watch, 0 when none runs.
func (l *Lab) WatchPID(node string) int {
	recs, err := readWatches(l.dir)
	if err != nil {
		return 0
	}
	if rec, ok := recs[node]; ok && rec.alive() {
		return rec.PID
	}
	return 0
}

// WatchStatus is one watch node as WatchStatuses sees it.
type WatchStatus struct {
	Name      string
	Namespace string // "" = the root namespace
	Listen    string
	PID       int // 0 = not running
}

// WatchStatuses lists the watch nodes of the file (or the single watch)
// with the pid of each one's running watch.
func (l *Lab) WatchStatuses() []WatchStatus {
	out := make([]WatchStatus, len(l.watches))
	for i, w := range l.watches {
		out[i] = WatchStatus{Name: w.Name, Namespace: w.Namespace, Listen: w.Listen, PID: l.WatchPID(w.Name)}
	}
	return out
}

// WaitWatchListening waits until node's control API accepts connections
// (from the root namespace, through the bridge for a namespaced node). It
// fails early, with the log's tail, when the watch is not running.
func (l *Lab) WaitWatchListening(ctx context.Context, node string) error {
	w := l.watchNode(node)
	if w == nil {
		return fmt.Errorf("lab %s has no watch node %q", l.id, node)
	}
	addr := dialable(w.Listen)
	for {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return nil
		}
		if l.WatchPID(node) == 0 {
			return fmt.Errorf("watch node %s is not running:\n%s", node, l.logTail(node))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("watch node %s does not accept connections on %s: %w", node, addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startedWatch is a watch just started, not yet settled.
type startedWatch struct {
	rec    watchRecord
	exited chan error
}

// startWatch starts one watch detached (its own session, so a Ctrl-C to the
// caller does not reach it) in the node's namespace, output in its log.
func (l *Lab) startWatch(w watchNode, cmd *exec.Cmd) (*startedWatch, error) {
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab state dir: %w", err)
	}
	out, err := os.OpenFile(l.WatchLog(w.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("watch node %s: log: %w", w.Name, err)
	}
	defer out.Close()
	// The log grows across starts: a header tells one run from the next.
	fmt.Fprintf(out, "--- %s: mmm lab starts watch node %s: %s\n", time.Now().Format(time.RFC3339), w.Name, strings.Join(cmd.Args, " "))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if w.Namespace != "" {
		err = startInNamespace(w.Namespace, cmd)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("start watch node %s: %w", w.Name, err)
	}
	s := &startedWatch{rec: watchRecord{PID: cmd.Process.Pid, Namespace: w.Namespace}, exited: make(chan error, 1)}
	// Reap it when it ends, so a stopped watch is no zombie that still
	// looks alive to /proc.
	go func() { s.exited <- cmd.Wait() }()
	if s.rec.Start, err = procStartTime(s.rec.PID); err != nil {
		werr := <-s.exited
		return nil, fmt.Errorf("watch node %s exited at once (%v):\n%s", w.Name, werr, l.logTail(w.Name))
	}
	l.log.Debug("watch started", "node", w.Name, "pid", s.rec.PID, "namespace", w.Namespace)
	return s, nil
}

// settle waits watchSettle and reports every watch that ended meanwhile,
// with its log; those are dropped from started.
func (l *Lab) settle(ctx context.Context, started map[string]*startedWatch) error {
	deadline := time.Now().Add(watchSettle)
	var errs []error
	for {
		for name, s := range started {
			select {
			case werr := <-s.exited:
				errs = append(errs, fmt.Errorf("watch node %s exited (%v):\n%s", name, werr, l.logTail(name)))
				delete(started, name)
			default:
			}
		}
		if len(started) == 0 || !time.Now().Before(deadline) {
			return errors.Join(errs...)
		}
		select {
		case <-ctx.Done():
			return errors.Join(append(errs, fmt.Errorf("starting the watches: %w", ctx.Err()))...)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopRecorded stops one recorded watch if it still runs.
func (l *Lab) stopRecorded(node string, rec watchRecord, sig syscall.Signal, grace time.Duration) error {
	if rec.PID == 0 {
		return nil
	}
	if err := signalProcess(rec.PID, sig, grace, rec.alive); err != nil {
		return fmt.Errorf("stop watch node %s: %w", node, err)
	}
	return nil
}

// stopRecordedWatches stops every watch recorded in dir (at once: each may
// take grace) and removes the record. Down uses it without a Lab.
func stopRecordedWatches(dir string, grace time.Duration) error {
	recs, err := readWatches(dir)
	if err != nil || len(recs) == 0 {
		return err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for node, rec := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := signalProcess(rec.PID, syscall.SIGTERM, grace, rec.alive); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("stop watch node %s: %w", node, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err // keep the record: it names what still runs
	}
	if err := os.Remove(filepath.Join(dir, watchesFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// anyWatchAlive reports whether a watch recorded in dir still runs.
func anyWatchAlive(dir string) bool {
	recs, _ := readWatches(dir)
	for _, rec := range recs {
		if rec.alive() {
			return true
		}
	}
	return false
}

func (l *Lab) logTail(node string) string {
	b, _ := os.ReadFile(l.WatchLog(node))
	return tail(string(b), 15)
}

func readWatches(dir string) (map[string]watchRecord, error) {
	recs := map[string]watchRecord{}
	b, err := os.ReadFile(filepath.Join(dir, watchesFile))
	if errors.Is(err, os.ErrNotExist) {
		return recs, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the lab's watches: %w", err)
	}
	if err := json.Unmarshal(b, &recs); err != nil {
		// A torn write of a crashed run: namespaced watches die with their
		// namespaces; Down cannot find a root-namespace one without it.
		return map[string]watchRecord{}, nil
	}
	return recs, nil
}

// writeWatches replaces the record (through a rename, so a crash leaves
// the old or the new one).
func writeWatches(dir string, recs map[string]watchRecord) error {
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, watchesFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("record the lab's watches: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, watchesFile)); err != nil {
		return fmt.Errorf("record the lab's watches: %w", err)
	}
	return nil
}

// procStartTime is field 22 of /proc/PID/stat: when the process started,
// in clock ticks since boot; with the pid it names one process for good.
func procStartTime(pid int) (uint64, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: count
	// the fields after its last ')', which is field 3 onwards.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("pid %d: unexpected /proc stat", pid)
	}
	fields := strings.Fields(string(stat[i+1:]))
	const startField = 22 - 3
	if len(fields) <= startField {
		return 0, fmt.Errorf("pid %d: unexpected /proc stat", pid)
	}
	return strconv.ParseUint(fields[startField], 10, 64)
}

// inNamespace reports whether pid's network namespace is the named one.
func inNamespace(pid int, name string) bool {
	var want, got syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, name), &want); err != nil {
		return false
	}
	if err := syscall.Stat("/proc/"+strconv.Itoa(pid)+"/ns/net", &got); err != nil {
		return false
	}
	return want.Dev == got.Dev && want.Ino == got.Ino
}

// linkPresent reports whether a root-namespace link of that name exists.
func linkPresent(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}
