package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// ApplyCmd makes the cluster match the file.
type ApplyCmd struct {
	ClusterFlags
	PlanFile     string        `arg:"" optional:"" help:"A plan saved by 'mmm plan --out FILE'; without it apply plans afresh." type:"existingfile" placeholder:"PLANFILE"`
	AutoApprove  bool          `help:"Do not ask for confirmation." env:"MMM_AUTO_APPROVE"`
	AllowUnsafe  bool          `help:"Allow steps marked unsafe (demoting a healthy writer, dropping accounts); also moves the writer back to prefer."`
	JSON         bool          `help:"Print the result as JSON: changed, and every step with its status." name:"json"`
	LockTimeout  time.Duration `help:"How long to wait for another mmm apply on this cluster to finish." default:"60s" env:"MMM_LOCK_TIMEOUT"`
	StepTimeout  time.Duration `help:"Time limit of each step." default:"60s" env:"MMM_STEP_TIMEOUT"`
	MoveWriterTo string        `help:"Switch the writer role over to this master (needs --allow-unsafe)." placeholder:"HOST"`
}

func (c *ApplyCmd) Run(g *Globals) error {
	out, err := c.run(g)
	return c.report(g, out, err)
}

// run applies; every error, early ones too, goes through report so that
// --json always prints one JSON document with the error in it.
func (c *ApplyCmd) run(g *Globals) (*apply.Outcome, error) {
	if c.JSON && !c.AutoApprove && c.PlanFile == "" {
		return nil, errors.New("--json needs --auto-approve or a plan file: there is no one to answer the prompt")
	}
	s, err := newSessionNeeding(g, c.ClusterFlags, needPlanApply)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	opts := plan.Options{AllowUnsafe: c.AllowUnsafe, MoveWriterTo: c.MoveWriterTo}

	var approved *plan.Plan
	if c.PlanFile != "" {
		approved, err = loadPlanFile(c.PlanFile)
		if err != nil {
			return nil, err
		}
		if approved.Cluster != s.cluster.Name {
			return nil, fmt.Errorf("%s is a plan for cluster %q, but %s declares cluster %q", c.PlanFile, approved.Cluster, g.Config, s.cluster.Name)
		}
		if approved.Fingerprint.Writer != "" && c.MoveWriterTo == "" && approved.Writer != approved.Fingerprint.Writer {
			// The plan was made with --move-writer-to; re-plan the same way.
			opts.MoveWriterTo = approved.Writer
		}
	}

	applier := &apply.Applier{
		Cluster:     s.cluster,
		Inspect:     s.inspect,
		Diff:        func(l *topology.Live) *plan.Plan { return s.diff(l, opts) },
		DBs:         &apply.Pool{Cluster: s.cluster, Timeouts: s.flags.timeouts()},
		Agents:      agentsOrNil(s.agents()),
		AllowUnsafe: c.AllowUnsafe,
		LockWait:    c.LockTimeout,
		StepTimeout: c.StepTimeout,
	}
	defer applier.DBs.(*apply.Pool).Close()
	waited := false
	applier.Waiting = func(host, holder string, wait time.Duration) {
		waited = true
		if holder != "" {
			holder = " (held" + holder + ")"
		}
		fmt.Fprintf(g.Stderr, "mmm: another mmm apply holds the cluster lock on %s%s; waiting up to %s for it (--lock-timeout)\n", host, holder, wait)
	}
	if !c.JSON {
		applier.Progress = func(ev apply.Event) { printProgress(g.Stdout, ev) }
	}

	// A wrong password or a dead host is reported as such before the lock.
	live := s.inspect(ctx)
	if down := apply.Unreachable(s.cluster, live); len(down) > 0 {
		return nil, fmt.Errorf("%w:\n  %s", apply.ErrIncomplete, strings.Join(down, "\n  "))
	}

	if approved != nil {
		// A saved plan is checked against the cluster under the lock, and
		// refused when stale (Apply).
		if !c.JSON {
			fmt.Fprintf(g.Stdout, "Applying the plan saved in %s (made %s, %d change(s)).\n\n",
				c.PlanFile, approved.CreatedAt.Format(time.RFC3339), approved.Changes())
		}
		return applier.Apply(ctx, approved)
	}

	// Plan under the cluster lock: an apply queued behind another one plans
	// from what that one left, so it never fails because it converged the
	// cluster meanwhile; it finds less, or nothing, to do.
	lock, err := applier.LockCluster(ctx)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	applier.Lock = lock
	if waited {
		if !c.JSON {
			fmt.Fprintln(g.Stdout, "Got the cluster lock; planning again from the cluster as the other apply left it.")
		}
		live = s.inspect(ctx)
		if down := apply.Unreachable(s.cluster, live); len(down) > 0 {
			return nil, fmt.Errorf("%w:\n  %s", apply.ErrIncomplete, strings.Join(down, "\n  "))
		}
	}
	approved = s.diff(live, opts)
	if !c.JSON {
		if err := plan.Render(g.Stdout, approved); err != nil {
			return nil, err
		}
	}
	if approved.HasErrors() {
		if c.JSON {
			return &apply.Outcome{Plan: approved}, errors.New("the plan has errors (see problems); nothing was changed")
		}
		return nil, errors.New("the plan has errors (above); nothing was changed")
	}
	if approved.Changes() == 0 {
		return &apply.Outcome{Plan: approved, After: approved}, nil
	}
	if !c.AutoApprove {
		ok, answered, err := confirm(g.Stdin, g.Stdout)
		if err != nil {
			return nil, err
		}
		if !answered {
			return nil, errors.New("apply cancelled: no answer to the prompt (stdin is closed or not a terminal); pass --auto-approve to apply without asking; nothing was changed")
		}
		if !ok {
			return nil, errors.New("apply cancelled: only 'yes' approves; nothing was changed")
		}
	}
	return applier.Apply(ctx, approved)
}

