package apply

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/clone"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// verifyCatchUp bounds the wait for the replica that is behind when a copy
// is verified.
const verifyCatchUp = 2 * time.Minute

// verifyCopies compares every table of each host the plan gave a mariabackup
// copy with a replica of the same source, once it replicates
// (clone.VerifyReplicas): mariabackup checks pages, this checks rows. The
// reference is the donor when it is a slave of the writer, else another
// slave that is (see reference). A copy that differs is marked partial (the next apply
// redoes it) and the apply fails naming the tables.
func (a *Applier) verifyCopies(ctx context.Context, out *Outcome, p *plan.Plan, live *topology.Live) error {
	for _, s := range p.Steps {
		if s.Kind != plan.KindCloneHost || s.Clone == nil || s.Clone.Tool != plan.ToolMariabackup {
			continue
		}
		target := a.Cluster.Host(s.Host)
		ref := a.reference(s.Host, s.Clone.Donor, live)
		if ref == nil {
			a.notify(out, "%s: copy not compared table by table: no other healthy slave of its source to compare it with (masters are never paused for it); mariabackup checked every page", s.Host)
			continue
		}
		v, err := clone.VerifyReplicas(ctx, ref, target, verifyCatchUp)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Host, err)
		}
		if len(v.Mismatches) > 0 {
			if err := clone.MarkPartial(ctx, target); err != nil {
				return fmt.Errorf("%s: checksums of %d table(s) differ from %s's (%s), and marking the copy partial failed: %w", s.Host, len(v.Mismatches), ref.Name, strings.Join(v.Mismatches, ", "), err)
			}
			return fmt.Errorf("%s: checksums of %d table(s) differ from %s's at %s: %s; the copy is marked partial and the next apply redoes it",
				s.Host, len(v.Mismatches), ref.Name, v.Position, strings.Join(v.Mismatches, ", "))
		}
		a.notify(out, "%s: copy verified: %d table(s) have the checksums of %s at GTID %s (replication paused %s)",
			s.Host, v.Tables, ref.Name, v.Position, v.Paused.Round(time.Millisecond))
	}
	return nil
}

// reference picks the replica to compare a copy of host with: one that
// replicates from the same source without error and can never be promoted.
// Verification stops its replication for a while, and a promotable host is
// the one whose semi-sync acknowledgement the writer waits for: stopping it
// would make the writer's commits wait the timeout, then go asynchronous.
func (a *Applier) reference(host, donor string, live *topology.Live) *topology.Host {
	promotable := map[string]bool{}
	if role := a.Cluster.WriterRole(); role != nil {
		for _, h := range role.Hosts {
			promotable[h] = true
		}
	}
	source := func(name string) string {
		lh := live.Hosts[name]
		if lh == nil || lh.Replica == nil || !lh.Replica.Running() || lh.Replica.LastIOErrno != 0 || lh.Replica.LastSQLErrno != 0 {
			return ""
		}
		return fmt.Sprintf("%s:%d", lh.Replica.SourceHost, lh.Replica.SourcePort)
	}
	want := source(host)
	if want == "" {
		return nil
	}
	if !promotable[donor] && source(donor) == want {
		return a.Cluster.Host(donor)
	}
	for _, h := range a.Cluster.Hosts {
		if h.Name != host && !promotable[h.Name] && h.Mode == topology.ModeSlave && source(h.Name) == want {
			return h
		}
	}
	return nil
}

// notify reports a line of its own now (Progress) and in the outcome.
func (a *Applier) notify(out *Outcome, format string, args ...any) {
	note := fmt.Sprintf(format, args...)
	out.Notes = append(out.Notes, note)
	if a.Progress != nil {
		a.Progress(Event{Note: note})
	}
}
