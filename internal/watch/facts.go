package watch

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// Probes publish facts; nothing waits on a host.
//
// Every host has three probe loops of its own, each call under its own
// deadline: the server's greeting (TCP connect + the server's first packet:
// tells a crashed server, refused, from a frozen one, connected but silent,
// from a lost host, no answer), the inspection (what plan reads), and its
// agent's status (which also hands out the nonce the next grant echoes). A
// witness loop asks the other hosts' agents how they see the writer while
// the monitor has doubts. Each loop stores the attempt before the I/O and
// the outcome after it, with times, in the fact store; the round reads the
// latest facts and never waits on a probe, so an unreachable or frozen host
// costs its own loops their timeouts and nobody else anything.

// ServerFact is one greeting probe of a host's server port from the monitor.
type ServerFact struct {
	State  string // agent.ProbeOK, ProbeRefused, ProbeFrozen, ProbeTimeout, ProbeError
	Detail string
	At     time.Time // when the probe was sent
	Took   time.Duration
}

// WitnessFact is what one witness (another host's agent) saw of a host.
type WitnessFact struct {
	Witness string
	Server  string // probe outcome of the host's server port from the witness
	Agent   string // probe outcome of the host's agent from the witness
	Detail  string
	At      time.Time // when the watch sent the question
}

// HostFacts is the latest of everything the probes learned about a host.
type HostFacts struct {
	Server     ServerFact
	ServerOKAt time.Time // the last greeting
	// Live is the last inspection (Reachable or not), LiveAt when it ended.
	Live        *topology.LiveHost
	LiveAt      time.Time
	LiveOKAt    time.Time
	LiveAttempt time.Time // the inspection in progress started then (zero: none)
	LiveSent    time.Time // the last completed inspection started then
	// FullSent: the last full read (what the reconcile diffs) started then.
	FullSent time.Time
	// Agent is the agent's last status answer, AgentErr the last error.
	Agent     *agent.Status
	AgentErr  error
	AgentAt   time.Time // when the last answer or error came
	AgentOKAt time.Time // when the last answer came
	// AgentFailSince is when the agent started failing (zero while it
	// answers): with the server answering after that, the agent is dead or
	// stuck while its host is up, and its lease is not enforced.
	AgentFailSince time.Time
	// Witnesses: by witness host, the last answer about this host.
	Witnesses map[string]WitnessFact
	// AgentVia names the host whose agent relays to this host's agent while
	// the monitor's own way to it is lost ("" direct).
	AgentVia string
}

// ServerAnsweredAt is the last time the host's server answered the
// monitor: a greeting or an inspection (the greeting probe rests while the
// inspection answers).
func (f *HostFacts) ServerAnsweredAt() time.Time {
	if f.LiveOKAt.After(f.ServerOKAt) {
		return f.LiveOKAt
	}
	return f.ServerOKAt
}

// LastContact is the last time anything of the host answered the monitor.
func (f *HostFacts) LastContact() time.Time {
	t := f.ServerOKAt
	if f.LiveOKAt.After(t) {
		t = f.LiveOKAt
	}
	if f.AgentOKAt.After(t) {
		t = f.AgentOKAt
	}
	return t
}

// AgentPath records how the monitor reaches host's agent: through via's
// agent (a relay, agent.Client.OnPath) or directly again (via "").
func (w *Watch) AgentPath(host, via string) {
	w.facts.update(host, func(f *HostFacts) { f.AgentVia = via })
}

// factStore holds every host's facts under its own lock (never the round's).
type factStore struct {
	mu    sync.Mutex
	hosts map[string]*HostFacts
	// kick wakes the round at once when a probe saw the writer fail, rather
	// than at the next tick (orchestrator's "emergent" re-check).
	kick chan struct{}
	// suspect wakes the witness loop and the host's agent loop.
	suspect map[string]chan struct{}
	// witness wakes the witness loop.
	witness chan struct{}
	// inspectNow wakes a host's inspection loop (after the watch changed
	// the host, the round waits for a look taken after the change).
	inspectNow map[string]chan struct{}
	// probeNow wakes a host's greeting probe (its inspection failed).
	probeNow map[string]chan struct{}
}

