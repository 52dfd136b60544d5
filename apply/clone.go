package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/mysql-mmm/mmm/internal/clone"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// CloneAgents is what a physical clone on MariaDB needs of the agent client:
// the target's agent pulls the donor's mariabackup stream and restarts its
// server on the copy.
type CloneAgents interface {
	Clone(ctx context.Context, host, donor string, overwrite bool, onEvent func(clone.PhysicalEvent)) (*clone.PhysicalResult, error)
}

// cloneRunner carries out KindCloneHost (the step's Clone says how): the
// logical copy (internal/clone, SQL from here), mariabackup through the
// agents, or MySQL's CLONE plugin. The copy is not bounded by the step
// timeout (see Executor.runStep); cancelling the apply interrupts it, and
// the next apply recognises the partial clone (or the untouched target) and
// redoes it.
type cloneRunner struct {
	cluster *topology.Cluster
	agents  CloneAgents // nil: physical MariaDB clones fail
	// Reporter shows progress; nil = a bar on stderr when it is a
	// terminal, log lines otherwise.
	reporter *clone.Reporter
	options  clone.Options
}

func (r *cloneRunner) RunStep(ctx context.Context, s plan.Step) error {
	if s.Kind != plan.KindCloneHost {
		return ErrNotHandled
	}
	if s.Clone == nil {
		return fmt.Errorf("clone step %s has no donor (a plan file from another version?)", s.ID)
	}
	donor, target := r.cluster.Host(s.Clone.Donor), r.cluster.Host(s.Host)
	if donor == nil || target == nil {
		return fmt.Errorf("clone of %s from %s: host not declared in the topology", s.Host, s.Clone.Donor)
	}
	reporter := r.reporter
	if reporter == nil {
		reporter = &clone.Reporter{}
	}
	switch {
	case s.Clone.Method == plan.CloneLogical:
		opts := r.options
		opts.Overwrite = s.Clone.Overwrite
		opts.Reporter = reporter
		_, err := clone.Clone(ctx, donor, target, opts)
		var mm *clone.MismatchError
		if errors.As(err, &mm) {
			return fmt.Errorf("%w; the copy is left marked partial and the next apply redoes it", err)
		}
		return err
	case s.Clone.Method == plan.ClonePhysical && s.Clone.Tool == plan.ToolMariabackup:
		if r.agents == nil {
			return fmt.Errorf("clone of %s: the physical method needs the agents, and apply has no agent client", s.Host)
		}
		progress := clone.NewProgress(0)
		stop := reporter.Start(progress, s.Host)
		_, err := r.agents.Clone(ctx, s.Host, s.Clone.Donor, s.Clone.Overwrite, func(e clone.PhysicalEvent) {
			progress.SetBytes(e.Bytes, e.Total)
		})
		stop()
		if err != nil {
			return fmt.Errorf("clone of %s from %s (mariabackup): %w", s.Host, s.Clone.Donor, err)
		}
		return nil
	case s.Clone.Method == plan.ClonePhysical && s.Clone.Tool == plan.ToolClonePlugin:
		_, err := clone.CloneInstance(ctx, donor, target, clone.InstanceOptions{Overwrite: s.Clone.Overwrite, Reporter: reporter})
		return err
	}
	return fmt.Errorf("clone of %s: method %q (%s) is not supported by this version of mmm", s.Host, s.Clone.Method, s.Clone.Tool)
}
