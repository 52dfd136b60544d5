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

// Run serves the agent until ctx ends (SIGTERM/SIGINT in `mmm agent`), then
// stops the HTTP server and applies the shutdown rule (see Stop). TLS is used
// when agent.tls_cert and agent.tls_key are set.
func Run(ctx context.Context, cfg Config) error {
	a, err := New(cfg)
	if err != nil {
		return err
	}
	if a.cluster.Agent.Port <= 0 {
		return fmt.Errorf("agent: agent.port is not set")
	}
	tlsOn := a.cluster.Agent.TLSCert != "" || a.cluster.Agent.TLSKey != ""
	if tlsOn && (a.cluster.Agent.TLSCert == "" || a.cluster.Agent.TLSKey == "") {
		return fmt.Errorf("agent: set both agent.tls_cert and agent.tls_key, or neither")
	}
	if a.server != nil {
		// A swap an earlier agent left half done: the server comes back first.
		if err := a.server.Recover(ctx); err != nil {
			a.log.Error("recover an interrupted clone", "err", err)
		}
	}
	ln, err := net.Listen("tcp", a.Addr())
	if err != nil {
		return fmt.Errorf("agent %s: listen: %w", a.host.Name, err)
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() {
		if tlsOn {
			served <- srv.ServeTLS(ln, a.cluster.Agent.TLSCert, a.cluster.Agent.TLSKey)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	a.log.Info("agent listening", "addr", ln.Addr().String(), "tls", tlsOn, "interface", a.host.Interface)

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
