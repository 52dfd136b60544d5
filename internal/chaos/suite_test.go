package chaos

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// suite is the chaos lab: the lab's servers and agents, the real `mmm watch`
// as a child process, and the harness's own connections (root over each
// server's UNIX socket, which works while the host's link is down, and a
// netlink handle in each namespace to see the VIPs).
type suite struct {
	t        *testing.T
	l        *lab.Lab
	c        *topology.Cluster
	bin      string // the mmm binary labtest built
	agentCfg string // the file the agents read
	cfg      string // the file the watch, apply and the CLI read (agentCfg + chaos settings)
	dir      string // this suite's logs: bin/chaos/<stamp>
	vip      string // the writer VIP
	masters  []string
	hosts    []string
	sid      map[string]uint32
	hostOf   map[uint32]string

	hook    string // the fence hook script, "" when the file could not declare it
	hookLog string

	watch     *watchProc
	watchLog  string
	stateFile string
	api       *apiClient // the single watch's, or every watch node's

	// The raft faults' phase (raft_test.go): three watch nodes act instead
	// of the single watch.
	raft    bool
	raftCfg string   // their file: cfg with node blocks instead of monitor.listen
	nodes   []string // the lab's watch nodes

	rootMu sync.Mutex
	roots  map[string]*sql.DB // root over the socket, for checks and repairs

	nlMu sync.Mutex
	nl   map[string]*netlink.Handle

	nextBase int  // first n of the next run's rows
	current  *run // the run in progress, for the notes of settle
}

// newSuite converges the lab and starts the single watch, or, when only raft
// faults run, the watch nodes.
func newSuite(t *testing.T, raftOnly bool) *suite {
	l := labtest.Get(t)
	c := l.Cluster()
	s := &suite{t: t, l: l, c: c, sid: map[string]uint32{}, hostOf: map[uint32]string{},
		roots: map[string]*sql.DB{}, nl: map[string]*netlink.Handle{}, nextBase: 1_000_000}
	role := c.WriterRole()
	if role == nil || len(role.IPs) == 0 || len(role.Hosts) != 2 {
		t.Fatalf("the chaos lab needs a writer role with one IP and two masters")
	}
	s.vip, s.masters = role.IPs[0], slices.Clone(role.Hosts)
	for _, n := range c.Monitor.Nodes {
		s.nodes = append(s.nodes, n.Name)
	}
	for _, h := range c.Hosts {
		s.hosts = append(s.hosts, h.Name)
		id := c.ServerIDFor(h)
		s.sid[h.Name], s.hostOf[id] = id, h.Name
	}
	s.dir = logDir(t)
	t.Logf("chaos: logs in %s", s.dir)
	s.bin, s.agentCfg = labtest.StartAgents(t)
	s.writeConfig()
	t.Cleanup(s.closeAll)

	// Converge with the real mmm apply, as config management would.
	if out, err := s.mmm(3*time.Minute, "apply", "--auto-approve"); err != nil {
		t.Fatalf("mmm apply: %v\n%s", err, out)
	}
	w := s.writableMasters(2 * time.Second)
	if len(w) != 1 {
		t.Fatalf("after mmm apply the writable masters are %v, want one", w)
	}
	s.mustRoot(w[0], "CREATE DATABASE IF NOT EXISTS shop",
		"CREATE TABLE IF NOT EXISTS shop.chaos (n INT PRIMARY KEY, at DATETIME(6) NOT NULL)")

	s.stateFile = filepath.Join(s.dir, "watch.state")
	s.watchLog = filepath.Join(s.dir, "watch.log")
	s.api = &apiClient{bases: []string{"http://" + c.Monitor.Listen}, token: c.Monitor.Token.Value()}
	if raftOnly {
		s.useRaft()
		return s
	}
	s.startWatch()
	t.Cleanup(s.stopWatch)
	if _, err := s.settle(true, 3*time.Minute); err != nil {
		t.Fatalf("the cluster did not become healthy under the watch: %v\nwatch log: %s", err, s.watchLog)
	}
	return s
}

// logDir is bin/chaos/<stamp> at the module's root, or $CHAOS_DIR/<stamp>.
func logDir(t *testing.T) string {
	base := os.Getenv("CHAOS_DIR")
	if base == "" {
		base = "../../bin/chaos"
	}
	dir, err := filepath.Abs(filepath.Join(base, time.Now().Format("20060102-150405")))
	if err == nil {
		err = os.MkdirAll(filepath.Join(dir, "runs"), 0o755)
	}
	if err != nil {
		t.Fatalf("log dir: %v", err)
	}
	return dir
}