func newFactStore(c *topology.Cluster) *factStore {
	fs := &factStore{hosts: map[string]*HostFacts{}, kick: make(chan struct{}, 1), witness: make(chan struct{}, 1), suspect: map[string]chan struct{}{},
		inspectNow: map[string]chan struct{}{}, probeNow: map[string]chan struct{}{}}
	for _, h := range c.Hosts {
		fs.hosts[h.Name] = &HostFacts{Witnesses: map[string]WitnessFact{}}
		fs.suspect[h.Name] = make(chan struct{}, 1)
		fs.inspectNow[h.Name] = make(chan struct{}, 1)
		fs.probeNow[h.Name] = make(chan struct{}, 1)
	}
	return fs
}

// Get returns a copy of host's facts.
func (fs *factStore) Get(host string) HostFacts {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.hosts[host]
	if f == nil {
		return HostFacts{}
	}
	cp := *f
	cp.Witnesses = make(map[string]WitnessFact, len(f.Witnesses))
	for k, v := range f.Witnesses {
		cp.Witnesses[k] = v
	}
	return cp
}

func (fs *factStore) update(host string, fn func(f *HostFacts)) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.hosts[host]; f != nil {
		fn(f)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// probePeriod is how often each probe loop runs.
func (w *Watch) probePeriod() time.Duration {
	p := w.c.Monitor.CheckPeriod
	if p <= 0 {
		p = time.Second
	}
	return p
}

// probeTimeout bounds one greeting probe or witness question: one check
// period, at least 200ms (a LAN answers in a millisecond; a server that does
// not greet within that is not serving).
func (w *Watch) probeTimeout() time.Duration {
	return max(w.probePeriod(), 200*time.Millisecond)
}

// hostLostAfter is how long without any answer makes a host lost, when the
// witnesses agree.
func (w *Watch) hostLostAfter() time.Duration {
	if d := w.c.Monitor.HostLostAfter; d > 0 {
		return d
	}
	return max(3*w.probePeriod(), 500*time.Millisecond)
}

// inspectTimeout bounds one inspection.
func (w *Watch) inspectTimeout() time.Duration {
	return max(4*w.probePeriod(), time.Second)
}

// runProbes starts every probe loop; they end with ctx.
func (w *Watch) runProbes(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, h := range w.c.Hosts {
		wg.Go(func() { w.serverLoop(ctx, h) })
		wg.Go(func() { w.inspectLoop(ctx, h) })
		if w.cfg.Agents != nil {
			wg.Go(func() { w.agentLoop(ctx, h) })
		}
	}
	if w.cfg.Agents != nil {
		wg.Go(func() { w.witnessLoop(ctx) })
	}
	return &wg
}

// every runs fn now and then every period until ctx ends; a signal on wake
// runs it at once.
func every(ctx context.Context, period time.Duration, wake <-chan struct{}, fn func()) {
	t := newTicker(period)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			t.next()
		case <-wake:
		}
	}
}

// ticker wakes a periodic loop on the multiples of its period (counted from
// the Unix epoch), so the watch's loops with the same period (per host:
// inspection, greeting, agent status, lease renewal; the round, the
// witnesses, ping_ips) all wake at the same instants: the process wakes
// once per period instead of once per loop and host, and waking up, not the
// work, is most of what a watch costs (make bench-watch). Detection does
// not wait for the tick: a changed fact kicks the round at once.
type ticker struct {
	*time.Timer
	period time.Duration
}

func newTicker(period time.Duration) *ticker {
	return &ticker{time.NewTimer(untilTick(period, time.Now())), period}
}

// next arms t for its next tick; call it after each receive from t.C.
func (t *ticker) next() { t.Reset(untilTick(t.period, time.Now())) }

// untilTick is the time from now to the next multiple of period.
func untilTick(period time.Duration, now time.Time) time.Duration {
	return period - time.Duration(now.UnixNano()%int64(period))
}

