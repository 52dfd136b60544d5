// Package lab runs a local test cluster of real MariaDB servers: for every host of
// a topology, a Linux network namespace attached by a veth pair to a bridge, with
// the host's address, and a mariadbd inside it with a fresh data directory. The
// root namespace takes x.y.z.1 on the bridge and plays the monitor host.
//
// A lab is one /24 inside 198.18.0.0/15 and names everything after it (bridge
// "mmm18-0", namespaces "mmm18-0-<host>", veths "mmm18-0v<last octet>", state in
// <dir>/mmm18-0), so labs on different /24s run side by side.
//
// The monitor's node blocks (several watch nodes) get namespaces too, named
// "mmm18-0-watch-<node>", except a node on x.y.z.1, which runs in the root
// namespace (watchnodes.go).
//
// The lab prepares what replication needs (server_id, binary log,
// log_slave_updates, GTID strict mode) and the admin account, and starts every
// server fenced (read_only = ON), as production servers must; replication,
// other accounts and lifting read_only on the writer are `mmm apply`'s job.
package lab

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// DefaultDir is where labs keep their state unless MMM_LAB_DIR says otherwise.
const DefaultDir = "/var/tmp/mmm-lab"

// Options tune a lab.
type Options struct {
	// Dir is the parent of every lab's state dir; "" = $MMM_LAB_DIR or DefaultDir.
	Dir string
	// StartTimeout bounds one server's start until it answers SQL; 0 = 60s.
	StartTimeout time.Duration
	// StopTimeout is how long a server gets after SIGTERM before SIGKILL; 0 = 20s.
	StopTimeout time.Duration
	Logger      *slog.Logger
}

// Lab is the lab of one topology.
type Lab struct {
	cluster *topology.Cluster
	subnet  netip.Prefix
	id      string
	dir     string
	opts    Options
	log     *slog.Logger
	// watches are the watch nodes (or the single watch) and where each runs.
	watches []watchNode
	// watchMu serialises the read-modify-write of the watches' record.
	watchMu sync.Mutex
}

