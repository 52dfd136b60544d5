package agent

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/clone"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/internal/vip"
)

// Addresses changes the host's network: package vip on Linux, a fake in tests.
type Addresses interface {
	List(ctx context.Context, iface string) ([]netip.Addr, error)
	Ensure(ctx context.Context, iface string, ip netip.Addr) (added bool, err error)
	Remove(ctx context.Context, iface string, ip netip.Addr) (removed bool, err error)
	// Announce sends ONE gratuitous ARP for ip and leaves nothing behind:
	// the agent schedules bursts and refreshes itself, so that it never
	// announces an address it dropped.
	Announce(ctx context.Context, iface string, ip netip.Addr) error
}

// LocalDB is the host's own server: the agent probes it and fences it.
type LocalDB interface {
	// Probe connects (the unix socket when known, else TCP) and reads the
	// server's greeting within timeout: ProbeOK, ProbeRefused, ProbeFrozen,
	// ProbeTimeout or ProbeError, and a detail for people.
	Probe(ctx context.Context, timeout time.Duration) (state, detail string)
	// Vars reads @@read_only and Uptime, on a kept connection.
	Vars(ctx context.Context) (ServerVars, error)
	// SetReadOnly sets read_only (super_read_only on MySQL) on a FRESH
	// connection. An error wrapping ErrServerDown means nothing listens.
	SetReadOnly(ctx context.Context) error
	// KillClientSessions kills every session but replication (the
	// replicas' binlog dump threads, the local replica threads), system
	// threads and its own, on a fresh connection; it returns how many.
	KillClientSessions(ctx context.Context) (int, error)
	// KillServer sends SIGKILL to the server process (from its pid file)
	// and returns once the process is gone.
	KillServer(ctx context.Context) error
}

// ServerVars is what the health loop reads over SQL.
type ServerVars struct {
	ReadOnly bool
	Uptime   time.Duration
}

// ErrServerDown: the server refuses connections (nothing listens).
var ErrServerDown = errors.New("server down: connection refused")

// Config is one agent.
type Config struct {
	Cluster *topology.Cluster
	Host    string // the host this agent runs on (a host block's name)
	Logger  *slog.Logger

	// Addresses defaults to package vip (the calling process's namespace).
	Addresses Addresses
	// DB defaults to the host's server: its unix socket when known (see
	// ServerDefaultsFile), else its address and port, as the admin account.
	DB LocalDB
	// Server lets the agent back up, stop and start its server for the
	// physical clone (GET /v1/backup, POST /v1/clone); nil: those answer 501.
	// Its Host is set to the agent's host.
	Server *clone.LocalServer

	// StateDir keeps agent-state.json (the highest grant epoch and the
	// mode). "" = Server.StateDir; when both are empty nothing is persisted
	// (tests only: an agent restarted then forgets the epoch).
	StateDir string
	// ServerDefaultsFile is the server's option file; the agent reads its
	// socket and pid-file there. "" = Server.DefaultsFile; when both are
	// empty it learns them from @@socket and @@pid_file.
	ServerDefaultsFile string
}

// MaxLease bounds a requested lease: a longer one defeats fencing.
const MaxLease = time.Hour

// opTimeout bounds one request's network changes.
const opTimeout = 10 * time.Second

