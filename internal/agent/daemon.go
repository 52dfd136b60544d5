package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Addr is where the agent of the configured host listens: its address from the
// file and agent.port.
func (a *Agent) Addr() string {
	return net.JoinHostPort(a.host.Address, strconv.Itoa(a.cluster.Agent.Port))
}

// Start loads the persisted state (epoch and mode), fences at once if the
// agent was in lease mode when it died or stopped, and starts the server's
// health loop. Call it once, before serving; Stop ends what it started.
//
// Start-up rule: the file says "lease" → a watch was leasing this host and
// the agent cannot know whether that lease is still valid (its nonces died
// with the old process), so the exclusive VIPs go and the server is set
// read_only (the SIGKILL step only if read_only cannot be set AND the
// server is frozen: a server still starting refuses connections or is slow,
// and killing it would only restart its recovery). No file (first start) or
// "static" → VIPs and read_only are left alone: a cluster run by
// `mmm apply` must survive an agent restart.
func (a *Agent) Start() error {
	st, found, loadErr := loadState(a.stateDir)
	if loadErr != nil {
		// Unreadable: assume the worst (a lease) and refuse to run, so an
		// operator looks before the agent accepts grants with no epoch.
		a.log.Error("cannot read the agent's state file: fencing and refusing to start", "dir", a.stateDir, "err", loadErr)
		st, found = persisted{Mode: ModeLease}, true
	}
	a.reqMu.Lock()
	a.saved = st
	a.reqMu.Unlock()
	a.mu.Lock()
	a.epoch = st.Epoch
	var run *fenceRun
	if found && st.Mode == ModeLease {
		a.mode = ModeLease
		a.lease = &leaseState{holder: st.Holder, end: a.now(), expired: true}
		a.log.Warn("the agent was in lease mode when it stopped: fencing before anything else", "epoch", st.Epoch, "holder", st.Holder)
		run = a.fenceStart(fenceOpts{why: "agent started after holding a lease", dropVIPs: true, kill: killIfFrozen})
	} else {
		a.log.Info("agent starting in static mode", "epoch", st.Epoch, "state_file_found", found)
	}
	a.mu.Unlock()
	if run != nil {
		a.fenceFinish(run)
	}
	if loadErr != nil {
		return fmt.Errorf("agent %s: %w (fenced; remove or repair the file to start)", a.host.Name, loadErr)
	}
	if a.stateDir == "" {
		a.log.Warn("no state directory: the grant epoch is kept in memory only")
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.bgCancel, a.bgDone = cancel, make(chan struct{})
	go func() {
		defer close(a.bgDone)
		a.healthLoop(ctx)
	}()
	return nil
}

// Run serves the agent until ctx ends (SIGTERM/SIGINT in `mmm agent`), then
// stops the HTTP server and applies the shutdown rule (see Stop). TLS is used
// with a tls block (mutual) or agent.tls_cert and agent.tls_key (tls.go).
func Run(ctx context.Context, cfg Config) error {
	a, err := New(cfg)
	if err != nil {
		return err
	}
	if a.cluster.Agent.Port <= 0 {
		return fmt.Errorf("agent: agent.port is not set")
	}
	tlsCfg, err := a.serverTLS() // tls.go
	if err != nil {
		return err
	}
	tlsOn := tlsCfg != nil
	if a.server != nil {
		// A swap an earlier agent left half done: the server comes back first.
		if err := a.server.Recover(ctx); err != nil {
			a.log.Error("recover an interrupted clone", "err", err)
		}
	}
	if err := a.Start(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.Addr())
	if err != nil {
		a.Stop()
		return fmt.Errorf("agent %s: listen: %w", a.host.Name, err)
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsCfg,
	}
	served := make(chan error, 1)
	go func() {
		if tlsOn {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	a.log.Info("agent listening", "addr", ln.Addr().String(), "tls", tlsOn, "interface", a.host.Interface, "protocol", ProtocolVersion)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// No new requests first, so a renewal cannot race the shutdown rule.
	_ = srv.Shutdown(shutdownCtx)
	a.Stop()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("agent %s: %w", a.host.Name, serveErr)
	}
	return nil
}
