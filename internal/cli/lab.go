package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/mysql-mmm/mmm/internal/lab"
)

// LabCmd manages the local lab of real MariaDB servers (internal/lab).
type LabCmd struct {
	Up     LabUpCmd     `cmd:"" help:"Start a namespace and a MariaDB server for every host of the file (idempotent)."`
	Down   LabDownCmd   `cmd:"" help:"Stop the lab's servers and remove its namespaces, veths, bridge and state."`
	Status LabStatusCmd `cmd:"" help:"List the lab's hosts, namespaces, addresses, pids and whether each answers SQL."`
}

// LabUpCmd is `mmm lab up`.
type LabUpCmd struct {
	Timeout  time.Duration `help:"How long one server may take to answer SQL." default:"60s" env:"MMM_LAB_TIMEOUT"`
	NoAgents bool          `help:"Do not start an mmm agent in each namespace (started by default when the file has an agent block)."`
	Watch    bool          `help:"Also start the watch: every monitor node of the file (mmm watch --node NAME, in its namespace), or the one watch; state and logs in the lab dir."`
}

func (c *LabUpCmd) Run(g *Globals) error {
	l, err := openLab(g, c.Timeout)
	if err != nil {
		return err
	}
	start := time.Now()
	results, err := l.Up(context.Background())
	w := tabwriter.NewWriter(g.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "HOST\tADDRESS\tSERVER_ID\tPID\t")
	for _, r := range results {
		if r.PID == 0 {
			continue
		}
		took := fmt.Sprintf("up in %.2fs", r.Took.Seconds())
		if r.Kept {
			took = "already running"
		}
		fmt.Fprintf(w, "%s\t%s:%d\t%d\t%d\t%s\n", r.Name, r.Address, r.Port, r.ServerID, r.PID, took)
	}
	w.Flush()
	if err != nil {
		return fmt.Errorf("lab up: %w (mmm lab down removes what was started)", err)
	}
	if l.Cluster().Agent.Enabled && !c.NoAgents {
		if err := startLabAgents(g, l); err != nil {
			return fmt.Errorf("lab up: %w (mmm lab down removes what was started)", err)
		}
		fmt.Fprintf(g.Stdout, "an mmm agent runs in every namespace, on port %d\n", l.Cluster().Agent.Port)
	}
	if c.Watch {
		if err := startLabWatches(g, l); err != nil {
			return fmt.Errorf("lab up: %w (mmm lab down removes what was started)", err)
		}
		printWatches(g, l)
	}
	fmt.Fprintf(g.Stdout, "lab %s is up in %.2fs: %d hosts on bridge %s, monitor address %s\n",
		l.ID(), time.Since(start).Seconds(), len(results), l.Bridge(), l.MonitorAddress())
	return nil
}

// labChild is what the lab's agents and watches run: this very binary, the
// file by its absolute path, and the environment with the --var values as
// MMM_VAR_* (never in the arguments: secrets stay out of ps).
func labChild(g *Globals) (self, config string, env []string, err error) {
	if self, err = os.Executable(); err != nil {
		return "", "", nil, fmt.Errorf("find the mmm binary: %w", err)
	}
	if config, err = filepath.Abs(g.Config); err != nil {
		return "", "", nil, err
	}
	env = os.Environ()
	for k, v := range g.Var {
		env = append(env, "MMM_VAR_"+k+"="+v)
	}
	return self, config, env, nil
}

// startLabAgents runs this very binary as `mmm agent` in every namespace.
// Variables set with --var reach the agents through MMM_VAR_* in their
// environment, never their arguments (secrets stay out of ps).
func startLabAgents(g *Globals, l *lab.Lab) error {
	self, config, env, err := labChild(g)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = l.StartAgents(ctx, func(host string) *exec.Cmd {
		cmd := exec.Command(self, "agent", "--config", config, "--host", host)
		cmd.Env = env
		return cmd
	})
	return err
}