// Agent serves one host's roles. Create it with New, start its background
// work (start-up fence, server health, lease backstop) with Start; Handler
// serves the API; Stop applies the shutdown rule.
type Agent struct {
	audit    roleAudit // audit.go
	cluster  *topology.Cluster
	host     *topology.Host
	log      *slog.Logger
	addrs    Addresses
	db       LocalDB
	tokenSum [sha256.Size]byte
	stateDir string
	now      func() time.Duration // the agent's clock (CLOCK_BOOTTIME)
	started  time.Time

	// declared maps every VIP of the cluster to its role: the only addresses
	// the agent ever adds or removes.
	declared map[netip.Addr]*topology.Role
	// fenceable: the host is in an exclusive role's hosts, so a fence sets
	// its server read_only (and, in kill mode, may stop it).
	fenceable bool
	killMode  bool // agent.fence is "kill" (the default)

	server   *clone.LocalServer
	peers    *Client // the other hosts' agents (the donor of a clone, witness probes)
	backupMu sync.Mutex
	cloneMu  sync.Mutex
	// cloneFrom is the donor of the running clone (authz.go: a donor
	// serves its backup only to the host that is cloning from it).
	cloneFrom cloneState

	// reqMu serialises the requests that change state (PUT /v1/roles,
	// POST /v1/fence) among themselves; it is never taken by the lease
	// timer, the health loop or a fence, which take mu only.
	reqMu sync.Mutex
	saved persisted // the state file's content; under reqMu (and Start)

	// mu guards the state below. It is held only for short, local work
	// (netlink, one ARP packet, bookkeeping), never across server I/O.
	mu        sync.Mutex
	mode      Mode
	lease     *leaseState
	epoch     uint64
	nonces    *nonces
	fencing   int    // fences in progress: no grant is accepted meanwhile
	fenceGen  uint64 // counts fences, so a request sees one that ran while it waited
	lastFence *FenceReport
	// lastGrant is when a watch's lease grant was last accepted (a.now; 0:
	// never): the failsafe answer (failsafe.go).
	lastGrant  time.Duration
	announcing map[netip.Addr]*announcer

	announceRefresh time.Duration

	fenceMu sync.Mutex // one fence's server steps at a time

	hmu    sync.Mutex // the health loop's results
	health healthState

	bgCancel context.CancelFunc
	bgDone   chan struct{}
}

type leaseState struct {
	holder  string
	ttl     time.Duration
	epoch   uint64
	end     time.Duration // on a.now: the nonce's issue time + ttl
	expired bool
	timer   *time.Timer
	// Failsafe (failsafe.go): the last confirmation keeps the roles until
	// failsafeUntil; checkTimer runs the next question.
	failsafeUntil   time.Duration
	failsafeRefused string
	inFailsafe      bool
	checkTimer      *time.Timer
}

// stopTimers stops ls's expiry and failsafe timers.
func (ls *leaseState) stopTimers() {
	if ls.timer != nil {
		ls.timer.Stop()
	}
	if ls.checkTimer != nil {
		ls.checkTimer.Stop()
	}
}

// New checks the configuration and returns an agent in static mode. It changes
// nothing.
func New(cfg Config) (*Agent, error) {
	c := cfg.Cluster
	if c == nil {
		return nil, errors.New("agent: no cluster")
	}
	h := c.Host(cfg.Host)
	if h == nil {
		names := make([]string, len(c.Hosts))
		for i, o := range c.Hosts {
			names[i] = o.Name
		}
		return nil, fmt.Errorf("agent: the topology has no host %q (hosts: %s)", cfg.Host, strings.Join(names, ", "))
	}
	if c.Agent.Token.Value() == "" {
		return nil, fmt.Errorf("agent: agent.token is empty (from %s): the agent refuses to run without a token", sourceOf(c.Agent.Token))
	}
	if h.Interface == "" {
		return nil, fmt.Errorf("agent: host %q has no interface for its VIPs: set interface in the host or defaults block", h.Name)
	}
	switch c.Agent.Fence {
	case "", topology.FenceKill, topology.FenceReadOnly:
	default:
		return nil, fmt.Errorf("agent: agent.fence %q: it must be %q or %q", c.Agent.Fence, topology.FenceKill, topology.FenceReadOnly)
	}
	a := &Agent{
		cluster:    c,
		host:       h,
		log:        cfg.Logger,
		addrs:      cfg.Addresses,
		db:         cfg.DB,
		tokenSum:   sha256.Sum256([]byte(c.Agent.Token.Value())),
		stateDir:   cfg.StateDir,
		now:        bootClock,
		started:    time.Now(),
		declared:   map[netip.Addr]*topology.Role{},
		killMode:   c.Agent.Fence != topology.FenceReadOnly,
		mode:       ModeStatic,
		nonces:     newNonces(),
		announcing: map[netip.Addr]*announcer{},

		announceRefresh: announceRefresh,
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With("cluster", c.Name, "host", h.Name)
	if a.addrs == nil {
		a.addrs = vipAddresses{}
	}
	defaultsFile := cfg.ServerDefaultsFile
	if cfg.Server != nil {
		if a.stateDir == "" {
			a.stateDir = cfg.Server.StateDir
		}
		if defaultsFile == "" {
			defaultsFile = cfg.Server.DefaultsFile
		}
	}
	if a.db == nil {
		a.db = newMySQL(c, h, defaultsFile, a.log)
	}
	if cfg.Server != nil {
		srv := *cfg.Server
		srv.Host = h
		if srv.Log == nil {
			srv.Log = a.log
		}
		a.server = &srv
	}
	a.peers = newPeers(c, h)
	for _, r := range c.Roles {
		for _, s := range r.IPs {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("agent: role %q: IP %q: %w", r.Name, s, err)
			}
			a.declared[ip] = r
		}
		if r.Mode == topology.RoleExclusive && slices.Contains(r.Hosts, h.Name) {
			a.fenceable = true
		}
	}
	return a, nil
}