var (
	reAutoSetOnline = regexp.MustCompile(`(?m)^(\s*)auto_set_online\s*=.*$`)
	reMonitorBlock  = regexp.MustCompile(`(?m)^monitor\s*\{\s*$`)
)

// writeConfig writes the file of the watch and the CLI: the agents' file
// with what the suite needs of the monitor (a quick rejoin, no flap
// detection over dozens of kills, the fence hook). The agents keep reading
// their own file: nothing in these settings is theirs.
func (s *suite) writeConfig() {
	t := s.t
	b, err := os.ReadFile(s.agentCfg)
	if err != nil {
		t.Fatal(err)
	}
	text := reAutoSetOnline.ReplaceAllString(string(b), `${1}auto_set_online = "3s"`)
	if !reMonitorBlock.MatchString(text) {
		t.Fatalf("%s has no top-level monitor block", s.agentCfg)
	}
	extra := "  flap_count      = 1000\n"
	s.writeHook()
	withHook := extra + fmt.Sprintf("  fence_hook      = [%q]\n", s.hook)
	s.cfg = filepath.Join(s.dir, "mmm.hcl")
	write := func(extra string) {
		out := reMonitorBlock.ReplaceAllStringFunc(text, func(m string) string { return m + "\n" + extra })
		if err := os.WriteFile(s.cfg, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(withHook)
	if out, err := s.mmm(time.Minute, "validate"); err != nil {
		// monitor.fence_hook is new: a tree whose language lacks it runs
		// agentkill-hostcut without a hook (no failover is allowed then).
		t.Logf("chaos: the file cannot declare monitor.fence_hook here (%v): %s; agentkill-hostcut runs without a fence hook",
			err, firstLine(out))
		s.hook = ""
		write(extra)
		if out, err := s.mmm(time.Minute, "validate"); err != nil {
			t.Fatalf("mmm validate %s: %v\n%s", s.cfg, err, out)
		}
	}
}

// writeHook writes the fence hook: it "powers the host off" as a cloud API
// would: kills the namespace's mariadbd by the lab's pid file and deletes
// the writer VIP from the namespace; every call is logged to hookLog.
func (s *suite) writeHook() {
	s.hook = filepath.Join(s.dir, "fence-hook.sh")
	s.hookLog = filepath.Join(s.dir, "fence-hook.log")
	var cases strings.Builder
	for _, h := range s.hosts {
		hs, err := s.l.HostState(h)
		if err != nil {
			s.t.Fatal(err)
		}
		fmt.Fprintf(&cases, "%s) ns=%q; pidfile=%q; dev=%q ;;\n", h, hs.Namespace, filepath.Join(hs.Dir, "mariadb.pid"), hs.Interface)
	}
	script := fmt.Sprintf(`#!/bin/sh
# The chaos suite's fence hook (monitor.fence_hook): "powers off" MMM_HOST.
log=%q
echo "$(date +%%s.%%N) fence_hook host=$MMM_HOST address=$MMM_ADDRESS" >>"$log"
case "$MMM_HOST" in
%s*) echo "$(date +%%s.%%N) unknown host $MMM_HOST" >>"$log"; exit 1 ;;
esac
pid=$(cat "$pidfile" 2>/dev/null) && kill -9 "$pid" 2>/dev/null
for a in $(ip -n "$ns" -o -4 addr show dev "$dev" | awk '{print $4}' | grep '^%s/'); do
  ip -n "$ns" addr del "$a" dev "$dev"
done
echo "$(date +%%s.%%N) fenced host=$MMM_HOST pid=$pid" >>"$log"
exit 0
`, s.hookLog, cases.String(), regexp.QuoteMeta(s.vip))
	if err := os.WriteFile(s.hook, []byte(script), 0o755); err != nil {
		s.t.Fatal(err)
	}
}

// mmm runs the real binary with the suite's file.
func (s *suite) mmm(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append(args, "--config", s.cfg)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// --- the watch process ---------------------------------------------------

type watchProc struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
}

func (s *suite) startWatch() {
	f, err := os.OpenFile(s.watchLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "# chaos: mmm watch started %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, "watch", "--config", s.cfg, "--state-file", s.stateFile)
	cmd.Stdout, cmd.Stderr = f, f
	if lvl := os.Getenv("CHAOS_WATCH_LOG_LEVEL"); lvl != "" {
		cmd.Env = append(os.Environ(), "MMM_LOG_LEVEL="+lvl)
	}
	// Its own process group: a Ctrl-C of go test reaches us, and we stop it.
	// Pdeathsig: a test binary killed outright (the lab's reaper cleans the
	// servers and agents) must not leave its watch running on the lab.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start mmm watch: %v", err)
	}
	w := &watchProc{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(w.done) }()
	s.watch = w
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := s.api.status(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-w.done:
			s.t.Fatalf("mmm watch exited at start-up: see %s", s.watchLog)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("mmm watch does not answer on %s: %v (log %s)", s.api.bases[0], err, s.watchLog)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *suite) watchAlive() bool {
	if s.watch == nil {
		return false
	}
	select {
	case <-s.watch.done:
		return false
	default:
		return true
	}
}

// killWatch sends sig to the watch process (the one we started, by pid) and
// waits until it is gone.
func (s *suite) killWatch(sig syscall.Signal, grace time.Duration) {
	w := s.watch
	if w == nil || !s.watchAlive() {
		return
	}
	_ = syscall.Kill(w.pid, sig)
	select {
	case <-w.done:
	case <-time.After(grace):
		_ = syscall.Kill(w.pid, syscall.SIGKILL)
		<-w.done
	}
}

func (s *suite) stopWatch() { s.killWatch(syscall.SIGTERM, 10*time.Second) }

// --- the control API -------------------------------------------------------

// apiClient asks the single watch (one base), or every watch node (several:
// see status).
type apiClient struct {
	bases []string
	token string
}

// status is the part of GET /v1/status the suite reads (its own type: the
// watch's is being rewritten).
type status struct {
	// Several watch nodes: the one that answered, the leader, and every node
	// as the answering one sees it.
	Node   string `json:"node"`
	Leader string `json:"leader"`
	Epoch  uint64 `json:"epoch"`
	Nodes  []struct {
		Name  string `json:"name"`
		State string `json:"state"` // Leader, Follower, Candidate, unreachable
		Term  uint64 `json:"term"`
		Error string `json:"error"`
	} `json:"nodes"`

	Mode          string `json:"mode"`
	Writer        string `json:"writer"`
	WriterVerdict string `json:"writer_verdict"`
	VerdictWhy    string `json:"writer_verdict_reason"`
	LastFailure   string `json:"last_failure"`
	Hosts         []struct {
		Name    string `json:"name"`
		State   string `json:"state"`
		Reason  string `json:"reason"`
		Problem string `json:"problem"`
		Fenced  bool   `json:"fenced"`
		Roles   []struct {
			Role string `json:"role"`
			IP   string `json:"ip"`
		} `json:"roles"`
	} `json:"hosts"`
	Events []struct {
		At      time.Time `json:"at"`
		Message string    `json:"message"`
		Kind    string    `json:"kind"`
	} `json:"events"`

	// receivedAt is when this answer arrived (with several watch nodes, the
	// poll may wait longer for the leader's).
	receivedAt time.Time
}

func (st *status) state(host string) string {
	if st == nil {
		return ""
	}
	for _, h := range st.Hosts {
		if h.Name == host {
			return h.State
		}
	}
	return ""
}

func (st *status) holds(host, ip string) bool {
	for _, h := range st.Hosts {
		if h.Name == host {
			for _, r := range h.Roles {
				if r.IP == ip {
					return true
				}
			}
		}
	}
	return false
}

func (st *status) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode %s writer %q verdict %s (%s) last_failure %q\n", st.Mode, st.Writer, st.WriterVerdict, st.VerdictWhy, st.LastFailure)
	if st.Node != "" {
		fmt.Fprintf(&b, "  answered by watch node %s, leader %q, epoch %d\n", st.Node, st.Leader, st.Epoch)
		for _, n := range st.Nodes {
			fmt.Fprintf(&b, "  node %s %s term %d %s\n", n.Name, n.State, n.Term, n.Error)
		}
	}
	for _, h := range st.Hosts {
		var roles []string
		for _, r := range h.Roles {
			roles = append(roles, r.Role+"("+r.IP+")")
		}
		fmt.Fprintf(&b, "  %s %s %v fenced=%v reason=%q problem=%q\n", h.Name, h.State, roles, h.Fenced, h.Reason, h.Problem)
	}
	ev := st.Events
	if len(ev) > 8 {
		ev = ev[len(ev)-8:]
	}
	for _, e := range ev {
		fmt.Fprintf(&b, "  event %s %s\n", e.At.Format("15:04:05.000"), e.Message)
	}
	return b.String()
}

var apiHTTP = &http.Client{Timeout: 2 * time.Second}

// status is GET /v1/status of the single watch; with several watch nodes,
// of all of them at once: the leader's own answer as soon as it comes (its
// view is the one that acts), else, once every node answered or failed, the
// first answer in the file's order.
func (a *apiClient) status(ctx context.Context) (*status, error) {
	if len(a.bases) == 1 {
		return a.statusAt(ctx, a.bases[0])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		i   int
		st  *status
		err error
	}
	ch := make(chan answer, len(a.bases))
	for i, b := range a.bases {
		go func() {
			st, err := a.statusAt(ctx, b)
			ch <- answer{i, st, err}
		}()
	}
	got := make([]answer, len(a.bases))
	for range a.bases {
		an := <-ch
		if an.err == nil && an.st.Leader != "" && an.st.Node == an.st.Leader {
			return an.st, nil
		}
		got[an.i] = an
	}
	var errs []string
	for _, an := range got {
		if an.err == nil {
			return an.st, nil
		}
		errs = append(errs, an.err.Error())
	}
	return nil, fmt.Errorf("no watch node answers: %s", strings.Join(errs, "; "))
}

func (a *apiClient) statusAt(ctx context.Context, base string) (*status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/status", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := apiHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/status: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var st status
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("GET /v1/status: %w", err)
	}
	st.receivedAt = time.Now()
	return &st, nil
}

// command POSTs a control command: to the single watch, or to the watch
// nodes in order until one takes it (a follower forwards it to the leader).
func (a *apiClient) command(verb string, body any) error {
	var err error
	for _, b := range a.bases {
		if err = a.commandAt(b, verb, body); err == nil {
			return nil
		}
	}
	return err
}

func (a *apiClient) commandAt(base, verb string, body any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, base+"/v1/"+verb, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /v1/%s: %s: %s", verb, resp.Status, bytes.TrimSpace(out))
	}
	return nil
}

