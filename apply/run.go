package apply

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// Errors apply returns before changing anything.
var (
	ErrStalePlan    = errors.New("the plan is stale")
	ErrUnsafe       = errors.New("the plan has unsafe steps")
	ErrPlanProblems = errors.New("the plan has errors")
	ErrNotConverged = errors.New("apply did not converge")
	ErrIncomplete   = errors.New("apply changes nothing while it cannot see every host")
)

// Unreachable lists the hosts live could not read, each with why.
func Unreachable(c *topology.Cluster, live *topology.Live) []string {
	var out []string
	for _, h := range c.Hosts {
		lh := live.Hosts[h.Name]
		switch {
		case lh == nil:
			out = append(out, h.Name+": not inspected")
		case !lh.Reachable:
			out = append(out, lh.Error)
		}
		if la := live.Agents[h.Name]; la != nil && !la.Reachable {
			out = append(out, la.Error)
		}
	}
	return out
}

// Inspector reads the live state of the cluster.
type Inspector func(ctx context.Context) *topology.Live

// Differ computes a plan; apply re-plans under the lock with the same options
// the caller planned with.
type Differ func(live *topology.Live) *plan.Plan

// Applier applies plans to one cluster.
type Applier struct {
	Cluster     *topology.Cluster
	Inspect     Inspector
	Diff        Differ
	DBs         Databases
	Agents      Agents     // the agents, for VIP steps (nil: a plan with VIP steps fails them)
	Runner      StepRunner // further step kinds; SQL, waits and VIPs are built in
	AllowUnsafe bool
	LockWait    time.Duration
	// Lock is the cluster lock when the caller took it before planning
	// (LockCluster): Apply then runs under it and does not take it again.
	Lock *Lock
	// Waiting is told when another apply holds the lock and this one waits.
	Waiting     Waiting
	StepTimeout time.Duration
	// SettleTime bounds the wait for starting replication threads after the
	// last step (default 5s).
	SettleTime time.Duration
	Progress   func(Event)
}

// Outcome is what an apply did.
type Outcome struct {
	Plan   *plan.Plan // the plan that was executed
	Result *Result    // per step
	// Second is the plan of the second round, after a physical copy
	// restarted a server (nil when there was none).
	Second *plan.Plan
	// Notes are what apply found worth saying beyond the steps (a copy
	// verified against a replica, or why it could not be).
	Notes []string
	After *plan.Plan // the plan made after the last step: empty when converged
	Live  *topology.Live
}

// Changed reports whether any step was applied.
func (o *Outcome) Changed() bool { return o != nil && o.Result != nil && o.Result.Count(Applied) > 0 }