func sourceOf(s topology.Secret) string {
	if s.Source == "" {
		return "the topology"
	}
	return s.Source
}

// vipAddresses is package vip behind the Addresses interface.
type vipAddresses struct{}

func (vipAddresses) List(ctx context.Context, iface string) ([]netip.Addr, error) {
	return vip.List(ctx, iface)
}
func (vipAddresses) Ensure(ctx context.Context, iface string, ip netip.Addr) (bool, error) {
	return vip.Ensure(ctx, iface, ip)
}
func (vipAddresses) Remove(ctx context.Context, iface string, ip netip.Addr) (bool, error) {
	return vip.Remove(ctx, iface, ip)
}
func (vipAddresses) Announce(ctx context.Context, iface string, ip netip.Addr) error {
	return vip.AnnounceOnce(ctx, iface, ip)
}

// Handler is the HTTP API. Every answer carries the protocol header; every
// request is checked for its protocol, then authenticated.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", a.handleStatus)
	mux.HandleFunc("PUT /v1/roles", a.handleSetRoles)
	mux.HandleFunc("POST /v1/fence", a.handleFence)
	mux.HandleFunc("POST /v1/witness", a.handleWitness)
	mux.HandleFunc("POST /v1/relay", a.handleRelay)
	mux.HandleFunc("POST /v1/failsafe", a.handleFailsafe)
	mux.HandleFunc("GET /v1/backup", a.handleBackup)
	mux.HandleFunc("POST /v1/clone", a.handleClone)
	mux.HandleFunc("GET /v1/clone", a.handleCloneSource)
	return a.protocol(a.authenticate(a.authorize(mux)))
}

// protocol stamps every answer with ProtocolHeader and refuses a request
// that names another protocol version. A request without the header is
// from an mmm older than protocol 2: accepted here (an old `mmm apply`'s
// static request still works), refused for leases by handleSetRoles.
func (a *Agent) protocol(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(ProtocolHeader, strconv.Itoa(ProtocolVersion))
		if v := r.Header.Get(ProtocolHeader); v != "" && v != strconv.Itoa(ProtocolVersion) {
			n, err := strconv.Atoi(v)
			upgrade := "upgrade mmm on the caller (watch, apply) to the agent's version"
			if err == nil && n < ProtocolVersion {
				upgrade = "upgrade mmm on the caller (watch, apply): it is older than this agent"
			} else if err == nil {
				upgrade = "upgrade mmm on host " + a.host.Name + " (this agent): it is older than the caller"
			}
			a.refuse(w, r, http.StatusBadRequest, fmt.Sprintf("protocol mismatch: the request speaks agent protocol %s, this agent (host %s) speaks %d: %s", v, a.host.Name, ProtocolVersion, upgrade))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate refuses a request without the cluster's bearer token. The
// comparison is constant-time over SHA-256 sums, so neither the token's
// content nor its length leaks through timing. Nothing of the header is logged.
func (a *Agent) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			a.refuse(w, r, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <agent.token>")
			return
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
			a.refuse(w, r, http.StatusUnauthorized, "wrong token: it must be the agent.token of cluster "+a.cluster.Name)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), authenticated{}, true))
		next.ServeHTTP(w, r)
	})
}