// --- root over the sockets, VIPs over netlink ------------------------------

func (s *suite) socket(host string) string {
	return filepath.Join(s.l.Dir(), host, "mariadb.sock")
}

// socketDB opens root@localhost over host's UNIX socket (the lab's root has
// no password and is reachable only there).
func socketDB(path string, maxOpen int) *sql.DB {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = path
	cfg.Timeout = 500 * time.Millisecond
	cfg.ReadTimeout = 5 * time.Second
	cfg.WriteTimeout = 5 * time.Second
	cfg.InterpolateParams = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		panic(err) // a static configuration
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	return db
}

func (s *suite) root(host string) *sql.DB {
	s.rootMu.Lock()
	defer s.rootMu.Unlock()
	db := s.roots[host]
	if db == nil {
		db = socketDB(s.socket(host), 4)
		s.roots[host] = db
	}
	return db
}

// q reads one value over host's socket within timeout.
func (s *suite) q(host string, timeout time.Duration, query string, args ...any) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var v sql.NullString
	err := s.root(host).QueryRowContext(ctx, query, args...).Scan(&v)
	return v.String, err
}

func (s *suite) mustRoot(host string, stmts ...string) {
	s.t.Helper()
	for _, st := range stmts {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := s.root(host).ExecContext(ctx, st)
		cancel()
		if err != nil {
			s.t.Fatalf("%s on %s: %v", st, host, err)
		}
	}
}