// startLabWatches runs this very binary as `mmm watch`: one per monitor
// node, each in its node's namespace, or the one watch in the root
// namespace, and waits until each control API answers. The state file and
// the nodes' raft data are the lab's (lab.WatchStateFile, WatchDataDir), so
// `lab down` removes the raft logs with the lab and no later lab inherits
// them. Variables reach the watches as MMM_VAR_* in their environment, like
// the agents'.
func startLabWatches(g *Globals, l *lab.Lab) error {
	self, config, env, err := labChild(g)
	if err != nil {
		return err
	}
	single := len(l.Cluster().Monitor.Nodes) == 0
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = l.StartWatches(ctx, func(node string) *exec.Cmd {
		args := []string{"watch", "--config", config, "--state-file", l.WatchStateFile()}
		if !single {
			// The node's raft data beside the lab's state file too, not
			// beside the file's monitor.state_file (which names one lab's
			// dir and would be shared by a copy moved to another /24).
			args = append(args, "--node", node, "--data-dir", l.WatchDataDir(node))
		}
		cmd := exec.Command(self, args...)
		cmd.Env = env
		return cmd
	})
	if err != nil {
		return err
	}
	for _, node := range l.WatchNodes() {
		if err := l.WaitWatchListening(ctx, node); err != nil {
			return err
		}
	}
	return nil
}

// printWatches lists the lab's watches: where each runs and its pid.
func printWatches(g *Globals, l *lab.Lab) {
	w := tabwriter.NewWriter(g.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "WATCH\tNAMESPACE\tLISTEN\tPID\tALIVE\t")
	for _, s := range l.WatchStatuses() {
		ns, pid, alive := s.Namespace, "-", "no"
		if ns == "" {
			ns = "(root)"
		}
		if s.PID != 0 {
			pid, alive = fmt.Sprint(s.PID), "yes"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t\n", s.Name, ns, s.Listen, pid, alive)
	}
	w.Flush()
}

// LabDownCmd is `mmm lab down`.
type LabDownCmd struct{}

func (LabDownCmd) Run(g *Globals) error {
	l, err := openLab(g, 0)
	if err != nil {
		return err
	}
	if err := l.Down(context.Background()); err != nil {
		return fmt.Errorf("lab down: %w", err)
	}
	fmt.Fprintf(g.Stdout, "lab %s is down: no server, watch, namespace, veth or bridge of it is left\n", l.ID())
	return nil
}

// LabStatusCmd is `mmm lab status`.
type LabStatusCmd struct{}

func (LabStatusCmd) Run(g *Globals) error {
	l, err := openLab(g, 0)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hosts, err := l.Status(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(g.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "HOST\tNAMESPACE\tADDRESS\tPID\tSQL\t")
	down := 0
	for _, h := range hosts {
		pid, sql := "-", "no: "+h.Error
		if h.PID != 0 {
			pid = fmt.Sprint(h.PID)
		}
		if h.Answers {
			sql = fmt.Sprintf("yes (server_id %d)", h.ServerID)
		} else {
			down++
		}
		fmt.Fprintf(w, "%s\t%s\t%s:%d\t%s\t%s\n", h.Name, h.Namespace, h.Address, h.Port, pid, sql)
	}
	w.Flush()
	// The watches are optional (lab up --watch): listed when the file has
	// node blocks or one runs, and not counted as down.
	if len(l.Cluster().Monitor.Nodes) > 0 || l.WatchPID(lab.WatchSingle) != 0 {
		fmt.Fprintln(g.Stdout)
		printWatches(g, l)
	}
	if down > 0 {
		// Nothing more to say; a script can branch on the code.
		return &ExitError{Code: ExitFailure}
	}
	return nil
}

func openLab(g *Globals, timeout time.Duration) (*lab.Lab, error) {
	c, _, err := loadCluster(g, true)
	if err != nil {
		return nil, err
	}
	return lab.New(c, lab.Options{StartTimeout: timeout, Logger: g.Logger})
}
