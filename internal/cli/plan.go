package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/plan"
)

// PlanCmd reads the live cluster, diffs it against the file and shows the steps.
type PlanCmd struct {
	ClusterFlags
	Out              string `help:"Save the plan to FILE for a later 'mmm apply FILE' (holds no secrets)." placeholder:"FILE" type:"path"`
	DetailedExitcode bool   `help:"Exit 0 when there is nothing to do, 2 when there are changes, 1 on error."`
	JSON             bool   `help:"Print the plan as JSON (docs/plan-json.md)." name:"json"`
	MoveWriterTo     string `help:"Plan a switchover of the writer role to this master." placeholder:"HOST"`
	AllowUnsafe      bool   `help:"Plan what 'mmm apply --allow-unsafe' would do (also: move the writer back to prefer)."`
}

func (c *PlanCmd) Run(g *Globals) error {
	s, err := newSession(g, c.ClusterFlags)
	if err != nil {
		return err
	}
	if c.MoveWriterTo != "" && s.cluster.Host(c.MoveWriterTo) == nil {
		return fmt.Errorf("--move-writer-to: host %q is not declared in %s", c.MoveWriterTo, g.Config)
	}
	ctx := context.Background()
	live := s.inspect(ctx)
	p := s.diff(live, plan.Options{MoveWriterTo: c.MoveWriterTo, AllowUnsafe: c.AllowUnsafe})

	if c.JSON {
		err = plan.WriteJSON(g.Stdout, p)
	} else {
		err = plan.Render(g.Stdout, p)
	}
	if err != nil {
		return err
	}
	if c.Out != "" {
		if err := savePlan(c.Out, p); err != nil {
			return err
		}
		if !c.JSON {
			fmt.Fprintf(g.Stdout, "\nSaved the plan to %s. To carry it out: mmm apply %s\n", c.Out, c.Out)
		}
	}
	return planExit(p, len(apply.Unreachable(s.cluster, live)) > 0, c.DetailedExitcode)
}

// planExit maps a plan to the exit code contract: 1 when the plan has errors
// or could not see every host (it would be pretending to be complete), else
// with --detailed-exitcode 2 for changes and 0 for none.
func planExit(p *plan.Plan, incomplete, detailed bool) error {
	if p.HasErrors() || incomplete {
		return &ExitError{Code: ExitFailure}
	}
	if detailed && p.Changes() > 0 {
		return &ExitError{Code: ExitChanges}
	}
	return nil
}

// savePlan writes the plan file atomically with owner-only permissions.
func savePlan(path string, p *plan.Plan) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mmm-plan-*")
	if err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := plan.Save(tmp, p); err != nil {
		tmp.Close()
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	return nil
}