// Apply carries out approved. Under the cluster lock it re-inspects and
// re-plans: when the cluster moved since approved was made (writer, read_only,
// sources, GTIDs jumping) or the fresh plan's steps differ from the approved
// ones, it refuses and changes nothing. It then runs the fresh plan (which
// holds the secrets a saved plan file never does), re-inspects, and fails
// loudly unless the plan is now empty.
func (a *Applier) Apply(ctx context.Context, approved *plan.Plan) (*Outcome, error) {
	if approved.HasErrors() {
		return nil, fmt.Errorf("%w: %s", ErrPlanProblems, problemList(approved))
	}
	if unsafe := approved.Unsafe(); len(unsafe) > 0 && !a.AllowUnsafe {
		return nil, fmt.Errorf("%w: %s; re-run with --allow-unsafe if you mean it", ErrUnsafe, stepList(unsafe))
	}
	out := &Outcome{Plan: approved}
	if approved.Changes() == 0 {
		return out, nil
	}

	// See every host before anything else, the lock included: a wrong
	// password or a dead host is reported as such, and nothing is touched.
	if down := Unreachable(a.Cluster, a.Inspect(ctx)); len(down) > 0 {
		return nil, fmt.Errorf("%w:\n  %s", ErrIncomplete, strings.Join(down, "\n  "))
	}

	if a.Lock == nil {
		lock, err := a.lock(ctx, lockHosts(approved))
		if err != nil {
			return nil, err
		}
		defer lock.Release()
	}

	live := a.Inspect(ctx)
	if down := Unreachable(a.Cluster, live); len(down) > 0 {
		return nil, fmt.Errorf("%w:\n  %s", ErrIncomplete, strings.Join(down, "\n  "))
	}
	fresh := a.Diff(live)
	if reasons := plan.Stale(approved.Fingerprint, fresh.Fingerprint); len(reasons) > 0 {
		return nil, fmt.Errorf("%w: the cluster changed since it was made:\n  - %s\nrun mmm plan again", ErrStalePlan, strings.Join(reasons, "\n  - "))
	}
	if diff := stepsDiffer(approved, fresh); diff != "" {
		return nil, fmt.Errorf("%w: planning again now gives different steps (%s); run mmm plan again", ErrStalePlan, diff)
	}
	if fresh.HasErrors() {
		return nil, fmt.Errorf("%w: %s", ErrPlanProblems, problemList(fresh))
	}
	out.Plan = fresh

	ex := &Executor{
		DBs: a.DBs,
		Runner: runners{a.Runner, &VIPRunner{Agents: a.Agents}, &waitRunner{dbs: a.DBs, cluster: a.Cluster},
			&killRunner{dbs: a.DBs, cluster: a.Cluster}, &cloneRunner{cluster: a.Cluster, agents: cloneAgentsOf(a.Agents)}},
		Guard:    (&writerGuard{dbs: a.DBs, cluster: a.Cluster}).check,
		Timeout:  a.StepTimeout,
		Progress: a.Progress,
	}
	out.Result = ex.Execute(ctx, fresh)

	out.Live, out.After = a.settle(ctx)
	if err := out.Result.Err(); err != nil {
		return out, err
	}
	// A physical copy restarted its host's server on the donor's files: that
	// host's settings, accounts and replication were left out of the plan
	// (plan.PhysicalClones) and are planned now, from what it holds after.
	if len(plan.PhysicalClones(fresh)) > 0 && out.After.Changes() > 0 && !out.After.HasErrors() {
		second := out.After
		if unsafe := second.Unsafe(); len(unsafe) > 0 && !a.AllowUnsafe {
			return out, fmt.Errorf("%w: after the copy, %s; re-run with --allow-unsafe if you mean it", ErrUnsafe, stepList(unsafe))
		}
		if a.Progress != nil {
			a.Progress(Event{Round: 2, Plan: second})
		}
		r2 := ex.Execute(ctx, second)
		out.Result.Steps = append(out.Result.Steps, r2.Steps...)
		out.Result.Duration += r2.Duration
		out.Second = second
		out.Live, out.After = a.settle(ctx)
		if err := r2.Err(); err != nil {
			return out, err
		}
		if out.After.Changes() == 0 {
			if err := a.verifyCopies(ctx, out, fresh, out.Live); err != nil {
				return out, err
			}
		}
	}
	if n := out.After.Changes(); n > 0 {
		return out, fmt.Errorf("%w: after every step was applied, mmm plan still finds %d change(s): %s",
			ErrNotConverged, n, stepList(out.After.Steps))
	}
	return out, nil
}

