package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/drill"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/internal/watch"
	"github.com/mysql-mmm/mmm/plan"
)

// DrillCmd is `mmm drill`: a measured switchover rehearsal on the real
// cluster.
type DrillCmd struct {
	ClusterFlags
	Rounds      int           `help:"Rounds: each moves the writer to the standby and back." default:"1"`
	JSON        bool          `help:"Print the report as JSON (progress goes to stderr)." name:"json"`
	StepTimeout time.Duration `help:"Time limit of each step when the drill moves the writer itself (no watch)." default:"60s" env:"MMM_STEP_TIMEOUT"`
}

// Help is kong's long help.
func (c *DrillCmd) Help() string {
	return `Refused unless the cluster is healthy (every host reachable, one writable
master, every other host replicating from it, 'mmm plan' empty). Creates a
scratch schema and account, mmm_drill (replicated; dropped at the end), writes
to it through the writer VIP as an account that cannot write past read_only,
and moves the writer to the standby and back, --rounds times: through the
running watch's move-role when a watch answers, else as 'mmm apply
--move-writer-to' would. Per move it reports the longest gap between
acknowledged writes (what clients saw), the time until every replica follows
the new writer, and acknowledged rows missing on the new writer (must be 0).

Ctrl-C stops after the move in flight and leaves the writer it made; the
scratch schema and account are dropped in any case.

Examples:
  mmm drill
  mmm drill --rounds 3
  mmm drill --rounds 3 --json > drill.json`
}

func (c *DrillCmd) Run(g *Globals) error {
	s, err := newSession(g, c.ClusterFlags)
	if err != nil {
		return err
	}
	role := s.cluster.WriterRole()
	if role == nil {
		return errors.New("the cluster has no writer role (cluster.active_master_role): nothing to move")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	progressTo := g.Stdout
	if c.JSON {
		progressTo = g.Stderr
	}
	opts := drill.Options{
		Cluster: s.cluster, Inspect: s.inspect, Rounds: c.Rounds, Timeouts: s.flags.timeouts(), Logger: g.Logger,
		Progress: func(line string) { fmt.Fprintf(progressTo, "%s  %s\n", time.Now().Format("15:04:05.000"), line) },
	}
	if client, r := runningWatch(ctx, s.cluster); client != nil {
		if err := watchFitForDrill(r); err != nil {
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%w: %v", drill.ErrUnhealthy, err)}
		}
		opts.Via = "the running watch's move-role (" + s.cluster.Monitor.Listen + ")"
		opts.Move = func(ctx context.Context, to string) error {
			_, err := client.Command(ctx, "move-role", watch.Command{Role: role.Name, Host: to})
			return err
		}
	} else {
		opts.Via = "apply (no watch answers)"
		opts.Move = func(ctx context.Context, to string) error { return c.applyMove(ctx, s, to) }
	}

	rep, err := drill.Run(ctx, opts)
	if errors.Is(err, drill.ErrUnhealthy) && !c.JSON {
		return &ExitError{Code: ExitFailure, Err: err}
	}
	if c.JSON {
		if err != nil {
			rep.Error = err.Error()
		}
		if perr := printJSON(g.Stdout, rep); perr != nil {
			return perr
		}
	} else {
		renderDrill(g.Stdout, rep)
	}
	if err != nil {
		if c.JSON {
			return &ExitError{Code: ExitFailure}
		}
		return &ExitError{Code: ExitFailure, Err: err}
	}
	return nil
}

// runningWatch returns a client of the watch and its report when one
// answers on monitor.listen.
func runningWatch(ctx context.Context, c *topology.Cluster) (*watch.Client, *watch.Report) {
	if c.Monitor.Listen == "" || c.Monitor.Token.Value() == "" {
		return nil, nil
	}
	client, err := watch.NewClient(c, c.Monitor.Token.Value())
	if err != nil {
		return nil, nil
	}
	client.Timeout = 3 * time.Second
	r, err := client.Status(ctx)
	if err != nil {
		return nil, nil
	}
	// A switchover waits for the candidate to catch up: give it time.
	client.Timeout = 3 * time.Minute
	return client, r
}

// watchFitForDrill: the watch moves roles (not passive), is idle, and sees
// every host ONLINE.
func watchFitForDrill(r *watch.Report) error {
	switch {
	case r.Mode == watch.ModePassive:
		return errors.New("the watch is passive: it moves no role (`mmm mode active` or `manual` first)")
	case r.Busy != "":
		return fmt.Errorf("the watch is busy: %s", r.Busy)
	case r.LastFailure != "":
		return fmt.Errorf("the watch reports a failure: %s", r.LastFailure)
	}
	for _, h := range r.Hosts {
		if h.State != watch.Online {
			return fmt.Errorf("the watch has %s %s, not ONLINE", h.Name, h.State)
		}
	}
	return nil
}

// applyMove moves the writer to to as `mmm apply --move-writer-to TO
// --allow-unsafe --auto-approve` does.
//
// Each move first checks the cluster again as the drill's start did (the
// plan empty): the unsafe flag is for the switchover alone, never for
// whatever else drifted meanwhile.
func (c *DrillCmd) applyMove(ctx context.Context, s *session, to string) error {
	if _, _, err := drill.Check(s.cluster, s.inspect(ctx), time.Now()); err != nil {
		return err
	}
	opts := plan.Options{MoveWriterTo: to, AllowUnsafe: true}
	pool := &apply.Pool{Cluster: s.cluster, Timeouts: s.flags.timeouts()}
	defer pool.Close()
	a := &apply.Applier{
		Cluster: s.cluster, Inspect: s.inspect,
		Diff: func(l *topology.Live) *plan.Plan { return s.diff(l, opts) },
		DBs:  pool, Agents: agentsOrNil(s.agents()), AllowUnsafe: true,
		LockWait: time.Minute, StepTimeout: c.StepTimeout,
	}
	_, err := a.Apply(ctx, a.Diff(a.Inspect(ctx)))
	return err
}

// renderDrill prints the summary table.
func renderDrill(w io.Writer, r *drill.Report) {
	fmt.Fprintf(w, "\nDrill of cluster %s: writer %s, standby %s, via %s; load through %s.\n\n", r.Cluster, r.Writer, r.Standby, r.Via, r.Target)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MOVE\tROUND\tFROM -> TO\tTOOK\tWRITES BLOCKED\tREPLICAS FOLLOW\tROWS CHECKED\tROWS LOST")
	for i, m := range r.Moves {
		lost := fmt.Sprint(m.RowsLost)
		if m.Error != "" {
			lost += "  ERROR: " + m.Error
		}
		fmt.Fprintf(tw, "%d\t%d\t%s -> %s\t%s\t%s\t%s\t%d\t%s\n", i+1, m.Round, m.From, m.To, m.Took, m.WriteBlocked, m.Follow, m.RowsChecked, lost)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%d writes acknowledged, %d lost. The writer is %s", r.Acked, r.RowsLost, r.FinalWriter)
	if r.FinalWriter == r.Writer {
		fmt.Fprintln(w, " (as at the start).")
	} else {
		fmt.Fprintf(w, " (it was %s at the start).\n", r.Writer)
	}
	if r.Interrupted {
		fmt.Fprintln(w, "Interrupted: the drill stopped after the move in flight.")
	}
}
