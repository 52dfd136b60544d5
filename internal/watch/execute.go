package watch

// Executing plans: the watch's changes go through apply's executor, VIP
// steps through the agents with the watch's lease, hooks through package
// command.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/command"
	"github.com/mysql-mmm/mmm/plan"
)

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
	return w.executeWith(ctx, what, p, w.cfg.DBs)
}

// executeWith runs p on the given connections.
func (w *Watch) executeWith(ctx context.Context, what string, p *plan.Plan, dbs apply.Databases) execResult {
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
		DBs:     dbs,
		Runner:  apply.Runners(&leaseVIPRunner{w: w}, apply.NewWaitRunner(dbs, w.c), apply.NewKillRunner(dbs, w.c)),
		Guard:   w.guard,
		Timeout: w.cfg.StepTimeout,
	}
	res := ex.Execute(ctx, p)
	var touched []string
	for _, s := range res.Steps {
		if s.Status != apply.NotRun && !contains(touched, s.Step.Host) {
			touched = append(touched, s.Step.Host)
		}
	}
	w.changedHosts(touched)
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
	if !s.MakesWritable {
		return nil
	}
	for _, h := range w.c.Masters() {
		if h.Name == s.Host || w.leases.Fenced(h.Name) {
			// A fenced master (its agent confirmed, its lease ran out, or
			// the fence hook powered it off) is not asked: it may be gone,
			// and dialling it would cost its connect timeout.
			continue
		}
		gctx, cancel := context.WithTimeout(ctx, w.inspectTimeout())
		defer cancel()
		db, err := w.cfg.DBs.DB(gctx, h.Name)
		if err != nil {
			if !w.leases.Fenced(h.Name) {
				return fmt.Errorf("refusing to make %s writable: %s cannot be checked (%v) and was not fenced", s.Host, h.Name, err)
			}
			continue
		}
		var ro int
		if err := db.QueryRowContext(gctx, "SELECT @@global.read_only").Scan(&ro); err != nil {
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
	if w.leases.Unknown(s.Host) {
		return fmt.Errorf("agent %s: what it holds is not known yet since this watch node took over; the next round tries again", s.Host)
	}
	var roles []RoleIP
	for _, x := range w.leases.Held(s.Host) {
		if x.IP != s.VIP.IP {
			roles = append(roles, x)
		}
	}
	if s.Kind == plan.KindAssignVIP {
		roles = append(roles, RoleIP{Role: s.VIP.Role, IP: s.VIP.IP})
	}
	st, err := w.grant(ctx, s.Host, roles)
	if err != nil {
		return err
	}
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

// runHook runs a hook (monitor.pre_failover, post_failover, fence_hook: one
// command as an argument list) with the event's details in a minimal
// environment (never the watch's own, which holds secrets), in its own
// process group, killed whole at timeout. Non-zero exit is an error.
func runHook(ctx context.Context, argv []string, env []string, timeout time.Duration) error {
	if len(argv) == 0 {
		return nil
	}
	r := command.Run(ctx, command.Spec{Argv: argv, Env: env, Timeout: timeout})
	if r.Err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), r.Err)
	}
	return nil
}