// settle re-inspects and re-plans after the steps ran. Replication threads
// start asynchronously (an IO thread is "Connecting" for a moment after START
// SLAVE), so while the only remaining changes are replicas still starting up,
// or an IO thread is still connecting, it looks again, for a few seconds at
// most.
func (a *Applier) settle(ctx context.Context) (*topology.Live, *plan.Plan) {
	deadline := time.Now().Add(a.settleTime())
	for {
		live := a.Inspect(ctx)
		after := a.Diff(live)
		// A replica whose IO thread is still connecting (just repointed)
		// does not count as replicating yet, so plan may want its reader
		// VIP elsewhere for a moment: wait for it, whatever the steps.
		connecting := replicasConnecting(live)
		settled := after.Changes() == 0 && !connecting
		if settled || (after.Changes() > 0 && !connecting && !onlyStartingReplicas(after, live)) || time.Now().After(deadline) {
			return live, after
		}
		select {
		case <-ctx.Done():
			return live, after
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *Applier) settleTime() time.Duration {
	if a.SettleTime > 0 {
		return a.SettleTime
	}
	return 5 * time.Second
}

// replicasConnecting reports whether an IO thread is still connecting to its
// source without an error: "converged" means the threads run, not that they
// are about to.
func replicasConnecting(live *topology.Live) bool {
	for _, lh := range live.Hosts {
		if rs := lh.Replica; rs != nil && rs.IORunning == "Connecting" && rs.LastIOErrno == 0 {
			return true
		}
	}
	return false
}

// onlyStartingReplicas reports whether every remaining step starts a replica
// that shows no error (yet): its threads may still be coming up.
func onlyStartingReplicas(p *plan.Plan, live *topology.Live) bool {
	for _, s := range p.Steps {
		if s.Kind != plan.KindStartReplica {
			return false
		}
		lh := live.Hosts[s.Host]
		if lh == nil || lh.Replica == nil {
			return false
		}
		if rs := lh.Replica; rs.LastIOErrno != 0 || rs.LastSQLErrno != 0 {
			return false
		}
	}
	return true
}

// LockCluster takes the cluster lock on every declared host, for a caller
// that plans under it (mmm apply without a plan file): an apply queued behind
// another then plans from what that one left, and never finds its plan stale
// because of it. Release the lock when done.
func (a *Applier) LockCluster(ctx context.Context) (*Lock, error) {
	var hosts []string
	for _, h := range a.Cluster.Hosts {
		hosts = append(hosts, h.Name)
	}
	sort.Strings(hosts)
	return a.lock(ctx, hosts)
}

// lock takes the lock on hosts (sorted). It holds a connection per host for
// the whole apply, from pools of its own so that it never takes the
// connection the steps need.
func (a *Applier) lock(ctx context.Context, hosts []string) (*Lock, error) {
	pool := &Pool{Cluster: a.Cluster, Timeouts: LockTimeouts(conn.Timeouts{}, a.lockWait())}
	lock, err := AcquireLock(ctx, pool, hosts, a.Cluster.Name, a.lockWait(), a.Waiting)
	if err != nil {
		pool.Close()
		return nil, err
	}
	lock.pool = pool
	return lock, nil
}

func (a *Applier) lockWait() time.Duration {
	if a.LockWait > 0 {
		return a.LockWait
	}
	return 60 * time.Second
}

// lockHosts are the hosts the plan saw reachable, sorted by name: one global
// order for every applier.
func lockHosts(p *plan.Plan) []string {
	var hosts []string
	for name, h := range p.Fingerprint.Hosts {
		if h.Reachable {
			hosts = append(hosts, name)
		}
	}
	sort.Strings(hosts)
	return hosts
}

// stepsDiffer compares two plans step by step (IDs and shown SQL) and says
// where they part, or "" when they are the same.
func stepsDiffer(a, b *plan.Plan) string {
	ids := func(p *plan.Plan) map[string]string {
		m := map[string]string{}
		for _, s := range p.Steps {
			var sqls []string
			for _, st := range s.Statements {
				sqls = append(sqls, st.Text)
			}
			m[s.ID] = strings.Join(sqls, ";")
		}
		return m
	}
	am, bm := ids(a), ids(b)
	var diffs []string
	for _, s := range a.Steps {
		if sq, ok := bm[s.ID]; !ok {
			diffs = append(diffs, s.ID+" is no longer needed")
		} else if sq != am[s.ID] {
			diffs = append(diffs, s.ID+" changed")
		}
	}
	for _, s := range b.Steps {
		if _, ok := am[s.ID]; !ok {
			diffs = append(diffs, s.ID+" is new")
		}
	}
	return strings.Join(diffs, ", ")
}

func stepList(steps []plan.Step) string {
	var ids []string
	for _, s := range steps {
		ids = append(ids, s.ID)
	}
	return strings.Join(ids, ", ")
}

func problemList(p *plan.Plan) string {
	var out []string
	for _, pr := range p.Problems {
		if pr.Severity == plan.SeverityError {
			out = append(out, pr.Summary)
		}
	}
	return strings.Join(out, "; ")
}

// runners tries each StepRunner in turn.
type runners []StepRunner

func (rs runners) RunStep(ctx context.Context, s plan.Step) error {
	for _, r := range rs {
		if r == nil {
			continue
		}
		if err := r.RunStep(ctx, s); !errors.Is(err, ErrNotHandled) {
			return err
		}
	}
	return ErrNotHandled
}

// waitRunner carries out KindWaitCatchUp: read the source's GTID position now,
// then wait (bounded) until the host has applied it.
type waitRunner struct {
	dbs     Databases
	cluster *topology.Cluster
}

func (w *waitRunner) RunStep(ctx context.Context, s plan.Step) error {
	if s.Kind != plan.KindWaitCatchUp || s.Wait == nil {
		return ErrNotHandled
	}
	timeout := time.Duration(s.Wait.Timeout)
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	src, err := w.dbs.DB(ctx, s.Wait.Source)
	if err != nil {
		return fmt.Errorf("connect %s: %w", s.Wait.Source, err)
	}
	f, err := serverFlavor(ctx, src)
	if err != nil {
		return fmt.Errorf("read version of %s: %w", s.Wait.Source, err)
	}
	posVar := "@@gtid_binlog_pos"
	if f.IsMySQL() {
		posVar = "@@gtid_executed"
	}
	var pos string
	if err := src.QueryRowContext(ctx, "SELECT "+posVar).Scan(&pos); err != nil {
		return fmt.Errorf("read GTID position of %s: %w", s.Wait.Source, err)
	}
	dst, err := w.dbs.DB(ctx, s.Host)
	if err != nil {
		return fmt.Errorf("connect %s: %w", s.Host, err)
	}
	q := "SELECT MASTER_GTID_WAIT(?, ?)"
	if f.IsMySQL() {
		q = "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)"
	}
	wctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	var rc sql.NullInt64
	if err := dst.QueryRowContext(wctx, q, pos, timeout.Seconds()).Scan(&rc); err != nil {
		return fmt.Errorf("wait for %s to apply %s: %w", s.Host, pos, err)
	}
	if !rc.Valid || rc.Int64 != 0 {
		return fmt.Errorf("%s did not apply %s's position %s within %s", s.Host, s.Wait.Source, pos, timeout)
	}
	return nil
}

func serverFlavor(ctx context.Context, db *sql.DB) (flavor.Flavor, error) {
	var v string
	if err := db.QueryRowContext(ctx, "SELECT @@version").Scan(&v); err != nil {
		return flavor.Flavor{}, err
	}
	return flavor.Parse(v)
}

// writerGuard refuses, at the moment a step would make a master writable, to
// go on when the other master is writable or cannot be checked. Plans never
// ask for that, but the cluster may have moved between plan and step; this
// is the last line against two writers.
type writerGuard struct {
	dbs     Databases
	cluster *topology.Cluster
}

func (g *writerGuard) check(ctx context.Context, s plan.Step) error {
	if !s.MakesWritable {
		return nil
	}
	var (
		mu   sync.Mutex
		errs []string
		wg   sync.WaitGroup
	)
	for _, h := range g.cluster.Hosts {
		if h.Name == s.Host || h.Mode != topology.ModeMaster {
			continue
		}
		wg.Add(1)
		go func(h *topology.Host) {
			defer wg.Done()
			ro, err := readOnly(ctx, g.dbs, h.Name)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Sprintf("cannot check that %s is read-only (%v)", h.Name, err))
			case err == nil && !ro:
				errs = append(errs, fmt.Sprintf("%s is writable (read_only=OFF)", h.Name))
			}
		}(h)
	}
	wg.Wait()
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("refusing to make %s writable: %s; mmm never leaves two writers", s.Host, strings.Join(errs, "; "))
	}
	return nil
}

func readOnly(ctx context.Context, dbs Databases, host string) (bool, error) {
	db, err := dbs.DB(ctx, host)
	if err != nil {
		return false, err
	}
	var ro int
	if err := db.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&ro); err != nil {
		return false, err
	}
	return ro == 1, nil
}

// cloneAgentsOf is the agent client's clone side, when it has one.
func cloneAgentsOf(a Agents) CloneAgents {
	if ca, ok := a.(CloneAgents); ok {
		return ca
	}
	return nil
}