// writableMasters reads read_only of each master over its socket; a master
// that does not answer within timeout counts as not writable.
func (s *suite) writableMasters(timeout time.Duration) []string {
	var out []string
	for _, m := range s.masters {
		if v, err := s.q(m, timeout, "SELECT @@global.read_only"); err == nil && v == "0" {
			out = append(out, m)
		}
	}
	return out
}

func (s *suite) handle(host string) (*netlink.Handle, error) {
	if h := s.nl[host]; h != nil {
		return h, nil
	}
	ns, err := netns.GetFromName(s.l.Namespace(host))
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, err
	}
	s.nl[host] = h
	return h, nil
}

// vipHolders lists the namespaces that carry the writer VIP now.
func (s *suite) vipHolders() []string {
	s.nlMu.Lock()
	defer s.nlMu.Unlock()
	var out []string
	for _, host := range s.hosts {
		h, err := s.handle(host)
		if err != nil {
			continue
		}
		addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if a.IP.String() == s.vip {
				out = append(out, host)
				break
			}
		}
	}
	return out
}

func (s *suite) closeAll() {
	s.rootMu.Lock()
	for _, db := range s.roots {
		db.Close()
	}
	s.roots = map[string]*sql.DB{}
	s.rootMu.Unlock()
	s.nlMu.Lock()
	for _, h := range s.nl {
		h.Close()
	}
	s.nl = map[string]*netlink.Handle{}
	s.nlMu.Unlock()
}