type authenticated struct{}

// refuse answers an error. Answers to authenticated requests carry a fresh
// nonce, so a watch whose grant was refused can retry at once.
func (a *Agent) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if code == http.StatusConflict {
		a.log.Warn("stale grant refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "status", code, "reason", msg)
	} else {
		a.log.Warn("request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "status", code, "reason", msg)
	}
	writeJSON(w, code, errorBody{Error: msg, Nonce: a.errorNonce(r)})
}

func (a *Agent) errorNonce(r *http.Request) string {
	if ok, _ := r.Context().Value(authenticated{}).(bool); !ok {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nonces.issue(a.now())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *Agent) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	a.mu.Lock()
	st, err := a.status(ctx)
	a.mu.Unlock()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *Agent) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
	writeJSON(w, http.StatusInternalServerError, errorBody{Error: err.Error(), Nonce: a.errorNonce(r)})
}

// requestError is a refused request: its status code and why.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) *requestError {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *requestError {
	return &requestError{http.StatusForbidden, fmt.Sprintf(format, args...)}
}

// notOurCluster refuses a request naming another cluster than this agent's.
func (a *Agent) notOurCluster(cluster string) *requestError {
	if cluster == a.cluster.Name {
		return nil
	}
	return forbidden("this agent serves cluster %q, not %q", a.cluster.Name, cluster)
}

// maxBody bounds a request body; a full role set is a few hundred bytes.
const maxBody = 64 << 10

// decode reads one JSON value into v, refusing unknown fields and trailing data.
func decode(w http.ResponseWriter, r *http.Request, v any) *requestError {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("malformed JSON: %s", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("malformed JSON: more than one value in the body")
	}
	return nil
}

