package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/internal/watch"
	"github.com/mysql-mmm/mmm/plan"
)

// SimulateCmd is `mmm simulate`: what the watch would do now if hosts
// failed, on the watch's own decision code, changing nothing.
type SimulateCmd struct {
	ClusterFlags
	Fail   []string `help:"Imagine HOST's database server dies (kill -9, crash); its host and agent stay up. Repeatable." placeholder:"HOST"`
	Freeze []string `help:"Imagine HOST's database server hangs: it accepts connections but never answers; its host and agent stay up. Repeatable." placeholder:"HOST"`
	Lose   []string `help:"Imagine the whole HOST goes silent (power, network): its server and its agent. Repeatable." placeholder:"HOST"`
	Cut    []string `help:"Imagine the monitor alone loses HOST; the other hosts still reach it. Repeatable." placeholder:"HOST"`
	JSON   bool     `help:"Print the answer as JSON (the plan as in 'mmm plan --json')." name:"json"`
}

// Help is kong's long help.
func (c *SimulateCmd) Help() string {
	return `Reads the live cluster like 'mmm plan' (and the running watch's writer, host
states and mode when it answers), imagines the faults, and runs the watch's
own detection, candidate choice and failover planning on them. Nothing is
changed. It says whether the watch would fail over (and why not), the
candidate and why the others were passed over, how the old writer would be
fenced, the failover plan, which VIPs move, and what is at risk.

Exit codes: 0 the watch would change nothing, 2 it would act (a failover,
roles moving off a failed host), 1 it could not tell.

Examples:
  mmm simulate --fail master1            # the writer's server is killed
  mmm simulate --freeze master1          # the writer's server hangs
  mmm simulate --lose master1            # the writer's whole host is lost
  mmm simulate --cut master1             # only the monitor loses the writer
  mmm simulate --fail master1 --fail master2 --json`
}

func (c *SimulateCmd) Validate() error {
	if len(c.Fail)+len(c.Freeze)+len(c.Lose)+len(c.Cut) == 0 {
		return errors.New("name at least one host with --fail, --freeze, --lose or --cut")
	}
	return nil
}

func (c *SimulateCmd) Run(g *Globals) error {
	s, err := newSession(g, c.ClusterFlags)
	if err != nil {
		return err
	}
	faults := map[string]watch.SimFault{}
	for _, set := range []struct {
		hosts []string
		fault watch.SimFault
	}{{c.Fail, watch.SimCrash}, {c.Freeze, watch.SimFrozen}, {c.Lose, watch.SimHostLost}, {c.Cut, watch.SimCut}} {
		for _, h := range set.hosts {
			if s.cluster.Host(h) == nil {
				return fmt.Errorf("host %q is not declared in %s", h, g.Config)
			}
			if f, ok := faults[h]; ok && f != set.fault {
				return fmt.Errorf("host %q is named twice (%s and %s): pick one fault per host", h, f, set.fault)
			}
			faults[h] = set.fault
		}
	}
	ctx := context.Background()
	live := s.inspect(ctx)
	in := watch.SimInput{Cluster: s.cluster, Live: live, Faults: faults, Now: time.Now()}
	source := readWatchView(ctx, s.cluster, &in)
	if in.Writer == "" {
		in.Writer = plan.LiveWriters(s.cluster, live)
		source = "no watch answers (" + source + "): simulating an active watch; the writer is the writable master"
	}
	if in.Writer == "" || strings.Contains(in.Writer, "+") {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("cannot tell: %s, and the writable masters are %q (want exactly one)", source, in.Writer)}
	}
	if lh := live.Hosts[in.Writer]; lh == nil || !lh.Reachable {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("cannot tell: the writer %s is not reachable now (%s)", in.Writer, errOf(lh))}
	}
	sim, err := watch.Simulate(in)
	if err != nil {
		return &ExitError{Code: ExitFailure, Err: err}
	}
	if c.JSON {
		// The plan exactly as `mmm plan --json` writes it (docs/plan-json.md).
		var planJSON json.RawMessage
		if sim.Plan != nil {
			var b bytes.Buffer
			if err := plan.WriteJSON(&b, sim.Plan); err != nil {
				return err
			}
			planJSON = b.Bytes()
		}
		err = printJSON(g.Stdout, struct {
			Source string `json:"source"`
			*watch.Simulation
			Plan json.RawMessage `json:"plan,omitempty"`
		}{source, sim, planJSON})
	} else {
		err = renderSimulation(g.Stdout, source, sim)
	}
	if err != nil {
		return err
	}
	if sim.Acts() {
		return &ExitError{Code: ExitChanges}
	}
	return nil
}

