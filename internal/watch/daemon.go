package watch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/gtid"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// Mode is how much the watch does, as MMM's.
type Mode string

const (
	// ModeActive: checks, states, role moves and automatic failover.
	ModeActive Mode = "active"
	// ModeManual: checks and states; roles move only when the operator says
	// (move-role, set-offline); no automatic failover.
	ModeManual Mode = "manual"
	// ModePassive: checks and states only; nothing is changed. Leases the
	// agents hold are still renewed as they are, so going passive never
	// drops a VIP.
	ModePassive Mode = "passive"
)

// ParseMode reads a mode name.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeActive, ModeManual, ModePassive:
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown mode %q: want active, passive or manual", s)
}

// Agents is what the watch needs of the agent client.
type Agents interface {
	Status(ctx context.Context, host string) (*agent.Status, error)
	SetRoles(ctx context.Context, host string, roles []agent.RoleIP, lease *agent.Lease) (*agent.Status, error)
	Fence(ctx context.Context, host string, req agent.FenceRequest) (*agent.Status, error)
	Witness(ctx context.Context, witness string, targets []string, timeout time.Duration) (*agent.WitnessReport, error)
}

// Config is one watch.
type Config struct {
	Cluster *topology.Cluster
	// Inspect reads the servers and, when the cluster has agents, which VIPs
	// each host holds (live.Agents, live.VIPs).
	Inspect func(ctx context.Context) *topology.Live
	// NewReader returns the reader one probe loop keeps for its host
	// (inspect.Reader: one kept connection, Health every check period, Full
	// every reconcile period); nil reads through Inspect.
	NewReader func(host string) HostReader
	// FailoverDBs opens fresh connections for one failover or switchover
	// (short connect timeout, no pooled connection that died with a host);
	// nil uses DBs. The watch closes what it returns.
	FailoverDBs func() apply.Databases
	// DBs are the connections the mysql check and plan execution use.
	DBs apply.Databases
	// Agents is nil when the cluster has no agents: then no VIP is moved.
	Agents Agents
	Logger *slog.Logger
	// StateFile overrides monitor.state_file ("" keeps it; "-" none).
	StateFile string
	// Holder names this watch in the agents' leases.
	Holder string
	// PingNetwork checks one of monitor.ping_ips; nil uses ICMP echo.
	PingNetwork func(ctx context.Context, ip string, timeout time.Duration) error
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// StepTimeout bounds one plan step (default 30s).
	StepTimeout time.Duration
	// InitialMode is the mode when the state file names none ("" active).
	InitialMode Mode
	// Raft makes this watch one of several nodes (raft.go); nil: the only
	// watch, with its state file.
	Raft Replicator
	// PeerTLS is how a node speaks to the other nodes' control API (the
	// monitor certificate); nil without a tls block.
	PeerTLS *tls.Config
}

// HostReader reads one server for its probe loop.
type HostReader interface {
	// Health reads what a round acts on: read_only, GTID positions,
	// semi-sync, uptime, the replica status.
	Health(ctx context.Context) *topology.LiveHost
	// Full adds what only the reconcile diffs (schemas, heartbeat); never
	// the accounts.
	Full(ctx context.Context) *topology.LiveHost
	Close()
}