func (a *Agent) handleSetRoles(w http.ResponseWriter, r *http.Request) {
	var req SetRolesRequest
	if rerr := decode(w, r, &req); rerr != nil {
		a.refuse(w, r, rerr.code, rerr.msg)
		return
	}
	if req.Lease != nil && r.Header.Get(ProtocolHeader) == "" {
		a.refuse(w, r, http.StatusBadRequest, fmt.Sprintf(
			"protocol mismatch: a lease request without %s is from a watch of agent protocol 1, this agent (host %s) speaks %d: upgrade mmm on the watch host(s)",
			ProtocolHeader, a.host.Name, ProtocolVersion))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	st, rerr, err := a.setRoles(ctx, &req)
	switch {
	case rerr != nil:
		a.refuse(w, r, rerr.code, rerr.msg)
	case err != nil:
		a.fail(w, r, err)
	default:
		a.auditRoles(r, st)
		writeJSON(w, http.StatusOK, st)
	}
}

// setRoles is PUT /v1/roles after decoding: validation, the grant rules for
// a lease, the epoch persisted before anything changes, then the change.
func (a *Agent) setRoles(ctx context.Context, req *SetRolesRequest) (*Status, *requestError, error) {
	want, rerr := a.validate(req)
	if rerr != nil {
		return nil, rerr, nil
	}
	a.reqMu.Lock()
	defer a.reqMu.Unlock()

	l := req.Lease
	if l == nil {
		a.mu.Lock()
		if err := a.reconcile(ctx, want); err != nil {
			a.mu.Unlock()
			return nil, nil, err
		}
		a.setStatic()
		st, err := a.status(ctx)
		a.mu.Unlock()
		// Persisted after the change: a crash before this write leaves
		// "lease" in the file, and the restarted agent fences (the safe side).
		if a.saved.Mode == ModeLease {
			next := a.saved
			next.Mode, next.Updated = ModeStatic, time.Now().UTC()
			if perr := saveState(a.stateDir, next); perr != nil {
				a.log.Error("cannot persist static mode", "dir", a.stateDir, "err", perr)
			} else {
				a.saved = next
			}
		}
		return st, nil, err
	}

	ttl := time.Duration(l.TTL)
	a.mu.Lock()
	issued, rerr := a.checkGrant(l.Epoch, l.Nonce, ttl)
	gen := a.fenceGen
	a.mu.Unlock()
	if rerr != nil {
		return nil, rerr, nil
	}
	// The epoch and the mode are on disk before the agent acts on them.
	if err := a.persist(l.Epoch, ModeLease, l.Holder); err != nil {
		return nil, nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fenceGen != gen || a.fencing > 0 {
		return nil, staleGrant("the agent fenced while the grant was checked (nonce issued before the fence)"), nil
	}
	now := a.now()
	end := issued + ttl
	if end <= now {
		return nil, staleGrant("nonce issued %s ago, lease is %s: the lease ended before it could start", roundDur(now-issued), ttl), nil
	}
	a.nonces.consume(l.Nonce)
	a.epoch = max(a.epoch, l.Epoch)
	a.lastGrant = now
	if err := a.reconcile(ctx, want); err != nil {
		return nil, nil, err
	}
	a.setLease(l, end)
	st, err := a.status(ctx)
	return st, nil, err
}

// persist writes the state file if epoch or mode changes it. Called with
// reqMu held.
func (a *Agent) persist(epoch uint64, mode Mode, holder string) error {
	if epoch <= a.saved.Epoch && mode == a.saved.Mode {
		return nil
	}
	next := persisted{Epoch: max(epoch, a.saved.Epoch), Mode: mode, Holder: holder, Updated: time.Now().UTC()}
	if err := saveState(a.stateDir, next); err != nil {
		return fmt.Errorf("persist grant epoch %d in %s: %w (nothing was changed)", epoch, a.stateDir, err)
	}
	if next.Epoch > a.saved.Epoch {
		a.log.Info("grant epoch persisted", "epoch", next.Epoch, "previous", a.saved.Epoch)
	}
	a.saved = next
	return nil
}

// validate checks a request against the file and returns the wanted VIPs.
func (a *Agent) validate(req *SetRolesRequest) (map[netip.Addr]*topology.Role, *requestError) {
	if rerr := a.notOurCluster(req.Cluster); rerr != nil {
		return nil, rerr
	}
	if req.Host != a.host.Name {
		return nil, forbidden("this agent is host %q, not %q", a.host.Name, req.Host)
	}
	if req.Lease != nil {
		if ttl := time.Duration(req.Lease.TTL); ttl <= 0 || ttl > MaxLease {
			return nil, badRequest("lease ttl %s: it must be more than 0 and at most %s", ttl, MaxLease)
		}
	}
	want := map[netip.Addr]*topology.Role{}
	for _, ri := range req.Roles {
		ip, err := netip.ParseAddr(ri.IP)
		if err != nil || !ip.Is4() {
			return nil, badRequest("role %q: %q is not an IPv4 address", ri.Role, ri.IP)
		}
		role := a.cluster.Role(ri.Role)
		if role == nil {
			return nil, forbidden("role %q is not declared in cluster %q", ri.Role, a.cluster.Name)
		}
		if !slices.Contains(role.Hosts, a.host.Name) {
			return nil, forbidden("role %q may not be held by host %q (its hosts: %s)", role.Name, a.host.Name, strings.Join(role.Hosts, ", "))
		}
		if !slices.Contains(role.IPs, ip.String()) {
			return nil, forbidden("IP %s is not a VIP of role %q (its IPs: %s)", ip, role.Name, strings.Join(role.IPs, ", "))
		}
		if _, dup := want[ip]; dup {
			return nil, badRequest("IP %s is requested twice", ip)
		}
		want[ip] = role
	}
	return want, nil
}

// held returns the declared VIPs on the host's interface.
func (a *Agent) held(ctx context.Context) ([]netip.Addr, error) {
	addrs, err := a.addrs.List(ctx, a.host.Interface)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ip := range addrs {
		if _, ok := a.declared[ip]; ok {
			out = append(out, ip)
		}
	}
	return out, nil
}

// reconcile makes the interface hold exactly want among the cluster's VIPs:
// releases first, then additions, each new address announced. Called with
// mu held.
func (a *Agent) reconcile(ctx context.Context, want map[netip.Addr]*topology.Role) error {
	iface := a.host.Interface
	held, err := a.held(ctx)
	if err != nil {
		return err
	}
	for _, ip := range held {
		if _, keep := want[ip]; keep {
			continue
		}
		a.stopAnnouncing(ip)
		removed, err := a.addrs.Remove(ctx, iface, ip)
		if err != nil {
			return err
		}
		if removed {
			a.log.Info("VIP released", "ip", ip, "role", a.declared[ip].Name, "interface", iface)
		}
	}
	for _, ip := range sortedAddrs(want) {
		added, err := a.addrs.Ensure(ctx, iface, ip)
		if err != nil {
			return err
		}
		if added {
			a.log.Info("VIP assigned", "ip", ip, "role", want[ip].Name, "interface", iface)
		}
		a.startAnnouncing(ip, want[ip].Mode == topology.RoleExclusive, added)
	}
	return nil
}

func sortedAddrs(m map[netip.Addr]*topology.Role) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for ip := range m {
		out = append(out, ip)
	}
	slices.SortFunc(out, func(x, y netip.Addr) int { return x.Compare(y) })
	return out
}

// setStatic ends lease mode (a request without a lease). Called with mu held.
func (a *Agent) setStatic() {
	if a.lease != nil {
		a.lease.stopTimers()
	}
	if a.mode == ModeLease {
		holder := ""
		if a.lease != nil {
			holder = a.lease.holder
		}
		a.log.Info("static mode: VIPs stay until the next request", "previous_holder", holder)
	}
	a.mode, a.lease = ModeStatic, nil
}

// setLease applies an accepted lease, which ends at end (the nonce's issue
// time + TTL). Called with mu held.
func (a *Agent) setLease(l *Lease, end time.Duration) {
	if a.lease != nil {
		if a.lease.inFailsafe {
			a.log.Info("failsafe ends: a watch renews the lease again", "holder", l.Holder, "epoch", l.Epoch)
		}
		a.lease.stopTimers()
	}
	ttl := time.Duration(l.TTL)
	ls := &leaseState{holder: l.Holder, ttl: ttl, epoch: l.Epoch, end: end}
	if !a.leaseValid() {
		a.log.Info("lease mode: exclusive VIPs held while the lease is renewed", "holder", l.Holder, "ttl", ttl, "epoch", l.Epoch, "ends_in", roundDur(end-a.now()))
	} else {
		a.log.Debug("lease renewed", "holder", l.Holder, "ttl", ttl, "epoch", l.Epoch, "ends_in", roundDur(end-a.now()))
	}
	ls.timer = time.AfterFunc(end-a.now(), func() { a.expire(ls) })
	a.mode, a.lease = ModeLease, ls
	a.scheduleFailsafe(ls)
}

// leaseValid: lease mode with a lease that has not run out. Called with mu held.
func (a *Agent) leaseValid() bool {
	return a.mode == ModeLease && a.lease != nil && !a.lease.expired && a.now() < a.lease.end
}

// expire runs when ls ran out without renewal (its timer, or the health
// loop's backstop after a suspend).
func (a *Agent) expire(ls *leaseState) {
	a.mu.Lock()
	if a.lease != ls || ls.expired { // renewed or replaced meanwhile
		a.mu.Unlock()
		return
	}
	if left := ls.holdsUntil() - a.now(); left > 0 {
		// A timer that fired early, or every other agent confirmed that no
		// watch acts and nobody else holds the role (failsafe.go).
		if a.now() >= ls.end && !ls.inFailsafe {
			ls.inFailsafe = true
			a.log.Warn("failsafe: no watch renewed the lease; the exclusive roles stay while every other agent confirms that no watch acts and nobody else holds them",
				"holder", ls.holder, "epoch", ls.epoch, "confirmed_for", roundDur(left))
		}
		ls.timer = time.AfterFunc(left, func() { a.expire(ls) })
		a.mu.Unlock()
		return
	}
	why := "lease expired without renewal"
	if ls.failsafeRefused != "" {
		why += "; failsafe not confirmed: " + ls.failsafeRefused
	}
	if ls.inFailsafe {
		why = "failsafe confirmation ran out: no other confirmation came in time"
		if ls.failsafeRefused != "" {
			why = "failsafe confirmation ran out: " + ls.failsafeRefused
		}
	}
	run := a.fenceStart(fenceOpts{why: why, dropVIPs: true, kill: killIfFailed})
	a.mu.Unlock()
	a.fenceFinish(run)
}

// Stop applies the shutdown rule: in lease mode with a valid lease the agent
// fences now (drops the exclusive VIPs and sets read_only, escalating as a
// lease expiry does), because a watch will fail the role over once the lease
// it can no longer renew runs out, and the VIP must not outlive the agent
// that guards it. In static mode the VIPs stay: restarting or upgrading the
// agent must not take the service down. Background work ends.
func (a *Agent) Stop() {
	a.mu.Lock()
	var run *fenceRun
	if a.leaseValid() {
		run = a.fenceStart(fenceOpts{why: "agent stopping while holding a lease", dropVIPs: true, kill: killIfFailed})
	} else if a.mode == ModeLease {
		a.log.Info("agent stopping; no valid lease, nothing held to fence")
	} else {
		a.log.Info("agent stopping; VIPs stay (static mode)")
	}
	for ip := range a.announcing {
		a.stopAnnouncing(ip)
	}
	a.mu.Unlock()
	if run != nil {
		a.fenceFinish(run)
	}
	if a.bgCancel != nil {
		a.bgCancel()
		<-a.bgDone
	}
}

// status is the agent's state with the VIPs read from the interface and a
// fresh nonce. Called with mu held; it never waits on the server.
func (a *Agent) status(ctx context.Context) (*Status, error) {
	held, err := a.held(ctx)
	if err != nil {
		return nil, err
	}
	now := a.now()
	st := &Status{Cluster: a.cluster.Name, Host: a.host.Name, Mode: a.mode, Roles: []HeldRole{},
		Protocol: ProtocolVersion, Epoch: a.epoch}
	slices.SortFunc(held, func(x, y netip.Addr) int { return x.Compare(y) })
	for _, ip := range held {
		st.Roles = append(st.Roles, HeldRole{Role: a.declared[ip].Name, IP: ip.String(), Interface: a.host.Interface})
	}
	if l := a.lease; l != nil && a.mode == ModeLease {
		left := l.end - now
		ls := &LeaseStatus{Holder: l.holder, TTL: Duration(l.ttl), Expires: time.Now().Add(left).UTC(), Expired: l.expired || left <= 0,
			Failsafe: l.inFailsafe && !l.expired}
		if left > 0 && !ls.Expired {
			ls.ExpiresIn = Duration(left)
		}
		st.Lease = ls
	}
	if f := a.lastFence; f != nil {
		c := *f
		c.Ago = Duration(time.Since(f.At))
		st.Fence = &c
	}
	a.fillHealth(st, now)
	st.Nonce = a.nonces.issue(now)
	return st, nil
}