// readWatchView fills the writer, the host states and the mode from the
// running watch, when it answers, and says where the view came from.
func readWatchView(ctx context.Context, c *topology.Cluster, in *watch.SimInput) string {
	if c.Monitor.Listen == "" || c.Monitor.Token.Value() == "" {
		return "monitor.listen or monitor.token is not set"
	}
	client, err := watch.NewClient(c, c.Monitor.Token.Value())
	if err != nil {
		return err.Error()
	}
	client.Timeout = 3 * time.Second
	r, err := client.Status(ctx)
	if err != nil {
		return err.Error()
	}
	if r.Busy != "" {
		return "the watch is busy: " + r.Busy
	}
	in.Writer, in.Mode = r.Writer, r.Mode
	in.States = map[string]watch.State{}
	for _, h := range r.Hosts {
		in.States[h.Name] = h.State
	}
	return fmt.Sprintf("the running watch at %s (mode %s, writer %s)", c.Monitor.Listen, r.Mode, r.Writer)
}

func errOf(lh *topology.LiveHost) string {
	if lh == nil {
		return "not inspected"
	}
	return lh.Error
}

// renderSimulation prints the answer for people; the plan with plan's renderer.
func renderSimulation(w io.Writer, source string, sim *watch.Simulation) error {
	var faults []string
	for _, h := range sortedKeys(sim.Faults) {
		faults = append(faults, h+": "+describeFault(sim.Faults[h]))
	}
	fmt.Fprintf(w, "Simulated: %s.\n", strings.Join(faults, "; "))
	fmt.Fprintf(w, "Seen by: %s.\n\n", source)

	verdict := string(sim.Verdict)
	if sim.Kind != "" && sim.Verdict == watch.WriterDead {
		verdict += " (" + string(sim.Kind) + ")"
	}
	fmt.Fprintf(w, "Writer %s: %s", sim.Writer, verdict)
	if sim.Why != "" {
		fmt.Fprintf(w, ": %s", sim.Why)
	}
	fmt.Fprintln(w)
	switch {
	case sim.Failover:
		fmt.Fprintf(w, "Failover: YES, %s becomes the writer.\n", sim.Candidate)
	case sim.NoFailover != "":
		fmt.Fprintf(w, "Failover: NO. %s\n", sim.NoFailover)
	default:
		fmt.Fprintln(w, "Failover: NO.")
	}
	if len(sim.Candidates) > 0 {
		fmt.Fprintln(w, "\nCandidates:")
		for _, c := range sim.Candidates {
			mark := "-"
			if c.Chosen {
				mark = "+"
			}
			fmt.Fprintf(w, "  %s %s: %s\n", mark, c.Host, c.Why)
		}
	}
	if sim.Fence != "" {
		fmt.Fprintf(w, "\nFence of %s: %s\n", sim.Writer, sim.Fence)
	}
	if r := sim.Risk; r != nil {
		fmt.Fprintln(w, "\nRisk:")
		lag := "unknown"
		if r.SecondsBehind != nil {
			lag = fmt.Sprintf("%ds", *r.SecondsBehind)
		}
		if r.Missing == "" {
			fmt.Fprintf(w, "  %s received everything %s wrote (%s); Seconds_Behind_Master %s\n", sim.Candidate, sim.Writer, orNoneCLI(r.WriterPosition), lag)
		} else {
			fmt.Fprintf(w, "  %s lacks %s of %s's %s (about %d transactions); Seconds_Behind_Master %s\n", sim.Candidate, r.Missing, sim.Writer, r.WriterPosition, r.MissingCount, lag)
		}
		if r.Fetched != "" {
			fmt.Fprintf(w, "  it fetches %s from a slave ahead of it before its promotion\n", r.Fetched)
		}
		if r.Lost != "" {
			fmt.Fprintf(w, "  LOST: %s exist on %s alone\n", r.Lost, sim.Writer)
		} else {
			fmt.Fprintln(w, "  nothing the old writer wrote is lost")
		}
		fmt.Fprintf(w, "  semi-sync: %s\n", r.SemiSync)
		for _, a := range r.Ahead {
			fmt.Fprintf(w, "  ahead: %s\n", a)
		}
		if len(r.Behind) > 0 {
			fmt.Fprintf(w, "  left behind (unreachable, not repointed now): %s\n", strings.Join(r.Behind, ", "))
		}
	}
	if len(sim.VIPs) > 0 {
		fmt.Fprintln(w, "\nVIPs:")
		for _, v := range sim.VIPs {
			fmt.Fprintf(w, "  %s (%s): %s -> %s\n", v.IP, v.Role, orNoneCLI(v.From), orNoneCLI(v.To))
		}
	}
	for _, n := range sim.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	if sim.Plan != nil {
		fmt.Fprintln(w, "\nThe failover plan:")
		fmt.Fprintln(w)
		if err := plan.Render(w, sim.Plan); err != nil {
			return err
		}
	}
	if sim.Acts() {
		fmt.Fprintln(w, "\nThe watch would act (exit code 2). Nothing was changed.")
	} else {
		fmt.Fprintln(w, "\nThe watch would change nothing (exit code 0). Nothing was changed.")
	}
	return nil
}

func describeFault(f watch.SimFault) string {
	switch f {
	case watch.SimCrash:
		return "its server dies (kill -9), the host and its agent stay"
	case watch.SimFrozen:
		return "its server hangs (accepts connections, never answers), the host and its agent stay"
	case watch.SimHostLost:
		return "the whole host goes silent (server and agent)"
	case watch.SimCut:
		return "the monitor alone loses it"
	}
	return string(f)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