// Watch is the monitor. Create it with New, then Run it.
type Watch struct {
	cfg     Config
	c       *topology.Cluster
	log     *slog.Logger
	tracker *Tracker
	machine *Machine
	metrics *metrics
	facts   *factStore

	// writerName mirrors writer for the probe loops, which never take mu.
	writerMu   sync.Mutex
	writerName string
	// epoch stamps every grant (docs/watch.md, "Grants"): persisted, bumped
	// at every start, failover and switchover.
	epoch atomic.Uint64
	// netOK: one of monitor.ping_ips answered lately (the network loop).
	netOK atomic.Bool
	// customResults: results of custom checks not yet recorded by a round.
	customMu      sync.Mutex
	customResults map[[2]string]Result
	// changed: when the watch last changed each host (executed a step on
	// it); facts older than that are not acted on.
	changed map[string]time.Time
	// lastReport and busy let Status answer while a failover holds mu.
	busyMu     sync.Mutex
	lastReport Report
	busy       string
	// agentDown: hosts whose agent was reported not answering.
	agentDown map[string]bool
	// agentsUpAtStart: hosts whose agent answered the previous watch
	// process when it last saved its state.
	agentsUpAtStart map[string]bool

	// acting: a node that leads and finished its takeover (raft.go).
	acting atomic.Bool
	// renewKick renews each host's lease at once (a new leader).
	renewKick map[string]chan struct{}
	// peerHTTP reaches the other nodes' control API with a tls block.
	peerHTTP *http.Client

	mu sync.Mutex // everything below; held for a whole round
	// intent is the failover or switchover in progress (raft.go).
	intent *Intent
	// followed is the replicated state a follower mirrored last.
	followed   []byte
	mode       Mode
	modeReason string
	writer     string
	// leases: what each agent holds, when it last answered a renewal (its
	// lease surely ends lease + margin after that), and the fenced hosts
	// (no renewal: a failed writer until it rejoins).
	leases *leases
	// failoverPos: old writer -> the position its successor had when it was
	// promoted. A returning old master holding more than that in its binary
	// log wrote transactions nobody else has (errant).
	failoverPos map[string]string
	// problems: host -> what keeps it out of ONLINE (errant GTIDs ...).
	problems map[string]string
	// aheadAfterFailover: replicas a failover left alone because they hold
	// transactions the new writer lacks; they stay out of ONLINE (and are
	// not repointed) until they replicate from the writer cleanly again.
	aheadAfterFailover map[string]string
	// semiSyncOff: since when the writer (semiSyncHost) runs without
	// semi-sync acknowledgements (zero while they come, or semi-sync is off
	// in the file).
	semiSyncOff  time.Time
	semiSyncHost string
	// writerPos is the writer's GTID position when last seen.
	writerPos   gtid.Set
	verdict     Verdict
	verdictWhy  string
	netDown     bool
	lastLive    *topology.Live
	lastFailure string
	started     time.Time
	history     []Event
	lastUptime  map[string]time.Duration
	// lastFailBack is when fail_back last tried a switchover.
	lastFailBack time.Time
	// The reconcile's pace (docs/watch.md, "Cost"): it diffs when what it
	// decides on changed (reconcileKey), when asked (reconcileDue: after the
	// watch changed hosts), and every reconcile period as a backstop.
	reconcileKey  string
	reconcileDue  bool
	lastReconcile time.Time
	// savedState is the state file's last content: a round that changed
	// nothing writes nothing.
	savedState []byte
	savedAt    time.Time
}

// Event is one decision, kept for /status and mmm show.
type Event struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
	// Kind is "failover" or "switchover" for a writer move ("" for the
	// others); Steps are its plan's steps with their timings.
	Kind  string       `json:"kind,omitempty"`
	Steps []StepTiming `json:"steps,omitempty"`
}

// StepTiming is one executed step of a failover or switchover.
type StepTiming struct {
	ID     string        `json:"id"`
	Host   string        `json:"host"`
	Status string        `json:"status"`
	Took   time.Duration `json:"took_ns"`
}

// stepTimings lists what r ran, in the order it ran them.
func stepTimings(r execResult) []StepTiming {
	if r.res == nil {
		return nil
	}
	var out []StepTiming
	for _, s := range r.res.Steps {
		out = append(out, StepTiming{ID: s.Step.ID, Host: s.Step.Host, Status: string(s.Status), Took: s.Duration})
	}
	return out
}

// New builds a watch in active mode (see Start for the start-up checks).
func New(cfg Config) *Watch {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		cfg.Holder = "watch@" + host
	}
	if cfg.PingNetwork == nil {
		cfg.PingNetwork = pingICMP
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = 30 * time.Second
	}
	now := cfg.Now()
	w := &Watch{
		cfg: cfg, c: cfg.Cluster, log: cfg.Logger.With("cluster", cfg.Cluster.Name),
		tracker: NewTracker(cfg.Cluster), machine: NewMachine(cfg.Cluster, now),
		mode: ModeActive, leases: newLeases(leaseOf(cfg.Cluster)),
		facts: newFactStore(cfg.Cluster), customResults: map[[2]string]Result{}, agentDown: map[string]bool{}, changed: map[string]time.Time{}, agentsUpAtStart: map[string]bool{},
		failoverPos: map[string]string{}, problems: map[string]string{},
		aheadAfterFailover: map[string]string{},
		started:            now, renewKick: map[string]chan struct{}{},
	}
	for _, h := range cfg.Cluster.Hosts {
		w.renewKick[h.Name] = make(chan struct{}, 1)
	}
	if cfg.PeerTLS != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.TLSClientConfig = cfg.PeerTLS
		w.peerHTTP = &http.Client{Transport: tr}
	}
	w.metrics = newMetrics(w)
	w.netOK.Store(true)
	return w
}

