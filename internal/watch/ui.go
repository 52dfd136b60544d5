package watch

import (
	"context"
	"net/http"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/internal/ui"
	"github.com/mysql-mmm/mmm/plan"
)

// The status page (internal/ui) on the control address. It is fed from what
// the watch already holds: the report (Status, which never waits behind a
// round) and the probes' latest facts (their own lock, never the round's).
// It sends no query to any server.

// mountUI adds the page's routes to the control API's mux; auth is the
// API's token check. Its sampler (one goroutine, chart points every second)
// runs for as long as the process, or until the http.Server that served a
// page's stream shuts down.
func (w *Watch) mountUI(mux *http.ServeMux, auth func(http.HandlerFunc) http.HandlerFunc) {
	s := ui.New(ui.Source{
		View:   w.View,
		Sample: w.uiSample,
		Checks: func(host string) (any, error) { return w.Checks(host) },
		Auth:   auth,
		Logger: w.log,
	})
	s.Register(mux)
}

// View is the status page's picture: the report plus, per host, the
// replication the probes saw last.
func (w *Watch) View() ui.View {
	r := w.Status()
	// Busy only when a failover or a switchover holds the watch, not for
	// every round that Status found running.
	w.busyMu.Lock()
	busy := w.busy
	w.busyMu.Unlock()
	v := ui.View{
		Cluster: r.Cluster, Mode: string(r.Mode), ModeReason: r.ModeReason, Writer: r.Writer,
		SemiSync: r.SemiSync, WriterVerdict: string(r.WriterVerdict), VerdictWhy: r.VerdictWhy,
		NetworkDown: r.NetworkDown, PingIPs: w.c.Monitor.PingIPs, LastFailure: r.LastFailure, Busy: busy,
		Hosts: []ui.Host{}, At: time.Now(), Node: r.Node, Leader: r.Leader,
	}
	for _, e := range r.Events {
		ev := ui.Event{At: e.At, Message: e.Message, Kind: e.Kind}
		if ev.Kind == "" {
			ev.Kind = ui.EventKind(e.Message)
		}
		for _, s := range e.Steps {
			ev.Steps = append(ev.Steps, ui.Step{ID: s.ID, Host: s.Host, Status: s.Status, TookMS: float64(s.Took.Microseconds()) / 1000})
		}
		v.Events = append(v.Events, ev)
	}
	lives := map[string]*topology.LiveHost{}
	for _, h := range w.c.Hosts {
		if f := w.facts.Get(h.Name); f.Live != nil && f.Live.Reachable {
			lives[h.Name] = f.Live
		}
	}
	for _, hr := range r.Hosts {
		h := ui.Host{Name: hr.Name, Address: hr.Address, Mode: hr.Mode, State: string(hr.State), Since: hr.Since,
			Reason: hr.Reason, Roles: []ui.Role{}, Writer: hr.Writer, Problem: hr.Problem, Fenced: hr.Fenced, Agent: hr.Agent}
		if ch := w.c.Host(hr.Name); ch != nil {
			h.Peer = ch.Peer
		}
		for _, ro := range hr.Roles {
			h.Roles = append(h.Roles, ui.Role{Role: ro.Role, IP: ro.IP})
		}
		if lh := lives[hr.Name]; lh != nil {
			ro := lh.ReadOnly
			h.ReadOnly = &ro
			h.Replication = w.uiReplication(lh, lives)
		}
		v.Hosts = append(v.Hosts, h)
	}
	return v
}

// uiReplication describes a replica's channel; the GTID distance compares
// its executed set with its source's as last inspected.
func (w *Watch) uiReplication(lh *topology.LiveHost, lives map[string]*topology.LiveHost) *ui.Replication {
	rs := lh.Replica
	if rs == nil || rs.SourceHost == "" {
		return nil
	}
	out := &ui.Replication{Source: rs.SourceHost, IO: rs.IORunning, SQL: rs.SQLRunning,
		LagSeconds: rs.SecondsBehind, SemiSync: lh.SemiSyncSlaveEnabled}
	for _, h := range w.c.Hosts {
		if rs.SourceHost == h.Address || rs.SourceHost == h.Name {
			out.Source = h.Name
			break
		}
	}
	switch {
	case rs.LastIOError != "":
		out.Error = rs.LastIOError
	case rs.LastSQLError != "":
		out.Error = rs.LastSQLError
	}
	if src := lives[out.Source]; src != nil {
		// behind (simulate.go) counts the distance the way mmm simulate
		// reports a candidate's: MySQL exactly, MariaDB by sequence numbers.
		var n uint64
		srcPos, have := plan.Executed(src), plan.Executed(lh)
		if missing := srcPos.Subtract(have); !missing.Empty() {
			n = behind(srcPos, have, missing)
		}
		out.Behind = &n
	}
	return out
}

// uiSample is one point of the page's charts, from the probes' facts.
func (w *Watch) uiSample() ui.Sample {
	s := ui.Sample{At: time.Now(), Hosts: map[string]ui.HostSample{}}
	for _, h := range w.c.Hosts {
		f := w.facts.Get(h.Name)
		var hs ui.HostSample
		if f.Server.Took > 0 && f.Server.State == agent.ProbeOK {
			hs.PingMS = ms(f.Server.Took)
		}
		if f.Live != nil && f.Live.Reachable {
			if !f.LiveSent.IsZero() && f.LiveAt.After(f.LiveSent) {
				hs.InspectMS = ms(f.LiveAt.Sub(f.LiveSent))
			}
			if f.Live.Replica != nil {
				hs.Lag = f.Live.Replica.SecondsBehind
			}
		}
		s.Hosts[h.Name] = hs
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// View is GET /v1/view: what `mmm show --format dot|svg` draws.
func (c *Client) View(ctx context.Context) (*ui.View, error) {
	var v ui.View
	return &v, c.do(ctx, http.MethodGet, "/v1/view", nil, &v)
}
