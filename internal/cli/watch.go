package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/conn"
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
	if ac := s.agents(); ac != nil {
		ac.Identity = pki.Monitor // with a tls block: the watch's certificate
		cfg.Agents = ac
	}
	w := watch.New(cfg)

	ln, err := net.Listen("tcp", s.cluster.Monitor.Listen)
	if err != nil {
		return fmt.Errorf("monitor.listen %s: %w", s.cluster.Monitor.Listen, err)
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
