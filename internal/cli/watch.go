package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/consensus"
	"github.com/mysql-mmm/mmm/internal/inspect"
	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/internal/watch"
)

// WatchCmd is `mmm watch`: the monitor daemon (MySQL-MMM's mmm_mond) with
// health checks, MMM's host states, role placement and automatic failover,
// and the control API on monitor.listen that `mmm show` and friends talk to.
type WatchCmd struct {
	ClusterFlags
	StateFile string `help:"State file (default: monitor.state_file; \"-\" keeps no state)." env:"MMM_STATE_FILE" placeholder:"PATH"`
	Mode      string `help:"Mode to start in when the state file names none: active, passive or manual." default:"active" enum:"active,passive,manual" env:"MMM_WATCH_MODE"`
	Node      string `help:"Run this watch node of the monitor block's node blocks (raft elects the one that acts)." env:"MMM_WATCH_NODE" placeholder:"NAME"`
	DataDir   string `help:"The node's raft data directory (default: <dir of monitor.state_file>/<node>)." env:"MMM_WATCH_DATA_DIR" placeholder:"DIR"`
}

func (c *WatchCmd) Run(g *Globals) error {
	s, err := newSession(g, c.ClusterFlags)
	if err != nil {
		return err
	}
	if s.cluster.Monitor.Token.Value() == "" {
		return &ExitError{Code: ExitFailure, Err: watch.ErrNoToken}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// The watch waits on the network. With one P the Go scheduler wakes no
	// second thread for each answer, which was a third of an idle watch's
	// CPU (docs/watch.md, "Cost"). GOMAXPROCS in the environment still rules.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}

	// Each round inspects every host: a blackholed host must not hold a
	// round up for the 2s connect default, or detection slows down with it.
	// The agents' status is asked within connect + query timeout too.
	if p := s.cluster.Monitor.CheckPeriod; p > 0 {
		if s.flags.ConnectTimeout > 4*p {
			s.flags.ConnectTimeout = max(4*p, 500*time.Millisecond)
		}
		if s.flags.QueryTimeout > 8*p {
			s.flags.QueryTimeout = max(8*p, time.Second)
		}
	}
	pool := &apply.Pool{Cluster: s.cluster, Timeouts: s.flags.timeouts()}
	defer pool.Close()
	// The watch never reads accounts (mmm apply's business) nor hashes a
	// password: docs/watch.md, "Cost".
	readOpts := inspect.Options{Timeouts: s.flags.timeouts(), Logger: g.Logger, SkipAccounts: true}
	cfg := watch.Config{
		Cluster: s.cluster, DBs: pool, Logger: g.Logger, StateFile: c.StateFile,
		InitialMode: watch.Mode(c.Mode),
		// The servers and the agents at once, the agents within the connect
		// timeout: a watch (re)started while a host is lost must not spend
		// one timeout after the other before its first round.
		Inspect: func(ctx context.Context) *topology.Live {
			var agents topology.Live
			var wg sync.WaitGroup
			ac := s.agents()
			if ac != nil {
				wg.Go(func() { inspect.Agents(ctx, s.cluster, ac, &agents, s.flags.ConnectTimeout) })
			}
			live := inspect.Inspect(ctx, s.cluster, readOpts)
			wg.Wait()
			if ac != nil {
				live.Agents, live.VIPs = agents.Agents, agents.VIPs
			}
			return live
		},
		NewReader: func(host string) watch.HostReader {
			return inspect.NewReader(s.cluster, s.cluster.Host(host), readOpts)
		},
		// A failover's steps run on connections of their own: short connect
		// timeouts (a host that just failed must not cost seconds), and
		// statements given time (STOP REPLICA waits for an IO thread stuck
		// on the lost host).
		FailoverDBs: func() apply.Databases {
			return &apply.Pool{Cluster: s.cluster, Timeouts: conn.Timeouts{Connect: 500 * time.Millisecond, Query: 10 * time.Second}}
		},
	}
	// The watch, once made: OnPath tells it how each agent is reached.
	var relayed *watch.Watch
	if ac := s.agents(); ac != nil {
		ac.Identity = pki.Monitor // with a tls block: the watch's certificate
		// A monitor cut off from one host alone reaches its agent through
		// another's, so that host keeps its lease (docs/watch.md, "Relay").
		ac.Relay, ac.HedgeAfter = true, watch.RelayHedge(s.cluster)
		ac.OnPath = func(host, via string) {
			if relayed != nil {
				relayed.AgentPath(host, via)
			}
			if via == "" {
				g.Logger.Info("agent answers the monitor directly again", "host", host)
				return
			}
			g.Logger.Warn("agent reached only through another host's agent: the monitor's own way to it is lost", "host", host, "via", via)
		}
		cfg.Agents = ac
	}
	listen, what := s.cluster.Monitor.Listen, "monitor.listen"
	var node *consensus.Node
	if nodes := s.cluster.Monitor.Nodes; len(nodes) > 0 || c.Node != "" {
		nd := s.cluster.Monitor.Node(c.Node)
		switch {
		case nd == nil && len(nodes) == 0:
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%s declares no watch node (no node block in monitor): run `mmm watch` without --node, or declare the nodes", g.Config)}
		case nd == nil && c.Node != "":
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%s declares no watch node %q; its nodes are %s: run one of them with `mmm watch --node NAME`", g.Config, c.Node, nodeNames(nodes))}
		case nd == nil:
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%s declares the watch nodes %s: run one of them with `mmm watch --node NAME`", g.Config, nodeNames(nodes))}
		}
		node, err = openNode(g, s.cluster, nd, c.DataDir)
		if err != nil {
			return err
		}
		// Raft stops after the watch: a leader hands its lead over first.
		defer node.Close()
		cfg.Raft = node
		cfg.Holder = "watch/" + nd.Name
		if s.cluster.TLSOn() {
			if cfg.PeerTLS, err = pki.ClientConfig(s.cluster.TLS.Dir, pki.Monitor); err != nil {
				return err
			}
		}
		listen, what = nd.Listen, "node "+nd.Name+"'s listen"
	}
	w := watch.New(cfg)
	relayed = w

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, listen, err)
	}
	tlsCfg, err := watch.ServerTLS(s.cluster)
	if err != nil {
		ln.Close()
		return err
	}
	// Every connection is bounded: a command answers within its own 2-minute
	// limit (move-role waits for catch-up), the status page's event stream
	// lifts its write deadline itself (internal/ui).
	srv := &http.Server{
		Handler:           w.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      3 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		TLSConfig:         tlsCfg,
	}
	go func() {
		serve := srv.Serve
		if tlsCfg != nil {
			serve = func(l net.Listener) error { return srv.ServeTLS(l, "", "") }
		}
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.Logger.Error("control API stopped", "error", err)
		}
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	g.Logger.Info("control API listening", "address", ln.Addr().String(), "tls", tlsCfg != nil)

	w.Start(ctx)
	return w.Run(ctx)
}