// New checks that the cluster can be a lab (addresses in 198.18.0.0/15, one /24)
// and returns it; it changes nothing on the machine.
func New(c *topology.Cluster, opts Options) (*Lab, error) {
	subnet, err := labSubnet(c)
	if err != nil {
		return nil, err
	}
	for _, h := range c.Hosts {
		if h.Admin.User == "" {
			return nil, fmt.Errorf("host %q has no admin account: the lab creates defaults.admin (user and password) on every server", h.Name)
		}
	}
	if opts.Dir == "" {
		opts.Dir = os.Getenv("MMM_LAB_DIR")
	}
	if opts.Dir == "" {
		opts.Dir = DefaultDir
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 20 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	id := labID(subnet)
	dir, err := filepath.Abs(filepath.Join(opts.Dir, id))
	if err != nil {
		return nil, err
	}
	// The server's socket path must fit a sockaddr_un (108 bytes).
	for _, h := range c.Hosts {
		if n := len(filepath.Join(dir, h.Name, "mariadb.sock")); n > 100 {
			return nil, fmt.Errorf("host %q: the socket path under %s is %d characters, more than a Unix socket allows: set MMM_LAB_DIR to a shorter directory", h.Name, dir, n)
		}
	}
	watches, err := planWatchNodes(c, id, subnet)
	if err != nil {
		return nil, err
	}
	return &Lab{cluster: c, subnet: subnet, id: id, dir: dir, opts: opts, log: opts.Logger.With("lab", id), watches: watches}, nil
}

// ID is the lab's name, also its bridge's ("mmm18-0").
func (l *Lab) ID() string { return l.id }

// Subnet is the lab's /24.
func (l *Lab) Subnet() netip.Prefix { return l.subnet }

// Bridge is the name of the lab's bridge.
func (l *Lab) Bridge() string { return l.id }

// MonitorAddress is the root namespace's address on the bridge (x.y.z.1).
func (l *Lab) MonitorAddress() netip.Addr { return l.subnet.Addr().Next() }

// Dir is the lab's state dir.
func (l *Lab) Dir() string { return l.dir }

// Cluster is the topology the lab was made from.
func (l *Lab) Cluster() *topology.Cluster { return l.cluster }

// Namespace is the name of a host's network namespace.
func (l *Lab) Namespace(host string) string { return namespaceName(l.id, host) }

// Check reports why this machine cannot run a lab (not root, mariadbd missing),
// or nil.
func Check() error {
	if os.Geteuid() != 0 {
		return errNotRoot
	}
	for _, p := range []string{"mariadbd", "mariadb-install-db"} {
		if _, err := findProgram(p); err != nil {
			return err
		}
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("this kernel has no network namespaces: %w", err)
	}
	return nil
}

// HostResult is one host after Up.
type HostResult struct {
	Name     string
	Address  string
	Port     int
	ServerID uint32
	PID      int
	Kept     bool          // it already ran and answered; Up left it alone
	Took     time.Duration // from the start of Up until it answered SQL
}

// Up builds the lab: every host that is not already running and healthy is
// (re)built from scratch, and leftovers of a crashed run are removed first. It
// returns the hosts in file order.
func (l *Lab) Up(ctx context.Context) ([]HostResult, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab state dir: %w", err)
	}
	unlock, err := l.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()

	old, err := readState(l.dir)
	if err != nil {
		return nil, err
	}
	want := l.desiredState()

	// Which hosts run already, healthy and as declared?
	kept := map[string]bool{}
	if old != nil {
		for _, h := range want.Hosts {
			o := old.host(h.Name)
			if o == nil || o.Address != h.Address || o.Port != h.Port || o.ServerID != h.ServerID || o.Dir != h.Dir || o.Interface != h.Interface {
				continue
			}
			pid := o.livePID()
			if pid == 0 || !namespaceExists(o.Namespace) {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			id, err := QueryServerID(cctx, h.Address, h.Port, l.admin(h.Name))
			cancel()
			if err == nil && id == h.ServerID {
				h.PID = pid
				kept[h.Name] = true
			}
		}
	}

	keptWatch := keptWatchNodes(old, want)

	// Clear everything of this lab that is not a kept host or watch node.
	if err := l.cleanup(old, kept, keptWatch); err != nil {
		return nil, err
	}
	if err := ensureBridge(l.Bridge(), netip.PrefixFrom(l.MonitorAddress(), 24)); err != nil {
		return nil, err
	}
	// The watch nodes' namespaces first: quick, and a failure is recorded
	// below with the rest, so Down still finds what was made.
	watchErr := l.upWatchNetworks(want, keptWatch)

	results := make([]HostResult, len(want.Hosts))
	errs := make([]error, len(want.Hosts))
	var wg sync.WaitGroup
	for i, h := range want.Hosts {
		if kept[h.Name] {
			results[i] = l.result(h, true, 0)
			l.log.Debug("host already running", "host", h.Name, "pid", h.PID)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.upHost(ctx, h)
			results[i] = l.result(h, false, time.Since(start))
		}()
	}
	wg.Wait()
	// Record what runs, also after a partial failure, so Down finds every pid.
	if err := writeState(l.dir, want); err != nil {
		return nil, err
	}
	if err := errors.Join(append(errs, watchErr)...); err != nil {
		return results, err
	}
	return results, nil
}

func (l *Lab) result(h *HostState, kept bool, took time.Duration) HostResult {
	return HostResult{Name: h.Name, Address: h.Address, Port: h.Port, ServerID: h.ServerID, PID: h.PID, Kept: kept, Took: took}
}

func (l *Lab) upHost(ctx context.Context, h *HostState) error {
	addr := netip.MustParseAddr(h.Address)
	if err := createHostNetwork(h.Namespace, l.Bridge(), h.Veth, h.Interface, netip.PrefixFrom(addr, 24)); err != nil {
		return fmt.Errorf("lab host %s: %w", h.Name, err)
	}
	if err := installDataDir(ctx, h); err != nil {
		return err
	}
	if err := startServer(h); err != nil {
		return err
	}
	admin := l.admin(h.Name)
	if err := waitReady(ctx, h, admin, l.opts.StartTimeout, true); err != nil {
		return err
	}
	if err := createAdmin(ctx, h, admin); err != nil {
		return err
	}
	return waitReady(ctx, h, admin, l.opts.StartTimeout, false)
}

func (l *Lab) admin(host string) topology.Account {
	if h := l.cluster.Host(host); h != nil {
		return h.Admin
	}
	return topology.Account{}
}

// desiredState is the state the lab will have after Up (pids filled in later).
func (l *Lab) desiredState() *State {
	s := &State{
		ID:      l.id,
		Subnet:  l.subnet.String(),
		Bridge:  l.Bridge(),
		Monitor: l.MonitorAddress().String(),
		// Recorded also when a node's network could not be made, so a
		// later Up or Down knows the names.
		WatchNodes: l.watchNodeStates(),
	}
	for _, h := range l.cluster.Hosts {
		dir := filepath.Join(l.dir, h.Name)
		s.Hosts = append(s.Hosts, &HostState{
			Name:         h.Name,
			Namespace:    namespaceName(l.id, h.Name),
			Veth:         vethName(l.id, netip.MustParseAddr(h.Address)),
			Interface:    interfaceName(h),
			Address:      h.Address,
			Port:         h.Port,
			ServerID:     l.cluster.ServerIDFor(h),
			Dir:          dir,
			DefaultsFile: filepath.Join(dir, "my.cnf"),
			TLSDir:       l.cluster.TLS.Dir,
		})
	}
	return s
}

// cleanup stops and removes everything of this lab except the kept hosts and
// watch nodes: the servers recorded in old state (by pid), then every
// namespace and veth named after the lab (also those a crashed run never
// recorded), and stale host dirs.
func (l *Lab) cleanup(old *State, kept, keptWatch map[string]bool) error {
	var errs []error
	keptNS := map[string]bool{}
	keptVeth := map[string]bool{}
	if old != nil {
		for _, o := range old.Hosts {
			if kept[o.Name] {
				keptNS[o.Namespace], keptVeth[o.Veth] = true, true
				continue
			}
			pid := o.livePID()
			if err := stopProcess(pid, l.opts.StopTimeout, func() bool { return serverAlive(pid, o.DefaultsFile) }); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", o.Name, err))
			}
		}
		for _, o := range old.WatchNodes {
			if keptWatch[o.Name] {
				keptNS[o.Namespace], keptVeth[o.Veth] = true, true
			}
		}
	}
	for _, ns := range labNamespaces(l.id) {
		if keptNS[ns] {
			continue
		}
		if err := deleteNamespace(ns, l.opts.StopTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	for _, link := range labLinks(l.id) {
		if link == l.Bridge() || keptVeth[link] {
			continue
		}
		if err := deleteLink(link); err != nil {
			errs = append(errs, err)
		}
	}
	// Directories of hosts that are gone or will be rebuilt, and the
	// watches' state unless a watch still runs on it (a fresh lab gets no
	// raft log of an old one).
	keepWatchDir := anyWatchAlive(l.dir)
	entries, _ := os.ReadDir(l.dir)
	for _, e := range entries {
		if e.Name() == WatchDirName && keepWatchDir {
			continue
		}
		if e.IsDir() && !kept[e.Name()] && e.Name() != TLSDirName {
			if err := os.RemoveAll(filepath.Join(l.dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Down stops every server and watch of the lab by the pid it recorded
// (SIGTERM, then SIGKILL after StopTimeout), deletes the namespaces (the
// hosts' and the watch nodes'), veths and bridge, and removes the state dir.
// A lab that is not there is no error.
func (l *Lab) Down(ctx context.Context) error {
	return down(l.dir, l.id, l.opts.StopTimeout)
}

// DownDir tears down the lab whose state dir is dir, without its topology (the
// test helper's reaper uses it after a crash).
func DownDir(dir string) error {
	s, err := readState(dir)
	if err != nil {
		return err
	}
	id := filepath.Base(dir)
	if s != nil {
		id = s.ID
	}
	return down(dir, id, 20*time.Second)
}

func down(dir, id string, grace time.Duration) error {
	if os.Geteuid() != 0 {
		return errNotRoot
	}
	s, err := readState(dir)
	if err != nil {
		return err
	}
	// The watches first: they act on the servers, and one in the root
	// namespace is found by nothing but its record.
	errs := []error{stopRecordedWatches(dir, grace)}
	if s != nil {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, h := range s.Hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pid := h.livePID()
				if err := stopProcess(pid, grace, func() bool { return serverAlive(pid, h.DefaultsFile) }); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("stop %s: %w", h.Name, err))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	for _, ns := range labNamespaces(id) {
		if err := deleteNamespace(ns, grace); err != nil {
			errs = append(errs, err)
		}
	}
	links := labLinks(id)
	// Veths first, the bridge last.
	slices.SortFunc(links, func(a, b string) int {
		if a == id {
			return 1
		}
		if b == id {
			return -1
		}
		return 0
	})
	for _, link := range links {
		if err := deleteLink(link); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // keep the state dir: it names what is left
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove lab state dir: %w", err)
	}
	return nil
}

// HostStatus is one host as Status sees it.
type HostStatus struct {
	Name      string
	Namespace string
	Address   string
	Port      int
	PID       int // 0 = not running
	ServerID  uint32
	Answers   bool   // SELECT @@server_id over TCP as the admin worked
	Error     string // why it does not answer
}

// Status reports every host of the topology: its namespace, address, pid and
// whether it answers SQL.
func (l *Lab) Status(ctx context.Context) ([]HostStatus, error) {
	s, err := readState(l.dir)
	if err != nil {
		return nil, err
	}
	want := l.desiredState()
	out := make([]HostStatus, len(want.Hosts))
	var wg sync.WaitGroup
	for i, h := range want.Hosts {
		st := HostStatus{Name: h.Name, Namespace: h.Namespace, Address: h.Address, Port: h.Port}
		if s != nil {
			if o := s.host(h.Name); o != nil {
				st.PID = o.livePID()
			}
		}
		out[i] = st
		if st.PID == 0 {
			out[i].Error = "not running"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := QueryServerID(ctx, h.Address, h.Port, l.admin(h.Name))
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].Answers, out[i].ServerID = true, id
		}()
	}
	wg.Wait()
	return out, nil
}

// lock serialises Up runs of one lab (two `mmm lab up` at once would fight over
// the same names).
func (l *Lab) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(l.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock lab %s: %w", l.id, err)
	}
	return func() { f.Close() }, nil
}

// DB opens a connection pool to a host as the admin, over TCP at its address
// (through the bridge). The caller closes it.
func (l *Lab) DB(host string) (*sql.DB, error) {
	h := l.cluster.Host(host)
	if h == nil {
		return nil, fmt.Errorf("lab %s has no host %q", l.id, host)
	}
	return openDB(AdminConfig(h.Address, h.Port, h.Admin))
}