// serverLoop probes its host's server port every check period, unless the
// inspection on its kept connection answered within the period (a server
// that answers queries greets): in steady state the monitor opens no
// connection at all. An inspection that fails wakes it at once, so a crash
// is told from a freeze as fast as before.
func (w *Watch) serverLoop(ctx context.Context, h *topology.Host) {
	addr := net.JoinHostPort(h.Address, strconv.Itoa(portOf(h)))
	every(ctx, w.probePeriod(), w.facts.probeNow[h.Name], func() {
		if w.greetedLately(h.Name) {
			// The inspection's answer is the greeting's: record it as one,
			// so the detector and the ping check see a fresh "ok".
			w.facts.update(h.Name, func(f *HostFacts) {
				f.Server.At, f.Server.Detail = f.LiveSent, "answered the inspection"
				f.ServerOKAt = f.LiveOKAt
			})
			return
		}
		t0 := time.Now()
		pctx, cancel := context.WithTimeout(ctx, w.probeTimeout())
		state, detail := agent.ProbeServer(pctx, addr, w.probeTimeout())
		cancel()
		if ctx.Err() != nil {
			return
		}
		took := time.Since(t0)
		w.facts.update(h.Name, func(f *HostFacts) {
			f.Server = ServerFact{State: state, Detail: detail, At: t0, Took: took}
			if state == agent.ProbeOK {
				f.ServerOKAt = t0.Add(took)
			}
		})
		if state != agent.ProbeOK {
			signal(w.facts.suspect[h.Name])
			if h.Name == w.currentWriter() {
				signal(w.facts.kick)
				signal(w.facts.witness)
			}
		}
	})
}

// greetedLately: the host's last inspection answered within about a period
// (the two loops tick apart, so half a period of slack) and no inspection
// has hung for more than half a period since: its server greets.
func (w *Watch) greetedLately(host string) bool {
	f := w.facts.Get(host)
	p := w.probePeriod()
	return f.Server.State == agent.ProbeOK && f.Live != nil && f.Live.Reachable && !f.LiveSent.Before(f.Server.At) &&
		time.Since(f.LiveOKAt) < p+p/2 && (f.LiveAttempt.IsZero() || time.Since(f.LiveAttempt) < p/2)
}