func nodeNames(nodes []*topology.MonitorNode) string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// openNode starts this watch node's raft member, its data under dataDir or
// next to monitor.state_file, mutual TLS between the nodes with a tls block
// (the monitor certificate on both sides, and only it is let in).
func openNode(g *Globals, c *topology.Cluster, nd *topology.MonitorNode, dataDir string) (*consensus.Node, error) {
	if dataDir == "" {
		dataDir = filepath.Join(filepath.Dir(c.Monitor.StateFile), nd.Name)
	}
	cfg := consensus.Config{Node: nd.Name, Nodes: c.Monitor.Nodes, Dir: dataDir, Lease: c.Monitor.Lease, Logger: g.Logger}
	if c.TLSOn() {
		var err error
		if cfg.ServerTLS, err = pki.ServerConfig(c.TLS.Dir, pki.Monitor); err != nil {
			return nil, fmt.Errorf("raft TLS: %w", err)
		}
		cfg.ServerTLS.VerifyConnection = onlyMonitor
		if cfg.ClientTLS, err = pki.ClientConfig(c.TLS.Dir, pki.Monitor); err != nil {
			return nil, fmt.Errorf("raft TLS: %w", err)
		}
		cfg.ClientTLS.VerifyConnection = onlyMonitor
	}
	n, err := consensus.Open(cfg)
	if err != nil {
		return nil, err
	}
	g.Logger.Info("watch node raft member started", "node", nd.Name, "raft", nd.Raft, "data", dataDir, "tls", c.TLSOn())
	return n, nil
}

// onlyMonitor lets only the watch nodes' certificate speak raft: an agent's
// or an operator's certificate of the same CA may not vote.
func onlyMonitor(cs tls.ConnectionState) error {
	if id, ok := pki.PeerIdentity(&cs); !ok || id != pki.Monitor {
		return fmt.Errorf("raft: %s is not a watch node's certificate", id)
	}
	return nil
}
