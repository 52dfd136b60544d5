// Package apply carries out a Plan against the cluster: steps in dependency
// order, every step timed and reported, a failed step stopping what depends on
// it, and a result that says Applied / Failed / Not run.
package apply

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/plan"
)

// Status is what happened to one step.
type Status string

const (
	Applied Status = "applied"
	Failed  Status = "failed"
	NotRun  Status = "not_run"
)

// StepResult is the outcome of one step.
type StepResult struct {
	Step     plan.Step
	Status   Status
	Err      error
	Duration time.Duration
	// Why a step did not run ("depends on master1:create_user:… which failed").
	Reason string
}

// Result is the outcome of a whole plan.
type Result struct {
	Steps    []StepResult
	Duration time.Duration
}

// Err returns every failure as one go-multierror, or nil.
func (r *Result) Err() error {
	var merr *multierror.Error
	for _, s := range r.Steps {
		if s.Status == Failed {
			merr = multierror.Append(merr, fmt.Errorf("%s: %w", s.Step.ID, s.Err))
		}
	}
	return merr.ErrorOrNil()
}

// Count returns how many steps ended with status st.
func (r *Result) Count(st Status) int {
	n := 0
	for _, s := range r.Steps {
		if s.Status == st {
			n++
		}
	}
	return n
}

// Databases hands out a connection pool per host name.
type Databases interface {
	DB(ctx context.Context, host string) (*sql.DB, error)
}

// StepRunner carries out the steps that are not plain SQL (VIP moves through
// an agent, waits, clones). It returns ErrNotHandled for kinds it does not know.
type StepRunner interface {
	RunStep(ctx context.Context, step plan.Step) error
}

// ErrNotHandled is returned by a StepRunner for a step it does not carry out.
var ErrNotHandled = errors.New("step kind not handled")

// Guard is asked before every step runs; an error fails the step without
// running it. apply uses it to re-check, at the last moment, that a step cannot
// leave two writable masters.
type Guard func(ctx context.Context, step plan.Step) error

// Executor runs plans.
type Executor struct {
	DBs     Databases
	Runner  StepRunner // may be nil: then only SQL steps can run
	Guard   Guard      // may be nil
	Timeout time.Duration
	// Progress, when set, is called as each step starts and ends (from several
	// goroutines, one at a time).
	Progress func(ev Event)
}

// Event is a progress report.
type Event struct {
	Result StepResult
	Start  bool // true when the step starts, false when it ended
	// Round, when not 0, announces a further round of steps (Plan): the
	// hosts a physical copy restarted, planned again. Result is empty then.
	Round int
	Plan  *plan.Plan
	// Note, when set, is a line of its own (the verification of a copy).
	Note string
}

// Execute runs the plan. Steps on one host run one after another in plan order;
// hosts proceed in parallel, and a step waits for the steps it depends on,
// wherever they run. A step runs only when everything it depends on, and every
// earlier step on its host, was applied: a failure stops its dependents and the
// rest of its host, while other hosts carry on.
func (e *Executor) Execute(ctx context.Context, p *plan.Plan) *Result {
	start := time.Now()
	res := &Result{Steps: make([]StepResult, len(p.Steps))}
	index := make(map[string]int, len(p.Steps))
	done := make([]chan struct{}, len(p.Steps))
	for i, s := range p.Steps {
		index[s.ID] = i
		done[i] = make(chan struct{})
		res.Steps[i] = StepResult{Step: s, Status: NotRun}
	}

	var mu sync.Mutex // guards Progress calls
	report := func(ev Event) {
		if e.Progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		e.Progress(ev)
	}

	byHost := map[string][]int{}
	var hosts []string
	for i, s := range p.Steps {
		if _, ok := byHost[s.Host]; !ok {
			hosts = append(hosts, s.Host)
		}
		byHost[s.Host] = append(byHost[s.Host], i)
	}

	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func(idxs []int) {
			defer wg.Done()
			hostFailed := ""
			for _, i := range idxs {
				step := p.Steps[i]
				r := &res.Steps[i]
				reason := hostFailed
				if reason == "" {
					reason = e.waitDeps(ctx, step, i, index, done, res)
				}
				if reason != "" {
					r.Reason = reason
					if hostFailed == "" {
						hostFailed = fmt.Sprintf("an earlier step on %s did not run", step.Host)
					}
					close(done[i])
					report(Event{Result: *r})
					continue
				}
				report(Event{Result: *r, Start: true})
				t0 := time.Now()
				err := e.runStep(ctx, step)
				r.Duration = time.Since(t0)
				if err != nil {
					r.Status, r.Err = Failed, err
					hostFailed = fmt.Sprintf("%s failed", step.ID)
				} else {
					r.Status = Applied
				}
				close(done[i])
				report(Event{Result: *r})
			}
		}(byHost[h])
	}
	wg.Wait()
	res.Duration = time.Since(start)
	return res
}