// inspectLoop reads its host every check period on one kept connection:
// the health read (two statements) as a rule, the full read (what the
// reconcile diffs) every reconcile period, at once when the watch changed
// the host (inspectNow), and whenever the server comes back (unreachable
// before, or restarted: SET GLOBAL settings are gone).
func (w *Watch) inspectLoop(ctx context.Context, h *topology.Host) {
	r := w.newReader(h.Name)
	defer r.Close()
	t := newTicker(w.probePeriod())
	defer t.Stop()
	var lastFull time.Time
	full := true
	for {
		t0 := time.Now()
		if t0.Sub(lastFull) >= w.reconcilePeriod() {
			full = true
		}
		w.facts.update(h.Name, func(f *HostFacts) { f.LiveAttempt = t0 })
		ictx, cancel := context.WithTimeout(ctx, w.inspectTimeout())
		var lh *topology.LiveHost
		if full {
			lh = r.Full(ictx)
		} else {
			lh = r.Health(ictx)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		var prev *topology.LiveHost
		w.facts.update(h.Name, func(f *HostFacts) {
			prev = f.Live
			f.Live, f.LiveAt, f.LiveSent, f.LiveAttempt = lh, now, t0, time.Time{}
			if lh != nil && lh.Reachable {
				f.LiveOKAt = now
				if full {
					f.FullSent = t0
				}
			}
		})
		if lh == nil || !lh.Reachable {
			signal(w.facts.probeNow[h.Name])
		}
		back := lh != nil && lh.Reachable && (prev == nil || !prev.Reachable || lh.Uptime < prev.Uptime)
		if full && lh != nil && lh.Reachable {
			lastFull = t0
		}
		full = back && !full
		if full {
			continue // a server back: its full picture now, not a period later
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			t.next()
		case <-w.facts.inspectNow[h.Name]:
			full = true
		}
	}
}

// reconcilePeriod is monitor.reconcile_period (default 5s, at least one
// check period).
func (w *Watch) reconcilePeriod() time.Duration {
	p := w.c.Monitor.ReconcilePeriod
	if p <= 0 {
		p = 5 * time.Second
	}
	return max(p, w.probePeriod())
}

// newReader is Config.NewReader, or a reader through Config.Inspect.
func (w *Watch) newReader(host string) HostReader {
	if w.cfg.NewReader != nil {
		return w.cfg.NewReader(host)
	}
	return inspectReader{w: w, host: host}
}

// inspectReader reads one host through Config.Inspect (tests).
type inspectReader struct {
	w    *Watch
	host string
}

func (r inspectReader) Health(ctx context.Context) *topology.LiveHost { return r.Full(ctx) }
func (r inspectReader) Close()                                        {}
func (r inspectReader) Full(ctx context.Context) *topology.LiveHost {
	live := r.w.cfg.Inspect(ctx)
	if lh := live.Hosts[r.host]; lh != nil {
		return lh
	}
	return &topology.LiveHost{Name: r.host, Error: "not inspected"}
}

// agentLoop asks its host's agent for its status every check period,
// unless a lease renewal's answer (the same status) came within the period:
// renewals run every lease/4, so most agents are asked nothing more. A
// suspicion asks at once.
func (w *Watch) agentLoop(ctx context.Context, h *topology.Host) {
	t := newTicker(w.probePeriod())
	defer t.Stop()
	ask := true
	for {
		if ask || time.Since(w.facts.Get(h.Name).AgentOKAt) >= w.agentAskPeriod() {
			asked := time.Now()
			actx, cancel := context.WithTimeout(ctx, w.agentTimeout())
			st, err := w.cfg.Agents.Status(actx, h.Name)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				w.leases.SetNonce(h.Name, st.Nonce, time.Now())
				if w.leases.Learned(h.Name, fromAgentRoles(st.Roles), asked) {
					signal(w.renewKick[h.Name]) // its renewals may start
				}
			}
			w.recordAgent(h.Name, st, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			t.next()
			ask = false
		case <-w.facts.suspect[h.Name]:
			ask = true
		}
	}
}

// agentAskPeriod is how often an agent is asked for its status: every
// probe period by the watch that acts (detection uses the answers); by a
// follower watch node every half lease, which keeps its view of the roles
// current and a nonce at hand should it take over (an older one costs the
// first renewal one round trip), at an eighth of the cost to the agents.
func (w *Watch) agentAskPeriod() time.Duration {
	if w.cfg.Raft != nil && !w.actingNow() {
		return max(w.lease()/2, w.probePeriod())
	}
	return w.probePeriod()
}

// recordAgent stores an agent's answer (a status, or a renewal's answer,
// which is the same status) or its failure in the host's facts.
func (w *Watch) recordAgent(host string, st *agent.Status, err error) {
	now := time.Now()
	w.facts.update(host, func(f *HostFacts) {
		f.AgentAt = now
		if err != nil {
			f.AgentErr = err
			if f.AgentFailSince.IsZero() {
				f.AgentFailSince = now
			}
			return
		}
		f.Agent, f.AgentErr, f.AgentOKAt, f.AgentFailSince = st, nil, now, time.Time{}
	})
	// The writer's agent finds its server down or frozen: the round
	// decides now, not at its next tick.
	if err == nil && st.Server != nil && st.Server.State != agent.ProbeOK && host == w.currentWriter() {
		signal(w.facts.kick)
	}
}

// suspectWriter: the monitor has doubts about the writer (its last greeting
// failed, or nothing answered for two periods).
func (w *Watch) suspectWriter(writer string, now time.Time) bool {
	if writer == "" {
		return false
	}
	f := w.facts.Get(writer)
	return f.Server.State != "" && f.Server.State != agent.ProbeOK || now.Sub(f.LastContact()) > 2*w.probePeriod()
}

// witnessLoop asks every other host's agent how it sees the writer, while
// the monitor has doubts about it.
func (w *Watch) witnessLoop(ctx context.Context) {
	writer := ""
	every(ctx, w.probePeriod(), w.facts.witness, func() {
		writer = w.currentWriter()
		if !w.suspectWriter(writer, time.Now()) {
			return
		}
		w.askWitnesses(ctx, writer)
	})
}

// askWitnesses asks, in parallel, every agent but the writer's how it sees
// the writer, and records the answers. It returns when all answered or their
// deadline passed.
func (w *Watch) askWitnesses(ctx context.Context, writer string) {
	var wg sync.WaitGroup
	sent := time.Now()
	for _, h := range w.c.Hosts {
		if h.Name == writer {
			continue
		}
		wg.Go(func() {
			wctx, cancel := context.WithTimeout(ctx, w.probeTimeout()+w.agentTimeout())
			defer cancel()
			rep, err := w.cfg.Agents.Witness(wctx, h.Name, []string{writer}, w.probeTimeout())
			if err != nil || rep == nil {
				return // an agent that does not answer is no witness
			}
			for _, r := range rep.Results {
				if r.Host != writer {
					continue
				}
				w.facts.update(writer, func(f *HostFacts) {
					f.Witnesses[h.Name] = WitnessFact{Witness: h.Name, Server: r.Server, Agent: r.Agent, Detail: r.Detail, At: sent}
				})
			}
		})
	}
	wg.Wait()
	signal(w.facts.kick)
}

// currentWriter reads the writer without the round's lock.
func (w *Watch) currentWriter() string {
	w.writerMu.Lock()
	defer w.writerMu.Unlock()
	return w.writerName
}

// liveFromFacts assembles the round's view from the latest facts: a host
// whose last inspection is older than staleAfter counts as unreachable.
func (w *Watch) liveFromFacts(now time.Time) *topology.Live {
	live := &topology.Live{Hosts: map[string]*topology.LiveHost{}}
	stale := w.hostLostAfter()
	if w.cfg.Agents != nil {
		live.Agents = map[string]*topology.LiveAgent{}
		live.VIPs = map[string][]string{}
		for _, r := range w.c.Roles {
			for _, ip := range r.IPs {
				live.VIPs[ip] = nil
			}
		}
	}
	for _, h := range w.c.Hosts {
		f := w.facts.Get(h.Name)
		lh := f.Live
		switch {
		case lh == nil:
			lh = &topology.LiveHost{Name: h.Name, Address: h.Address, Port: portOf(h), Error: "not inspected yet"}
		case lh.Reachable && now.Sub(f.LiveOKAt) > stale:
			cp := *lh
			cp.Reachable = false
			cp.Error = "inspect " + h.Name + ": no answer for " + now.Sub(f.LiveOKAt).Round(time.Millisecond).String()
			lh = &cp
		}
		live.Hosts[h.Name] = lh
		if w.cfg.Agents == nil {
			continue
		}
		la := &topology.LiveAgent{}
		switch {
		case f.Agent != nil && now.Sub(f.AgentOKAt) <= stale:
			la.Reachable, la.Mode = true, string(f.Agent.Mode)
			for _, r := range f.Agent.Roles {
				la.IPs = append(la.IPs, r.IP)
			}
		case f.AgentErr != nil:
			la.Error = f.AgentErr.Error()
		default:
			la.Error = "agent " + h.Name + ": no answer yet"
		}
		live.Agents[h.Name] = la
	}
	if live.VIPs != nil {
		for _, h := range w.c.Hosts {
			for _, ip := range live.Agents[h.Name].IPs {
				live.VIPs[ip] = append(live.VIPs[ip], h.Name)
			}
		}
	}
	return live
}

// changedHosts records that the watch changed these hosts now, and asks for
// a fresh look at each: until one taken after the change arrives, the round
// does not act on them again on an older view.
func (w *Watch) changedHosts(hosts []string) {
	now := time.Now()
	if len(hosts) > 0 {
		w.reconcileDue = true
	}
	for _, h := range hosts {
		w.changed[h] = now
		if ch := w.facts.inspectNow[h]; ch != nil {
			signal(ch)
		}
	}
}

// staleHosts lists the hosts the watch changed after their last full read
// started. Called with mu held.
func (w *Watch) staleHosts() []string {
	var out []string
	for h, at := range w.changed {
		if f := w.facts.Get(h); f.FullSent.Before(at) {
			out = append(out, h)
		} else {
			delete(w.changed, h)
		}
	}
	sortStrings(out)
	return out
}
