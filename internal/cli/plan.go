package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"

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
	err := c.run(g)
	if err == nil || !c.JSON {
		return err
	}
	if _, printed := err.(*ExitError); printed {
		return err // planExit: the plan is printed, only the exit code is left
	}
	// An error before there was a plan: still one JSON document, with it.
	if werr := writeJSONError(g.Stdout, err); werr != nil {
		return werr
	}
	return &ExitError{Code: ExitFailure}
}

func (c *PlanCmd) run(g *Globals) error {
	s, err := newSessionNeeding(g, c.ClusterFlags, needPlanApply)
	if err != nil {
		return err
	}
	if c.MoveWriterTo != "" && s.cluster.Host(c.MoveWriterTo) == nil {
		return fmt.Errorf("--move-writer-to: host %q is not declared in %s", c.MoveWriterTo, g.Config)
	}
	ctx := context.Background()
	live := s.inspect(ctx)
	p := s.diff(live, plan.Options{MoveWriterTo: c.MoveWriterTo, AllowUnsafe: c.AllowUnsafe})
	incomplete := len(apply.Unreachable(s.cluster, live)) > 0
	unseenAreErrors(p, live)

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
			fmt.Fprintf(g.Stdout, "\nSaved the plan to %s. To carry it out: mmm apply --config %s %s\n",
				c.Out, shellQuote(g.Config), shellQuote(absPath(c.Out)))
		}
	}
	return planExit(p, incomplete, c.DetailedExitcode)
}

// unseenAreErrors makes the plan's warnings about hosts (or agents) it could
// not see errors: such a plan exits 1 and apply refuses it, so calling them
// warnings would contradict the exit code. The unreachable host's own
// problem carries the inspection's error, which names the host and address
// already: it becomes the summary, so that the cause is said once. The plan
// package keeps them warnings: the watch plans around a dead host.
func unseenAreErrors(p *plan.Plan, live *topology.Live) {
	unseen := map[string]string{}
	for name, lh := range live.Hosts {
		if !lh.Reachable {
			unseen[name] = lh.Error
		}
	}
	for name, la := range live.Agents {
		if !la.Reachable {
			if _, ok := unseen[name]; !ok {
				unseen[name] = ""
			}
		}
	}
	for i := range p.Problems {
		pr := &p.Problems[i]
		cause, ok := unseen[pr.Host]
		if !ok || pr.Severity != plan.SeverityWarning {
			continue
		}
		pr.Severity = plan.SeverityError
		if cause != "" && strings.HasSuffix(pr.Summary, ": "+cause) {
			pr.Summary = cause
		}
	}
}

// writeJSONError prints an error as the one JSON document of plan --json
// (docs/plan-json.md: "error" is set and there are no steps).
func writeJSONError(w io.Writer, err error) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		FormatVersion int         `json:"format_version"`
		Error         string      `json:"error"`
		Steps         []plan.Step `json:"steps"`
	}{plan.FormatVersion, err.Error(), []plan.Step{}})
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// shellQuote quotes s for a POSIX shell when it needs it, so that a hint
// can be pasted as is.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