// waitDeps blocks until step i's dependencies ended and returns "" when all
// were applied, or why the step must not run.
func (e *Executor) waitDeps(ctx context.Context, step plan.Step, i int, index map[string]int, done []chan struct{}, res *Result) string {
	for _, dep := range step.DependsOn {
		j, ok := index[dep]
		if !ok {
			return fmt.Sprintf("depends on unknown step %q", dep)
		}
		if j >= i {
			// Only earlier steps may be waited on; this keeps the per-host
			// goroutines free of deadlock.
			return fmt.Sprintf("depends on later step %q (plan out of order)", dep)
		}
		select {
		case <-done[j]:
		case <-ctx.Done():
			return "cancelled: " + ctx.Err().Error()
		}
		if st := res.Steps[j]; st.Status != Applied {
			return fmt.Sprintf("depends on %s, which %s", dep, describe(st.Status))
		}
	}
	if err := ctx.Err(); err != nil {
		return "cancelled: " + err.Error()
	}
	return ""
}

func describe(s Status) string {
	if s == Failed {
		return "failed"
	}
	return "did not run"
}

func (e *Executor) runStep(ctx context.Context, step plan.Step) error {
	if step.Kind == plan.KindRestartNeeded {
		return fmt.Errorf("%s needs a server restart; mmm does not restart servers", step.Subject)
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	// A clone takes as long as the data; its statements have their own
	// timeouts and the apply's context still cancels it.
	if step.Kind != plan.KindCloneHost {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if e.Guard != nil {
		if err := e.Guard(ctx, step); err != nil {
			return err
		}
	}
	if e.Runner != nil {
		err := e.Runner.RunStep(ctx, step)
		if !errors.Is(err, ErrNotHandled) {
			return err
		}
	}
	if len(step.Statements) == 0 {
		return fmt.Errorf("no statements and no runner for %s step", step.Kind)
	}
	return e.runSQL(ctx, step)
}

// runSQL runs a step's statements on one connection, so that session settings
// (sql_log_bin=0 before account changes) hold for the statements after them.
func (e *Executor) runSQL(ctx context.Context, step plan.Step) error {
	if e.DBs == nil {
		return fmt.Errorf("no database connections configured")
	}
	db, err := e.DBs.DB(ctx, step.Host)
	if err != nil {
		return fmt.Errorf("connect %s: %w", step.Host, err)
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect %s: %w", step.Host, err)
	}
	defer c.Close()
	for _, st := range step.Statements {
		if err := execStatement(ctx, c, st); err != nil {
			// The shown text never holds a secret; the server's message may
			// quote the executed one back.
			return fmt.Errorf("%s: %w", st.Text, conn.RedactSecrets(err, st.Secrets()...))
		}
	}
	return nil
}

// execStatement runs one statement. A SELECT is read, and a result of -1 or
// NULL is a failure: that is how MASTER_GTID_WAIT and friends say "timed out".
func execStatement(ctx context.Context, c *sql.Conn, st plan.Statement) error {
	q := st.Exec()
	if isSelect(q) {
		var v sql.NullString
		if err := c.QueryRowContext(ctx, q).Scan(&v); err != nil {
			return err
		}
		if !v.Valid || v.String == "-1" {
			return fmt.Errorf("returned %s (timed out or failed)", nullString(v))
		}
		return nil
	}
	_, err := c.ExecContext(ctx, q)
	return err
}

func nullString(v sql.NullString) string {
	if !v.Valid {
		return "NULL"
	}
	return v.String
}

func isSelect(q string) bool {
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return len(q)-i >= 6 && (q[i:i+6] == "SELECT" || q[i:i+6] == "select")
	}
	return false
}