// setWriter changes the writer (called with mu held).
func (w *Watch) setWriter(name string) {
	w.writer = name
	w.writerMu.Lock()
	w.writerName = name
	w.writerMu.Unlock()
}

func (w *Watch) epochNow() uint64 { return w.epoch.Load() }

// bumpEpoch starts a new epoch and saves it before any grant carries it:
// agents refuse grants of an older epoch once they saw a newer one. A watch
// node commits it through raft, above every epoch committed before; it
// fails when this node no longer leads, and then nothing may go on.
func (w *Watch) bumpEpoch(why string) error {
	if w.cfg.Raft != nil {
		ctx, cancel := context.WithTimeout(context.Background(), max(w.lease()/2, 500*time.Millisecond))
		defer cancel()
		e, err := w.cfg.Raft.BumpEpoch(ctx, w.epoch.Load()+1)
		if err != nil {
			return fmt.Errorf("commit a new epoch (%s): %w", why, err)
		}
		w.epoch.Store(e)
		w.log.Info("new epoch", "epoch", e, "why", why)
		return nil
	}
	e := w.epoch.Add(1)
	w.log.Info("new epoch", "epoch", e, "why", why)
	w.save()
	return nil
}

func (w *Watch) stateFile() string {
	if w.cfg.StateFile == "-" {
		return ""
	}
	if w.cfg.StateFile != "" {
		return w.cfg.StateFile
	}
	return w.c.Monitor.StateFile
}

func (w *Watch) event(format string, args ...any) {
	w.record(Event{Message: fmt.Sprintf(format, args...)})
}

// record keeps e (stamped now) in the history.
func (w *Watch) record(e Event) {
	e.At = w.cfg.Now()
	w.history = append(w.history, e)
	if len(w.history) > 100 {
		w.history = w.history[len(w.history)-100:]
	}
}

// Start reads the saved state and then reality: who is writable and who
// holds which VIP. Reality wins; when it conflicts (two writable masters, a
// VIP on two hosts) the watch goes passive and says why.
func (w *Watch) Start(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cfg.InitialMode != "" {
		w.mode, w.modeReason = w.cfg.InitialMode, "start-up mode"
	}
	if w.cfg.Raft != nil {
		// A node acts only once it leads (takeover, raft.go); until then it
		// shows what the leader committed and what it sees itself.
		w.follow()
		// No inspection here: a lost host would hold the node (and its
		// takeover, should raft elect it now) for its timeouts; the probes
		// start with Run.
		w.lastLive = w.liveFromFacts(time.Now())
		w.log.Info("watch node started", "node", w.cfg.Raft.Name(), "mode", w.mode, "writer", orNone(w.writer))
		w.event("watch node %s started (a follower until raft elects it)", w.cfg.Raft.Name())
		return
	}
	if path := w.stateFile(); path != "" {
		st, err := loadState(path)
		switch {
		case err != nil:
			w.log.Warn("state file unreadable; starting from the live cluster", "file", path, "error", err)
		case st != nil:
			w.restore(st)
			w.log.Info("state restored", "file", path, "mode", w.mode, "writer", st.Writer)
		}
	}
	if err := w.adopt(ctx, "watch started", false); err != nil {
		w.log.Error("start", "error", err)
	}
	w.log.Info("watch started", "mode", w.mode, "writer", orNone(w.writer))
	w.event("started in %s mode, writer %s", w.mode, orNone(w.writer))
}