func loadPlanFile(path string) (*plan.Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	defer f.Close()
	p, err := plan.Load(f)
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", path, err)
	}
	return p, nil
}

// confirm asks for a literal "yes", as Terraform does. answered is false
// when stdin ended before any answer (no terminal: cron, CI, config
// management without --auto-approve).
func confirm(in io.Reader, out io.Writer) (ok, answered bool, err error) {
	fmt.Fprint(out, "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, false, fmt.Errorf("read answer: %w", err)
	}
	fmt.Fprintln(out)
	if err != nil && line == "" {
		return false, false, nil
	}
	return strings.TrimSpace(line) == "yes", true, nil
}

func printProgress(w io.Writer, ev apply.Event) {
	if ev.Note != "" {
		fmt.Fprintln(w, ev.Note)
		return
	}
	if ev.Plan != nil {
		fmt.Fprintf(w, "\nRound %d: %d step(s) for the servers that restarted on their copy:\n", ev.Round, len(ev.Plan.Steps))
		return
	}
	r := ev.Result
	what := r.Step.Subject
	if r.Step.Change != "" {
		what += ": " + r.Step.Change
	}
	switch {
	case ev.Start:
		return
	case r.Status == apply.Applied:
		fmt.Fprintf(w, "%s: %s  done (%s)\n", r.Step.Host, what, roundDuration(r.Duration))
	case r.Status == apply.Failed:
		fmt.Fprintf(w, "%s: %s  FAILED (%s): %v\n", r.Step.Host, what, roundDuration(r.Duration), r.Err)
	default:
		fmt.Fprintf(w, "%s: %s  not run: %s\n", r.Step.Host, what, r.Reason)
	}
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	case d > time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d
}

// applyJSON is the --json contract for config management (README, "apply").
type applyJSON struct {
	Changed   bool           `json:"changed"`
	Converged bool           `json:"converged"`
	Applied   int            `json:"applied"`
	Failed    int            `json:"failed"`
	NotRun    int            `json:"not_run"`
	Duration  string         `json:"duration"`
	Steps     []stepJSON     `json:"steps"`
	Remaining []string       `json:"remaining,omitempty"`
	Notes     []string       `json:"notes,omitempty"`
	Problems  []plan.Problem `json:"problems,omitempty"`
	Error     string         `json:"error,omitempty"`
}

type stepJSON struct {
	ID       string           `json:"id"`
	Host     string           `json:"host"`
	Kind     plan.Kind        `json:"kind"`
	Action   plan.Symbol      `json:"action"`
	Subject  string           `json:"subject"`
	Change   string           `json:"change"`
	SQL      []plan.Statement `json:"sql,omitempty"`
	Status   apply.Status     `json:"status"`
	Duration string           `json:"duration,omitempty"`
	Error    string           `json:"error,omitempty"`
	Reason   string           `json:"reason,omitempty"`
}

// report prints the outcome (JSON or a summary line) and maps it to the exit code.
func (c *ApplyCmd) report(g *Globals, out *apply.Outcome, applyErr error) error {
	if c.JSON {
		j := applyJSON{Steps: []stepJSON{}}
		if out != nil {
			j.Changed = out.Changed()
			if out.Plan != nil {
				j.Notes, j.Problems = out.Plan.Notes, out.Plan.Problems
			}
			j.Notes = append(j.Notes, out.Notes...)
			if out.Result != nil {
				j.Applied, j.Failed, j.NotRun = out.Result.Count(apply.Applied), out.Result.Count(apply.Failed), out.Result.Count(apply.NotRun)
				j.Duration = out.Result.Duration.String()
				for _, r := range out.Result.Steps {
					sj := stepJSON{ID: r.Step.ID, Host: r.Step.Host, Kind: r.Step.Kind, Action: r.Step.Symbol,
						Subject: r.Step.Subject, Change: r.Step.Change, SQL: r.Step.Statements, Status: r.Status, Reason: r.Reason}
					if r.Duration > 0 {
						sj.Duration = r.Duration.String()
					}
					if r.Err != nil {
						sj.Error = r.Err.Error()
					}
					j.Steps = append(j.Steps, sj)
				}
			}
			if out.After != nil {
				j.Converged = out.After.Changes() == 0 && !out.After.HasErrors()
				for _, s := range out.After.Steps {
					j.Remaining = append(j.Remaining, s.ID)
				}
			}
		}
		if applyErr != nil {
			j.Error = applyErr.Error()
		}
		enc := json.NewEncoder(g.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(j); err != nil {
			return err
		}
		if applyErr != nil {
			return &ExitError{Code: ExitFailure}
		}
		return nil
	}

	if out != nil && out.Result != nil {
		r := out.Result
		fmt.Fprintf(g.Stdout, "\nApply %s: %d applied, %d failed, %d not run, in %s.\n",
			map[bool]string{true: "complete", false: "failed"}[applyErr == nil],
			r.Count(apply.Applied), r.Count(apply.Failed), r.Count(apply.NotRun), roundDuration(r.Duration))
		if applyErr == nil {
			fmt.Fprintln(g.Stdout, "mmm plan now finds no changes: the cluster matches the configuration.")
		}
	}
	if applyErr != nil {
		var ee *ExitError
		if errors.As(applyErr, &ee) {
			return applyErr // said already (the topology's diagnostics)
		}
		return &ExitError{Code: ExitFailure, Err: applyErr}
	}
	return nil
}

// agentsOrNil keeps a nil *agent.Client from becoming a non-nil interface.
func agentsOrNil(c *agent.Client) apply.Agents {
	if c == nil {
		return nil
	}
	return c
}