// appConnector reaches the writer VIP as the application account, with
// short timeouts as an application would set them.
func (s *suite) appConnector() driver.Connector {
	u := s.c.User("app", "%")
	if u == nil {
		s.t.Fatal("the lab file has no user app@%")
	}
	port := s.c.Host(s.masters[0]).Port
	cfg := mysql.NewConfig()
	cfg.User = u.Name
	cfg.Passwd = u.Password.Value()
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(s.vip, strconv.Itoa(port))
	cfg.Timeout = 400 * time.Millisecond
	cfg.ReadTimeout = 1500 * time.Millisecond
	cfg.WriteTimeout = 1500 * time.Millisecond
	cfg.InterpolateParams = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	return conn
}

// viaVIP asks the server behind the writer VIP, as the application, for its
// server_id and read_only.
func (s *suite) viaVIP() (uint32, bool, error) {
	db := sql.OpenDB(s.appConnector())
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var id uint32
	var ro int
	if err := db.QueryRowContext(ctx, "SELECT @@server_id, @@global.read_only").Scan(&id, &ro); err != nil {
		return 0, false, err
	}
	return id, ro == 0, nil
}

// --- processes of the lab ------------------------------------------------

func (s *suite) serverAlive(host string) bool { return s.l.ServerPID(host) > 0 }

// killServer sends sig to host's mariadbd (by the lab's pid).
func (s *suite) signalServer(host string, sig syscall.Signal) error {
	pid := s.l.ServerPID(host)
	if pid == 0 {
		return fmt.Errorf("no running mariadbd for %s", host)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("kill -%d %d (%s): %w", sig, pid, host, err)
	}
	if sig == syscall.SIGKILL {
		for deadline := time.Now().Add(5 * time.Second); s.l.ServerPID(host) == pid && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// restartServer starts host's mariadbd again on its data directory inside
// its namespace, without starting replication (a master back from a crash),
// as internal/watch's lab test does; the lab's teardown finds it by its pid
// file. It waits until the server answers on its socket.
func (s *suite) restartServer(host string) error {
	if s.serverAlive(host) {
		return nil
	}
	hs, err := s.l.HostState(host)
	if err != nil {
		return err
	}
	bin, err := exec.LookPath("mariadbd")
	if err != nil {
		bin = "/usr/sbin/mariadbd"
	}
	out, err := os.OpenFile(filepath.Join(hs.Dir, "mariadbd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command("ip", "netns", "exec", hs.Namespace, bin, "--defaults-file="+hs.DefaultsFile, "--skip-slave-start")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("restart %s: %w", host, err)
	}
	go func() { _ = cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := s.q(host, time.Second, "SELECT 1"); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%s did not come back within 60s: %v", host, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *suite) agentPID(host string) int {
	pids, err := s.l.AgentPIDs()
	if err != nil {
		return 0
	}
	if pid := pids[host]; pid > 0 && s.l.AgentAlive(host, pid) {
		return pid
	}
	return 0
}

func (s *suite) killAgent(host string) error {
	pid := s.agentPID(host)
	if pid == 0 {
		return fmt.Errorf("no running agent for %s", host)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Second); s.l.AgentAlive(host, pid) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// restartAgent starts host's agent with the command labtest.StartAgents
// used.
func (s *suite) restartAgent(host string) error {
	if s.agentPID(host) > 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.l.StartAgent(ctx, host, exec.Command(s.bin, "agent", "--config", s.agentCfg, "--host", host))
	return err
}

func (s *suite) ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (s *suite) setLink(host string, up bool) error {
	hs, err := s.l.HostState(host)
	if err != nil {
		return err
	}
	state := "down"
	if up {
		state = "up"
	}
	return s.ip("-n", hs.Namespace, "link", "set", hs.Interface, state)
}

var errUnhealthy = errors.New("not healthy")