// adopt reads reality and starts a new epoch above every epoch an agent
// accepted (called with mu held, by Start and by a new leader's takeover).
// Reality wins over saved state: who is writable, who holds which VIP; a
// conflict (two writable masters, a VIP on two hosts) makes the watch
// passive, saying why.
//
// A new leader adopts what its own probes saw (fresh within a lost-host
// delay) when they saw every host and agent: a lost host or agent then costs
// the takeover nothing, where asking again would cost their timeouts while
// the leases run.
func (w *Watch) adopt(ctx context.Context, why string, fromFacts bool) error {
	var live *topology.Live
	var highest uint64
	if fromFacts {
		live, highest = w.factsForTakeover()
	}
	asked := live == nil
	if asked {
		live = w.cfg.Inspect(ctx)
	}
	w.lastLive = live
	writers := plan.LiveWriters(w.c, live)
	var conflicts []string
	if strings.Contains(writers, "+") {
		conflicts = append(conflicts, "two writable masters: "+strings.ReplaceAll(writers, "+", " and "))
	}
	for ip, holders := range live.VIPs {
		if len(holders) > 1 {
			conflicts = append(conflicts, fmt.Sprintf("VIP %s is on %s", ip, strings.Join(holders, " and ")))
		}
	}
	sort.Strings(conflicts)
	switch {
	case writers != "" && !strings.Contains(writers, "+"):
		if w.writer != "" && w.writer != writers {
			w.log.Warn("the saved writer is not the live one; the live one wins", "saved", w.writer, "live", writers)
		}
		w.setWriter(writers)
	case writers == "" && w.writer == "":
		// Nobody writable: the holder of the writer VIP, if any, is meant.
		if role := w.c.WriterRole(); role != nil {
			for _, ip := range role.IPs {
				if hs := live.VIPs[ip]; len(hs) == 1 {
					w.setWriter(hs[0])
				}
			}
		}
	}
	if w.writer != "" {
		if lh := live.Hosts[w.writer]; lh != nil && lh.Reachable {
			w.writerPos = plan.Executed(lh)
		}
	}
	w.readHeld(live)
	// A takeover: the epoch must exceed every epoch an agent accepted, also
	// when the state file was lost.
	if w.cfg.Agents != nil && asked {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, h := range w.c.Hosts {
			wg.Go(func() {
				actx, cancel := context.WithTimeout(ctx, w.agentTimeout())
				st, err := w.cfg.Agents.Status(actx, h.Name)
				cancel()
				if err != nil {
					return
				}
				w.leases.SetNonce(h.Name, st.Nonce, time.Now())
				mu.Lock()
				highest = max(highest, st.Epoch)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	if highest > w.epoch.Load() {
		w.epoch.Store(highest)
	}
	if w.epoch.Load() == 0 && w.stateFile() == "" && w.cfg.Raft == nil {
		// No state file to count in: seconds since 1970 only grow.
		w.epoch.Store(uint64(time.Now().Unix()))
	}
	if w.cfg.Raft != nil && w.cfg.Raft.Epoch() == 0 && highest == 0 {
		w.epoch.Store(uint64(time.Now().Unix())) // the first leader ever
	}
	if err := w.bumpEpoch(why); err != nil {
		return err
	}
	if len(conflicts) > 0 {
		w.mode = ModePassive
		w.modeReason = "reality conflicts at start-up: " + strings.Join(conflicts, "; ") + "; fix it, then `mmm mode active`"
		w.log.Error("going passive", "why", w.modeReason)
		w.event("passive: %s", w.modeReason)
		w.save()
	}
	return nil
}

// factsForTakeover is the live cluster from the probes' facts and the
// highest epoch the agents reported, or nil when a host or an agent was
// never seen (then the takeover asks them).
func (w *Watch) factsForTakeover() (*topology.Live, uint64) {
	var highest uint64
	for _, h := range w.c.Hosts {
		f := w.facts.Get(h.Name)
		if f.Live == nil || (w.cfg.Agents != nil && f.AgentAt.IsZero()) {
			return nil, 0
		}
		if f.Agent != nil {
			highest = max(highest, f.Agent.Epoch)
		}
	}
	return w.liveFromFacts(time.Now()), highest
}

func (w *Watch) readHeld(live *topology.Live) {
	for name, la := range live.Agents {
		if la == nil || !la.Reachable {
			continue
		}
		var roles []RoleIP
		for _, ip := range la.IPs {
			if r := w.roleOfIP(ip); r != "" {
				roles = append(roles, RoleIP{Role: r, IP: ip})
			}
		}
		w.leases.SetHeld(name, roles)
	}
}

func (w *Watch) roleOfIP(ip string) string {
	for _, r := range w.c.Roles {
		if contains(r.IPs, ip) {
			return r.Name
		}
	}
	return ""
}

// Run checks every check_period until ctx ends.
func (w *Watch) Run(ctx context.Context) error {
	period := w.c.Monitor.CheckPeriod
	if period <= 0 {
		period = time.Second
	}
	t := newTicker(period)
	defer t.Stop()
	var bg sync.WaitGroup
	bg.Go(func() { w.renewLoop(ctx) })
	bg.Go(func() { w.leadLoop(ctx) })
	bg.Go(func() { w.networkLoop(ctx) })
	probes := w.runProbes(ctx)
	w.customLoops(ctx, probes)
	// The first round needs a first look at every host.
	w.waitFirstFacts(ctx, 2*w.inspectTimeout())
	for {
		w.Round(ctx)
		select {
		case <-ctx.Done():
			bg.Wait()
			probes.Wait()
			w.mu.Lock()
			w.save()
			if w.cfg.Raft == nil {
				// Several nodes: the next leader renews the leases (and the
				// failsafe holds the writer meanwhile).
				w.handOver()
			}
			w.mu.Unlock()
			return nil
		case <-t.C:
			t.next()
		case <-w.facts.kick:
		}
	}
}

// followAgents says, once, when an agent stops answering while its server
// answers (its lease is no longer enforced) and when it is back.
func (w *Watch) followAgents() {
	if w.cfg.Agents == nil {
		return
	}
	for _, h := range w.c.Hosts {
		msg := w.agentWarning(h.Name, h.Name == w.writer)
		switch {
		case msg != "" && !w.agentDown[h.Name]:
			w.agentDown[h.Name] = true
			w.log.Warn("agent not answering", "host", h.Name, "writer", h.Name == w.writer, "warning", msg)
			w.event("%s", msg)
		case msg == "" && w.agentDown[h.Name]:
			delete(w.agentDown, h.Name)
			w.log.Info("agent answers again", "host", h.Name)
			w.event("agent on %s answers again", h.Name)
		}
	}
}

// waitFirstFacts waits (bounded) until every host was inspected once.
func (w *Watch) waitFirstFacts(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		all := true
		for _, h := range w.c.Hosts {
			if f := w.facts.Get(h.Name); f.Live == nil {
				all = false
			}
		}
		if all {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// networkLoop checks monitor.ping_ips every check period.
func (w *Watch) networkLoop(ctx context.Context) {
	every(ctx, w.probePeriod(), nil, func() { w.netOK.Store(w.networkOK(ctx)) })
}

// Round is one loop: network check, inspection, checks, states, actions,
// lease renewal.
func (w *Watch) Round(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t0 := time.Now()
	defer func() { w.metrics.round.Observe(time.Since(t0).Seconds()) }()
	now := w.cfg.Now()
	if !w.netOK.Load() {
		if !w.netDown {
			w.log.Error("the monitor cannot reach any of monitor.ping_ips: it is the one cut off, so it changes nothing", "ping_ips", w.c.Monitor.PingIPs)
			w.event("network down: none of %s answers; doing nothing", strings.Join(w.c.Monitor.PingIPs, ", "))
		}
		w.netDown = true
		return
	}
	if w.netDown {
		w.log.Info("the monitor's network is back")
		w.event("network back")
	}
	w.netDown = false

	live := w.liveFromFacts(time.Now())
	w.lastLive = live
	w.runChecks(ctx, live)
	w.followAgents()
	inputs := w.inputs(live)
	for _, t := range w.machine.Step(now, inputs, w.writer) {
		lvl := slog.LevelInfo
		if t.To != Online {
			lvl = slog.LevelWarn
		}
		w.log.Log(ctx, lvl, "host state", "host", t.Host, "from", t.From, "to", t.To, "why", t.Reason)
		w.event("%s", t)
	}
	if w.writer != "" {
		if lh := live.Hosts[w.writer]; lh != nil && lh.Reachable {
			w.writerPos = plan.Executed(lh)
		}
	}
	acting := w.actingNow()
	if !acting {
		w.follow()
		// A follower renews nothing: what the agents hold is what they
		// answer its status questions.
		for _, h := range w.c.Hosts {
			if st := w.facts.Get(h.Name).Agent; st != nil {
				w.leases.SetHeld(h.Name, fromAgentRoles(st.Roles))
			}
		}
	}
	if w.mode == ModeActive && acting {
		w.checkWriter(ctx, live)
		w.reconcile(ctx, live)
		w.failBack(ctx)
		w.moveReaders(ctx, live)
	}
	w.followSemiSync(live)
	if acting {
		w.afterRound(live)
	}
	w.metrics.observe()
	w.save()
	r := w.report()
	w.busyMu.Lock()
	w.lastReport = r
	w.busyMu.Unlock()
}

func (w *Watch) networkOK(ctx context.Context) bool {
	ips := w.c.Monitor.PingIPs
	if len(ips) == 0 {
		return true
	}
	timeout := w.c.Monitor.CheckPeriod
	if timeout < 200*time.Millisecond {
		timeout = 200 * time.Millisecond
	}
	results := make(chan error, len(ips))
	for _, ip := range ips {
		go func(ip string) { results <- w.cfg.PingNetwork(ctx, ip, timeout) }(ip)
	}
	ok := false
	for range ips {
		if <-results == nil {
			ok = true
		}
	}
	return ok
}

// runChecks records the checks of every host from the probes' latest facts
// (ping: the server's greeting; mysql: the inspection) and the live state
// (replication); custom commands run in their own loop. Nothing here waits
// on a host.
func (w *Watch) runChecks(ctx context.Context, live *topology.Live) {
	now := w.cfg.Now()
	for _, h := range w.c.Hosts {
		lh := live.Hosts[h.Name]
		f := w.facts.Get(h.Name)
		for _, name := range []string{CheckPing, CheckMySQL, CheckRepThreads, CheckRepBacklog} {
			ch := w.tracker.Check(name)
			r := Result{At: now}
			switch name {
			case CheckPing:
				if f.Server.State == "" {
					continue
				}
				r.OK, r.Latency = f.Server.State == agent.ProbeOK, f.Server.Took
				if r.OK {
					r.Detail = fmt.Sprintf("OK: greeting in %s", f.Server.Took.Round(time.Microsecond))
				} else {
					r.Detail = fmt.Sprintf("ERROR: %s: %s", f.Server.State, f.Server.Detail)
				}
			case CheckMySQL:
				if f.Live == nil {
					continue
				}
				r.OK, r.Detail = true, "OK"
				if lh == nil || !lh.Reachable {
					// "Too many connections" is a server that answers.
					var err error = errors.New(lh.Error)
					if lh.ErrorNumber != 0 {
						err = &mysql.MySQLError{Number: lh.ErrorNumber, Message: lh.Error}
					}
					r.OK, r.Detail = EvalMySQL(err)
				}
			case CheckRepThreads:
				r.OK, r.Detail = EvalRepThreads(lh)
			case CheckRepBacklog:
				r.OK, r.Detail = EvalRepBacklog(lh, ch.MaxBacklog)
			}
			w.tracker.Record(h.Name, name, r)
			w.metrics.check(h.Name, name, r)
		}
		if lh != nil && lh.Reachable && lh.Uptime > 0 {
			w.uptime(h.Name, time.Duration(lh.Uptime)*time.Second)
		} else if lh == nil || !lh.Reachable {
			delete(w.lastUptime, h.Name) // never judge a restart on a stale uptime
		}
	}
	w.customMu.Lock()
	for key, r := range w.customResults {
		w.tracker.Record(key[0], key[1], r)
		w.metrics.check(key[0], key[1], r)
	}
	w.customResults = map[[2]string]Result{}
	w.customMu.Unlock()
}

// customLoop runs custom check commands, each host and check on its own,
// every check's period; a command that hangs is killed at its timeout and
// delays nothing else.
func (w *Watch) customLoops(ctx context.Context, wg *sync.WaitGroup) {
	for _, name := range w.tracker.Checks() {
		if builtin(name) {
			continue
		}
		ch := w.tracker.Check(name)
		for _, h := range w.c.Hosts {
			wg.Go(func() {
				every(ctx, ch.Period, nil, func() {
					r := Custom(ctx, ch, h)
					if ctx.Err() != nil {
						return
					}
					r.At = w.cfg.Now()
					w.customMu.Lock()
					w.customResults[[2]string{h.Name, name}] = r
					w.customMu.Unlock()
				})
			})
		}
	}
}

func (w *Watch) uptime(host string, up time.Duration) {
	if w.lastUptime == nil {
		w.lastUptime = map[string]time.Duration{}
	}
	w.lastUptime[host] = up
}

func portOf(h *topology.Host) int {
	if h.Port == 0 {
		return 3306
	}
	return h.Port
}

// inputs turns the checks' verdicts into the state machine's inputs, with
// what keeps a host out of ONLINE.
func (w *Watch) inputs(live *topology.Live) map[string]Input {
	out := map[string]Input{}
	for _, h := range w.c.Hosts {
		in := Input{
			Ping: w.tracker.OK(h.Name, CheckPing), MySQL: w.tracker.OK(h.Name, CheckMySQL),
			RepThreads: w.tracker.OK(h.Name, CheckRepThreads), RepBacklog: w.tracker.OK(h.Name, CheckRepBacklog),
			Custom: true, Uptime: w.lastUptime[h.Name],
		}
		for _, name := range []string{CheckPing, CheckMySQL} {
			if st := w.tracker.Status(h.Name, name); st != nil && !st.Last.OK {
				in.Failing = true
			}
		}
		for _, name := range w.tracker.Checks() {
			if !builtin(name) && !w.tracker.OK(h.Name, name) {
				in.Custom = false
			}
		}
		// A host the monitor cannot read at all this round has no replication
		// verdict; ping and mysql (with their trap periods) decide.
		if lh := live.Hosts[h.Name]; lh != nil && lh.Reachable {
			w.updateProblem(h, lh)
		}
		in.Problem = w.problems[h.Name]
		out[h.Name] = in
	}
	return out
}

// updateProblem looks for what must keep host out of ONLINE: a former writer
// holding transactions its successor never got (errant), or a replica whose
// IO thread the writer refuses (diverged GTID history).
func (w *Watch) updateProblem(h *topology.Host, lh *topology.LiveHost) {
	if h.Name == w.writer {
		delete(w.problems, h.Name)
		return
	}
	if pos, ok := w.failoverPos[h.Name]; ok {
		at, _ := gtid.Parse(pos)
		var errant gtid.Set
		if lh.GTIDBinlogPos != "" || lh.GTIDCurrentPos != "" {
			// MariaDB: the last GTID of each domain in its binary log, if it
			// wrote it itself after the takeover position. (Once it replicates
			// from the new writer the writer's GTIDs come after; a divergence
			// then stops replication with error 1236/1950, caught below.)
			own, _ := gtid.Parse(lh.GTIDBinlogPos)
			errant = own.OnlyServer(lh.ServerID).Subtract(at)
		} else {
			// MySQL: GTID sets compare exactly.
			errant = plan.Executed(lh).Subtract(at.Union(w.writerPos))
		}
		if !errant.Empty() {
			msg := fmt.Sprintf("errant transactions %s: written on %s after %s took over at %s; they are not on the writer", errant, h.Name, orNone(w.writer), at)
			if w.problems[h.Name] != msg {
				w.log.Error("errant transactions", "host", h.Name, "gtids", errant.String(), "writer", w.writer, "takeover_position", at.String())
				w.event("%s: %s", h.Name, msg)
			}
			w.problems[h.Name] = msg
			return
		}
	}
	if msg, ok := w.aheadAfterFailover[h.Name]; ok {
		wh := w.c.Host(w.writer)
		if rs := lh.Replica; wh == nil || rs == nil || rs.SourceHost != wh.Address || !rs.Running() || rs.LastIOErrno != 0 || rs.LastSQLErrno != 0 {
			w.problems[h.Name] = msg
			return
		}
		delete(w.aheadAfterFailover, h.Name) // rebuilt or reconciled by the operator
	}
	if rs := lh.Replica; rs != nil && (rs.LastIOErrno == 1236 || rs.LastSQLErrno == 1950) {
		w.problems[h.Name] = fmt.Sprintf("its GTID history diverged from its source (error %d %d): %s%s", rs.LastIOErrno, rs.LastSQLErrno, rs.LastIOError, rs.LastSQLError)
		return
	}
	delete(w.problems, h.Name)
}

// failBack moves the writer back to the role's prefer host when the file
// asks for it (monitor { fail_back = true }), prefer is ONLINE with no
// problem and the writer is healthy. Without fail_back the writer stays where
// a failover put it (sticky). A failed attempt is not retried for a minute.
func (w *Watch) failBack(ctx context.Context) {
	role := w.c.WriterRole()
	if !w.c.Monitor.FailBack || role == nil || role.Prefer == "" || w.writer == "" || w.writer == role.Prefer || w.verdict != WriterAlive {
		return
	}
	hs := w.machine.Hosts[role.Prefer]
	if hs == nil || hs.State != Online || w.problems[role.Prefer] != "" || w.leases.Fenced(role.Prefer) {
		return
	}
	if now := w.cfg.Now(); now.Sub(w.lastFailBack) < time.Minute {
		return
	} else {
		w.lastFailBack = now
	}
	w.log.Info("fail-back to the preferred writer", "from", w.writer, "to", role.Prefer)
	if err := w.switchover(ctx, role.Prefer); err != nil {
		w.log.Error("fail-back failed", "error", err)
		w.event("fail-back to %s failed: %v", role.Prefer, err)
	}
}

// leaseMargin covers the agent's clock running slow against ours.
func leaseMargin(lease time.Duration) time.Duration { return lease/10 + 50*time.Millisecond }

func (w *Watch) lease() time.Duration { return leaseOf(w.c) }

func leaseOf(c *topology.Cluster) time.Duration {
	if l := c.Monitor.Lease; l > 0 {
		return l
	}
	return 5 * time.Second
}

// RelayHedge is how long the watch waits for an agent's direct answer to a
// status request or a grant before it sends a copy through another host's
// agent (agent.Client.Relay): a quarter of the agent timeout, within
// [50ms, lease/8], so a relayed renewal lands well inside the lease.
func RelayHedge(c *topology.Cluster) time.Duration {
	h := agentTimeoutOf(c) / 4
	if l := c.Monitor.Lease / 8; l > 0 && h > l {
		h = l
	}
	return max(h, 50*time.Millisecond)
}

func (w *Watch) agentTimeout() time.Duration { return agentTimeoutOf(w.c) }

func agentTimeoutOf(c *topology.Cluster) time.Duration {
	t := c.Monitor.CheckPeriod
	if t < 500*time.Millisecond {
		t = 500 * time.Millisecond
	}
	return t
}

func (w *Watch) states() map[string]State {
	out := map[string]State{}
	for n, hs := range w.machine.Hosts {
		out[n] = hs.State
	}
	return out
}

// placement is where the agents say the VIPs are.
func (w *Watch) placement() Placement { return w.leases.Placement() }

// moveReaders moves balanced roles' IPs to ONLINE hosts, and puts the writer
// VIP on an ONLINE writer that lacks it.
func (w *Watch) moveReaders(ctx context.Context, live *topology.Live) {
	if w.cfg.Agents == nil || live.VIPs == nil {
		return
	}
	online := func(h string) bool { return w.machine.Hosts[h] != nil && w.machine.Hosts[h].State == Online }
	cur := w.placement()
	want := Place(w.c, online, cur, w.writer)
	var roles []string
	var why []string
	for _, r := range w.c.Roles {
		if r.Mode == topology.RoleExclusive {
			// The writer VIP only ever goes to the writer, and only when it is
			// writable; it is taken away by failover and fencing alone.
			lh := live.Hosts[w.writer]
			if w.writer == "" || want[r.IPs[0]] != w.writer || lh == nil || !lh.Reachable || lh.ReadOnly || w.leases.Fenced(w.writer) {
				continue
			}
		}
		for _, ip := range r.IPs {
			if want[ip] != cur[ip] {
				if !contains(roles, r.Name) {
					roles = append(roles, r.Name)
				}
				why = append(why, fmt.Sprintf("%s %s -> %s", ip, orNone(cur[ip]), orNone(want[ip])))
			}
		}
	}
	if len(roles) == 0 {
		return
	}
	var vlive topology.Live = *live
	vlive.VIPs = map[string][]string{}
	for ip, h := range cur {
		vlive.VIPs[ip] = []string{h}
	}
	p := plan.PlaceVIPs(w.c, &vlive, want, roles, w.cfg.Now().UTC(), "roles follow ONLINE hosts: "+strings.Join(why, ", "))
	if len(p.Steps) > 0 {
		w.execute(ctx, "roles", p)
	}
}

// handOver puts every agent the watch leases back into static mode, keeping
// its VIPs: a watch stopped on purpose (upgrade, restart) must not fence a
// healthy writer when its lease runs out. A watch that dies leaves the leases
// to run out, which is the point of them.
func (w *Watch) handOver() {
	if w.cfg.Agents == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*w.agentTimeout())
	defer cancel()
	for _, h := range w.c.Hosts {
		if w.leases.Fenced(h.Name) {
			continue
		}
		if _, err := w.cfg.Agents.SetRoles(ctx, h.Name, toAgentRoles(w.leases.Held(h.Name)), nil); err != nil {
			w.log.Warn("could not hand the agent back to static mode; its lease will run out", "host", h.Name, "error", err)
		}
	}
	w.log.Info("agents handed back to static mode: VIPs stay where they are")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
