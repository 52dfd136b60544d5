package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

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
}

// Config is one watch.
type Config struct {
	Cluster *topology.Cluster
	// Inspect reads the servers and, when the cluster has agents, which VIPs
	// each host holds (live.Agents, live.VIPs).
	Inspect func(ctx context.Context) *topology.Live
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
}

// Watch is the monitor. Create it with New, then Run it.
type Watch struct {
	cfg     Config
	c       *topology.Cluster
	log     *slog.Logger
	tracker *Tracker
	machine *Machine
	metrics *metrics

	mu         sync.Mutex // everything below; held for a whole round
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
}

// Event is one decision, kept for /status and mmm show.
type Event struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
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
		mode: ModeActive, leases: newLeases(),
		failoverPos: map[string]string{}, problems: map[string]string{},
		aheadAfterFailover: map[string]string{},
		started:            now,
	}
	w.metrics = newMetrics(w)
	return w
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
	msg := fmt.Sprintf(format, args...)
	w.history = append(w.history, Event{At: w.cfg.Now(), Message: msg})
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
	live := w.cfg.Inspect(ctx)
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
		w.writer = writers
	case writers == "" && w.writer == "":
		// Nobody writable: the holder of the writer VIP, if any, is meant.
		if role := w.c.WriterRole(); role != nil {
			for _, ip := range role.IPs {
				if hs := live.VIPs[ip]; len(hs) == 1 {
					w.writer = hs[0]
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
	if len(conflicts) > 0 {
		w.mode = ModePassive
		w.modeReason = "reality conflicts at start-up: " + strings.Join(conflicts, "; ") + "; fix it, then `mmm mode active`"
		w.log.Error("going passive", "why", w.modeReason)
		w.event("passive: %s", w.modeReason)
	}
	w.log.Info("watch started", "mode", w.mode, "writer", orNone(w.writer))
	w.event("started in %s mode, writer %s", w.mode, orNone(w.writer))
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
	t := time.NewTicker(period)
	defer t.Stop()
	renewing := make(chan struct{})
	go func() {
		defer close(renewing)
		w.renewLoop(ctx)
	}()
	for {
		w.Round(ctx)
		select {
		case <-ctx.Done():
			<-renewing
			w.mu.Lock()
			w.save()
			w.handOver()
			w.mu.Unlock()
			return nil
		case <-t.C:
		}
	}
}

// Round is one loop: network check, inspection, checks, states, actions,
// lease renewal.
func (w *Watch) Round(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.cfg.Now()
	if !w.networkOK(ctx) {
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

	live := w.cfg.Inspect(ctx)
	w.lastLive = live
	w.runChecks(ctx, live)
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
	if w.mode == ModeActive {
		w.checkWriter(ctx, live)
		w.reconcile(ctx, live)
		w.failBack(ctx)
		w.moveReaders(ctx, live)
	}
	w.followSemiSync(live)
	w.afterRound(live)
	w.metrics.observe()
	w.save()
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

// runChecks runs every due check of every host in parallel.
func (w *Watch) runChecks(ctx context.Context, live *topology.Live) {
	now := w.cfg.Now()
	type rec struct {
		host, check string
		r           Result
		uptime      time.Duration
	}
	var mu sync.Mutex
	var recs []rec
	var wg sync.WaitGroup
	for _, h := range w.c.Hosts {
		lh := live.Hosts[h.Name]
		for _, name := range w.tracker.Checks() {
			if !w.tracker.Due(h.Name, name, now) {
				continue
			}
			ch := w.tracker.Check(name)
			wg.Add(1)
			go func(h *topology.Host, name string) {
				defer wg.Done()
				var r Result
				var up time.Duration
				switch name {
				case CheckPing:
					r = Ping(ctx, net.JoinHostPort(h.Address, strconv.Itoa(portOf(h))), ch.Timeout)
				case CheckMySQL:
					r, up = w.mysqlCheck(ctx, h, ch.Timeout)
				case CheckRepThreads:
					r = Result{At: now}
					r.OK, r.Detail = EvalRepThreads(lh)
				case CheckRepBacklog:
					r = Result{At: now}
					r.OK, r.Detail = EvalRepBacklog(lh, ch.MaxBacklog)
				default:
					r = Custom(ctx, ch, h)
				}
				r.At = now
				mu.Lock()
				recs = append(recs, rec{h.Name, name, r, up})
				mu.Unlock()
			}(h, name)
		}
	}
	wg.Wait()
	for _, x := range recs {
		w.tracker.Record(x.host, x.check, x.r)
		w.metrics.check(x.host, x.check, x.r)
		if x.uptime > 0 {
			w.uptime(x.host, x.uptime)
		} else if x.check == CheckMySQL && !x.r.OK {
			delete(w.lastUptime, x.host) // never judge a restart on a stale uptime
		}
	}
}

func (w *Watch) uptime(host string, up time.Duration) {
	if w.lastUptime == nil {
		w.lastUptime = map[string]time.Duration{}
	}
	w.lastUptime[host] = up
}

func (w *Watch) mysqlCheck(ctx context.Context, h *topology.Host, timeout time.Duration) (Result, time.Duration) {
	t0 := time.Now()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	db, err := w.cfg.DBs.DB(cctx, h.Name)
	if err != nil {
		r := Result{At: t0, Latency: time.Since(t0)}
		r.OK, r.Detail = EvalMySQL(err)
		return r, 0
	}
	return MySQLCheck(ctx, db, timeout)
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

// checkWriter applies the detection rule and fails over when the writer is dead.
func (w *Watch) checkWriter(ctx context.Context, live *topology.Live) {
	if w.writer == "" {
		return
	}
	lost := !w.tracker.OK(w.writer, CheckPing) || !w.tracker.OK(w.writer, CheckMySQL)
	v, why := JudgeWriter(w.c, w.writer, lost, live)
	if v != w.verdict || why != w.verdictWhy {
		switch v {
		case WriterAlive:
			if w.verdict != "" && w.verdict != WriterAlive {
				w.log.Info("writer reachable again", "writer", w.writer)
			}
		case WriterUnreachable:
			w.log.Warn("writer unreachable, not failing over", "writer", w.writer, "why", why)
			w.event("writer %s unreachable (no failover): %s", w.writer, why)
		case WriterDead:
			w.log.Error("writer dead", "writer", w.writer, "why", why)
			w.event("writer %s dead: %s", w.writer, why)
		}
	}
	w.verdict, w.verdictWhy = v, why
	if v == WriterDead {
		w.failover(ctx, live, why)
	}
}

// failover replaces the dead writer: choose, run the pre hook, fence, plan,
// execute, record.
func (w *Watch) failover(ctx context.Context, live *topology.Live, why string) {
	dead := w.writer
	states := w.states()
	choice := ChooseCandidate(w.c, dead, states, live, w.writerPos)
	if choice.Host == "" {
		msg := "failover of " + dead + " impossible: " + choice.Explain()
		if w.lastFailure != msg {
			w.log.Error("no failover", "why", msg)
			w.event("%s", msg)
		}
		w.lastFailure = msg
		return
	}
	w.lastFailure = ""
	cand := choice.Host
	w.log.Warn("failover", "dead", dead, "candidate", cand, "choice", choice.Explain())
	env := []string{"MMM_EVENT=failover", "MMM_CLUSTER=" + w.c.Name, "MMM_OLD_WRITER=" + dead, "MMM_NEW_WRITER=" + cand, "MMM_REASON=" + why}
	if err := runHooks(ctx, w.c.Monitor.PreFailover, env); err != nil {
		msg := fmt.Sprintf("failover of %s to %s aborted by the pre_failover hook: %v", dead, cand, err)
		w.log.Error("failover aborted", "why", msg)
		w.event("%s", msg)
		w.lastFailure = msg
		return
	}
	t0 := time.Now()
	fence := w.fence(ctx, dead)
	w.log.Info("old writer fenced", "host", dead, "how", fence, "took", time.Since(t0).Round(time.Millisecond))

	live = w.cfg.Inspect(ctx) // fresh: the candidate's relay position, the replicas' sources
	w.lastLive = live
	p := plan.Failover(w.c, live, plan.FailoverOptions{
		Dead: dead, Candidate: cand, Fenced: true, Now: w.cfg.Now().UTC(),
		Why: fmt.Sprintf("%s; %s; fenced: %s", why, choice.Explain(), fence),
	})
	w.promoting(cand)
	res := w.execute(ctx, "failover", p)
	promoted := false
	if st := resultOf(res, cand+":"+string(plan.KindSetVariable)+":read_only"); st == apply.Applied || (st == "" && !res.hasFailed()) {
		promoted = true
	}
	if !promoted {
		msg := fmt.Sprintf("failover of %s to %s failed: %v", dead, cand, res.err)
		w.log.Error("failover failed", "error", res.err)
		w.event("%s", msg)
		w.lastFailure = msg
		return
	}
	if lc := live.Hosts[cand]; lc != nil {
		w.failoverPos[dead] = plan.Received(lc).String()
	}
	for _, pr := range p.Problems {
		if pr.Host != "" && pr.Host != dead && strings.Contains(pr.Summary, "ahead of the new writer") {
			w.aheadAfterFailover[pr.Host] = pr.Summary
			w.problems[pr.Host] = pr.Summary
			w.log.Error("replica ahead of the new writer, not repointed", "host", pr.Host, "why", pr.Summary)
			w.event("%s", pr.Summary)
		}
	}
	if !w.semiSyncOff.IsZero() && w.semiSyncHost == dead {
		w.log.Error("the old writer ran without semi-sync acknowledgements before it died: writes it acknowledged in that window may be missing on the new writer", "old", dead, "async_since", w.semiSyncOff.Format(time.RFC3339Nano))
		w.event("WARNING: %s ran asynchronously since %s: writes it acknowledged after that may be missing on %s", dead, w.semiSyncOff.Format(time.TimeOnly), cand)
	}
	w.writer = cand
	w.verdict, w.verdictWhy = WriterAlive, ""
	// The replicas' IO threads lost the old writer; they were repointed.
	w.tracker.Reset(CheckRepThreads)
	w.tracker.Reset(CheckRepBacklog)
	w.metrics.failovers.Inc()
	w.event("failover: %s is the writer in place of %s (%s, took %s)", cand, dead, fence, time.Since(t0).Round(time.Millisecond))
	w.log.Warn("failover done", "writer", cand, "old", dead, "took", time.Since(t0).Round(time.Millisecond), "errors", res.err)
	w.save()
	env = append(env, "MMM_RESULT=ok")
	if err := runHooks(ctx, w.c.Monitor.PostFailover, env); err != nil {
		w.log.Error("post_failover hook failed", "error", err)
	}
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

// fence makes sure old holds the writer VIPs no longer: its agent confirms
// the release, or its lease surely ran out (lease + margin since its last
// renewal). It stops renewing old's lease either way. It returns how.
func (w *Watch) fence(ctx context.Context, old string) string {
	w.leases.SetFenced(old, true)
	lease := w.lease()
	if w.cfg.Agents == nil {
		return "no agents: VIPs are not managed"
	}
	unlock := w.leases.lockHost(old)
	keep := w.withoutExclusive(w.leases.Held(old))
	rctx, cancel := context.WithTimeout(ctx, w.agentTimeout())
	st, err := w.cfg.Agents.SetRoles(rctx, old, toAgentRoles(keep), &agent.Lease{TTL: agent.Duration(lease), Holder: w.cfg.Holder})
	cancel()
	unlock()
	if err == nil && !w.holdsExclusive(st) {
		w.leases.SetHeld(old, fromAgentRoles(st.Roles))
		return "its agent released the writer VIP"
	}
	last, ok := w.leases.Renewed(old)
	if !ok {
		last = w.started
	}
	until := last.Add(lease + leaseMargin(lease))
	if wait := time.Until(until); wait > 0 {
		w.log.Info("waiting for the old writer's lease to run out", "host", old, "wait", wait.Round(time.Millisecond), "agent_error", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	w.leases.Forget(old)
	return fmt.Sprintf("its lease ran out (%s after the last renewal at %s; agent: %v)", lease, last.Format(time.RFC3339Nano), err)
}

// leaseMargin covers the agent's clock running slow against ours.
func leaseMargin(lease time.Duration) time.Duration { return lease/10 + 50*time.Millisecond }

func (w *Watch) lease() time.Duration {
	if l := w.c.Monitor.Lease; l > 0 {
		return l
	}
	return 5 * time.Second
}

func (w *Watch) agentTimeout() time.Duration {
	t := w.c.Monitor.CheckPeriod
	if t < 500*time.Millisecond {
		t = 500 * time.Millisecond
	}
	return t
}

func (w *Watch) withoutExclusive(roles []RoleIP) []RoleIP {
	var out []RoleIP
	for _, r := range roles {
		if role := w.c.Role(r.Role); role == nil || role.Mode != topology.RoleExclusive {
			out = append(out, r)
		}
	}
	return out
}

func (w *Watch) holdsExclusive(st *agent.Status) bool {
	for _, r := range st.Roles {
		if role := w.c.Role(r.Role); role != nil && role.Mode == topology.RoleExclusive {
			return true
		}
	}
	return false
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

// execResult is what execute reports.
type execResult struct {
	res *apply.Result
	err error
}

func (r execResult) hasFailed() bool { return r.err != nil }

func resultOf(r execResult, id string) apply.Status {
	if r.res == nil {
		return ""
	}
	for _, s := range r.res.Steps {
		if s.Step.ID == id {
			return s.Status
		}
	}
	return ""
}

// execute runs a plan through apply's executor and logs it, rendered, with
// every step's timing.
func (w *Watch) execute(ctx context.Context, what string, p *plan.Plan) execResult {
	var buf bytes.Buffer
	_ = plan.Render(&buf, p)
	w.log.Info("plan", "what", what, "plan", "\n"+buf.String())
	if p.HasErrors() {
		err := errors.New("the plan has errors")
		for _, pr := range p.Problems {
			if pr.Severity == plan.SeverityError {
				err = fmt.Errorf("%w: %s", err, pr.Summary)
			}
		}
		return execResult{err: err}
	}
	ex := &apply.Executor{
		DBs:     w.cfg.DBs,
		Runner:  apply.Runners(&leaseVIPRunner{w: w}, apply.NewWaitRunner(w.cfg.DBs, w.c), apply.NewKillRunner(w.cfg.DBs, w.c)),
		Guard:   w.guard,
		Timeout: w.cfg.StepTimeout,
	}
	res := ex.Execute(ctx, p)
	for _, s := range res.Steps {
		attrs := []any{"what", what, "step", s.Step.ID, "status", s.Status, "took", s.Duration.Round(time.Microsecond)}
		if s.Err != nil {
			attrs = append(attrs, "error", s.Err)
		}
		if s.Reason != "" {
			attrs = append(attrs, "reason", s.Reason)
		}
		lvl := slog.LevelInfo
		if s.Status != apply.Applied {
			lvl = slog.LevelError
		}
		w.log.Log(ctx, lvl, "step", attrs...)
	}
	w.log.Info("plan done", "what", what, "applied", res.Count(apply.Applied), "failed", res.Count(apply.Failed), "not_run", res.Count(apply.NotRun), "took", res.Duration.Round(time.Millisecond))
	return execResult{res: res, err: res.Err()}
}

// guard refuses, at the moment a step would make a master writable, when
// another master is reachable and writable. Unlike apply's guard it accepts
// an unreachable master: failover promotes exactly when the old writer is
// gone, and the fence (lease, agent) is what keeps it from writing.
func (w *Watch) guard(ctx context.Context, s plan.Step) error {
	writable := false
	for _, st := range s.Statements {
		if makesWritable(st.Text) {
			writable = true
		}
	}
	if !writable {
		return nil
	}
	for _, h := range w.c.Masters() {
		if h.Name == s.Host {
			continue
		}
		db, err := w.cfg.DBs.DB(ctx, h.Name)
		if err != nil {
			if !w.leases.Fenced(h.Name) {
				return fmt.Errorf("refusing to make %s writable: %s cannot be checked (%v) and was not fenced", s.Host, h.Name, err)
			}
			continue
		}
		var ro int
		if err := db.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&ro); err != nil {
			if !w.leases.Fenced(h.Name) {
				return fmt.Errorf("refusing to make %s writable: cannot read read_only of %s (%v) and it was not fenced", s.Host, h.Name, err)
			}
			continue
		}
		if ro == 0 {
			return fmt.Errorf("refusing to make %s writable: %s is writable; mmm never leaves two writers", s.Host, h.Name)
		}
	}
	return nil
}

func makesWritable(stmt string) bool {
	s := strings.ToUpper(strings.Join(strings.Fields(stmt), " "))
	return strings.HasPrefix(s, "SET GLOBAL READ_ONLY = OFF") || strings.HasPrefix(s, "SET GLOBAL READ_ONLY = 0") ||
		strings.HasPrefix(s, "SET GLOBAL READ_ONLY=OFF") || strings.HasPrefix(s, "SET GLOBAL READ_ONLY=0")
}

// leaseVIPRunner carries out VIP steps through the agents with the watch's
// lease (apply's VIPRunner works in static mode and refuses leased agents).
type leaseVIPRunner struct{ w *Watch }

func (r *leaseVIPRunner) RunStep(ctx context.Context, s plan.Step) error {
	if (s.Kind != plan.KindAssignVIP && s.Kind != plan.KindReleaseVIP) || s.VIP == nil {
		return apply.ErrNotHandled
	}
	w := r.w
	if w.cfg.Agents == nil {
		return fmt.Errorf("no agents for VIP step %s", s.ID)
	}
	unlock := w.leases.lockHost(s.Host)
	defer unlock()
	var roles []RoleIP
	for _, x := range w.leases.Held(s.Host) {
		if x.IP != s.VIP.IP {
			roles = append(roles, x)
		}
	}
	if s.Kind == plan.KindAssignVIP {
		roles = append(roles, RoleIP{Role: s.VIP.Role, IP: s.VIP.IP})
	}
	st, err := w.cfg.Agents.SetRoles(ctx, s.Host, toAgentRoles(roles), &agent.Lease{TTL: agent.Duration(w.lease()), Holder: w.cfg.Holder})
	if err != nil {
		return err
	}
	w.leases.SetRenewed(s.Host, time.Now())
	w.leases.SetHeld(s.Host, fromAgentRoles(st.Roles))
	if held := st.Holds(s.VIP.IP); held != (s.Kind == plan.KindAssignVIP) {
		return fmt.Errorf("agent on %s answered, but %s is held=%v afterwards", s.Host, s.VIP.IP, held)
	}
	return nil
}

func toAgentRoles(in []RoleIP) []agent.RoleIP {
	out := make([]agent.RoleIP, 0, len(in))
	for _, r := range in {
		out = append(out, agent.RoleIP{Role: r.Role, IP: r.IP})
	}
	return out
}

func fromAgentRoles(in []agent.HeldRole) []RoleIP {
	var out []RoleIP
	for _, r := range in {
		out = append(out, RoleIP{Role: r.Role, IP: r.IP})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP < out[j].IP })
	return out
}

// runHooks runs a hook (monitor.pre_failover / post_failover: one command as
// an argument list) with the failover's details in the environment
// (MMM_EVENT, MMM_CLUSTER, MMM_OLD_WRITER, MMM_NEW_WRITER, MMM_REASON). A hook
// that exits non-zero or runs longer than a minute is an error.
func runHooks(ctx context.Context, argv []string, env []string) error {
	if len(argv) == 0 {
		return nil
	}
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(hctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
