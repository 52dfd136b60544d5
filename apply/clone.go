package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/mysql-mmm/mmm/internal/clone"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// cloneRunner carries out KindCloneHost: a logical copy of the donor into the
// step's host (internal/clone). The copy is not bounded by the step timeout
// (see Executor.runStep); cancelling the apply interrupts it, and the next
// apply recognises the partial clone and redoes it.
type cloneRunner struct {
	cluster *topology.Cluster
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
	if s.Clone.Method != plan.CloneLogical {
		return fmt.Errorf("clone of %s: method %q is not supported yet", s.Host, s.Clone.Method)
	}
	donor, target := r.cluster.Host(s.Clone.Donor), r.cluster.Host(s.Host)
	if donor == nil || target == nil {
		return fmt.Errorf("clone of %s from %s: host not declared in the topology", s.Host, s.Clone.Donor)
	}
	opts := r.options
	opts.Overwrite = s.Clone.Overwrite
	opts.Reporter = r.reporter
	if opts.Reporter == nil {
		opts.Reporter = &clone.Reporter{}
	}
	_, err := clone.Clone(ctx, donor, target, opts)
	var mm *clone.MismatchError
	if errors.As(err, &mm) {
		return fmt.Errorf("%w; the copy is left marked partial and the next apply redoes it", err)
	}
	return err
}
