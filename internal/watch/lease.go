package watch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
)

// leases is what the agents hold and when they last answered a renewal. It
// has its own lock, apart from the round's: renewals run on their own
// ticker, because a round can take longer than a lease (an unreachable host
// costs its connect timeouts) and a lease that runs out fences a healthy
// writer.
//
// Grants (docs/watch.md, "Grants"): every grant echoes a nonce the agent
// handed out in an answer (single use), and carries the watch's epoch. The
// agent accepts it only while the nonce is younger than one lease by its own
// clock, and ends the lease one TTL after it issued the nonce. The nonce was
// issued before its answer arrived here, so the lease surely ended once
// arrival + TTL·(1+ρ) + δ passed on our clock: bound() is the latest such
// time over every grant ever sent to a host, sent or given up on alike.
type leases struct {
	mu      sync.Mutex
	held    map[string][]RoleIP
	renewed map[string]time.Time
	fenced  map[string]bool
	hostMu  map[string]*sync.Mutex
	nonce   map[string]nonce
	bounds  map[string]time.Time
	ttl     time.Duration
	// streaks: per host, the current run of accepted grants (failsafe).
	streaks map[string]streak
	// unknownSince: hosts whose roles a new leader has not read yet, since
	// its takeover (raft.go): nothing is granted to them until an agent
	// status asked after that moment says what they hold.
	unknownSince map[string]time.Time
}

// streak is a run of accepted grants to one agent, each answer within 5/16
// of a lease of the previous: the agent was renewed less than 3/8 of a
// lease before any moment of the run (the 1/16 between is for the answers'
// travel), so it refused every failsafe question it got after start
// (agent/failsafe.go).
type streak struct{ start, last time.Time }

// nonce is the freshest unused nonce an agent handed out, and when its
// answer arrived.
type nonce struct {
	value   string
	arrived time.Time
}

func newLeases(ttl time.Duration) *leases {
	return &leases{held: map[string][]RoleIP{}, renewed: map[string]time.Time{}, fenced: map[string]bool{}, hostMu: map[string]*sync.Mutex{},
		nonce: map[string]nonce{}, bounds: map[string]time.Time{}, ttl: ttl, streaks: map[string]streak{},
		unknownSince: map[string]time.Time{}}
}

// Accepted records that host's agent accepted a grant; at is when its
// answer arrived (after the agent accepted it: the later, safer time).
func (l *leases) Accepted(host string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.streaks[host]
	if s.last.IsZero() || at.Sub(s.last) > streakGap(l.ttl) {
		s.start = at
	}
	s.last = at
	l.streaks[host] = s
}

// streakGap is the longest gap between accepted grants within a streak.
func streakGap(ttl time.Duration) time.Duration { return 5 * ttl / 16 }

// FailsafeBound is when an old writer holding its roles on failsafe
// (agent/failsafe.go) surely lost them: one lease (+ margin) after the
// earliest start of a current streak of another host. Every failsafe
// confirmation needs that host's "no watch renews me", which it refused
// since its streak began. ok is false when no other agent is renewed now.
func (l *leases) FailsafeBound(old string, now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var earliest time.Time
	for host, s := range l.streaks {
		if host == old || now.Sub(s.last) > streakGap(l.ttl) {
			continue
		}
		if earliest.IsZero() || s.start.Before(earliest) {
			earliest = s.start
		}
	}
	if earliest.IsZero() {
		return time.Time{}, false
	}
	return earliest.Add(l.ttl + leaseMargin(l.ttl)), true
}

// SetNonce records the nonce of an answer that arrived at.
func (l *leases) SetNonce(host, value string, at time.Time) {
	if value == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if at.After(l.nonce[host].arrived) {
		l.nonce[host] = nonce{value: value, arrived: at}
	}
}

// TakeNonce hands out host's freshest nonce for one grant, if it is young
// enough for the agent to accept it (half a lease: it must still be valid
// when the request arrives), and records the grant's bound before it is sent.
func (l *leases) TakeNonce(host string, now time.Time) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.nonce[host]
	if !ok || now.Sub(n.arrived) > l.ttl/2 {
		return "", false
	}
	delete(l.nonce, host)
	if b := n.arrived.Add(l.ttl + leaseMargin(l.ttl)); b.After(l.bounds[host]) {
		l.bounds[host] = b
	}
	return n.value, true
}

// AssumeGranted counts every host as granted at now: a new leader cannot
// know what its predecessor sent last.
func (l *leases) AssumeGranted(hosts []string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range hosts {
		if b := now.Add(l.ttl + leaseMargin(l.ttl)); b.After(l.bounds[h]) {
			l.bounds[h] = b
		}
	}
}

// Bound is when every grant ever sent to host surely ran out (zero: none
// was sent by this watch).
func (l *leases) Bound(host string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bounds[host]
}

// lockHost serialises the agent calls for one host (renewals, VIP steps,
// fencing), so that a renewal never sends a role set older than a step's.
func (l *leases) lockHost(host string) func() {
	l.mu.Lock()
	m := l.hostMu[host]
	if m == nil {
		m = &sync.Mutex{}
		l.hostMu[host] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (l *leases) Held(host string) []RoleIP {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RoleIP(nil), l.held[host]...)
}

func (l *leases) SetHeld(host string, roles []RoleIP) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held[host] = roles
}

// SetUnknown marks hosts' roles unknown since at (a takeover).
func (l *leases) SetUnknown(hosts []string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range hosts {
		l.unknownSince[h] = at
	}
}

// Unknown says whether host's roles are not known since a takeover.
func (l *leases) Unknown(host string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.unknownSince[host]
	return ok
}

// Learned takes roles as what host holds, if host's roles were unknown and
// the status saying so was asked at or after the takeover (an answer to an
// older question may predate the previous leader's last move).
func (l *leases) Learned(host string, roles []RoleIP, asked time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	since, ok := l.unknownSince[host]
	if !ok || asked.Before(since) {
		return false
	}
	delete(l.unknownSince, host)
	l.held[host] = roles
	return true
}

func (l *leases) Forget(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, host)
}

func (l *leases) Renewed(host string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.renewed[host]
	return t, ok
}

func (l *leases) SetRenewed(host string, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.renewed[host] = t
}

func (l *leases) Fenced(host string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fenced[host]
}

func (l *leases) SetFenced(host string, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if on {
		l.fenced[host] = true
	} else {
		delete(l.fenced, host)
	}
}

func (l *leases) FencedList() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for h := range l.fenced {
		out = append(out, h)
	}
	sortStrings(out)
	return out
}

// Placement is where the agents say the VIPs are.
func (l *leases) Placement() Placement {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := Placement{}
	for host, roles := range l.held {
		for _, r := range roles {
			p[r.IP] = host
		}
	}
	return p
}

// renewPeriod: a quarter of the lease, at most the check period.
func (w *Watch) renewPeriod() time.Duration {
	p := w.lease() / 4
	if cp := w.c.Monitor.CheckPeriod; cp > 0 && cp < p {
		p = cp
	}
	if p < 50*time.Millisecond {
		p = 50 * time.Millisecond
	}
	return p
}

// renewLoop renews every agent's lease until ctx ends.
func (w *Watch) renewLoop(ctx context.Context) {
	if w.cfg.Agents == nil {
		return
	}
	// One loop per host: an agent that does not answer costs its own
	// renewals their timeout, never another host's (whose lease, and the
	// failsafe streak the watch counts on, would suffer).
	var wg sync.WaitGroup
	for _, h := range w.c.Hosts {
		wg.Go(func() {
			every(ctx, w.renewPeriod(), w.renewKick[h.Name], func() { w.renewHost(ctx, h.Name) })
		})
	}
	wg.Wait()
}

// renewHost sends host the roles it holds with a fresh lease, bounded by
// the agent timeout, unless it is fenced.
func (w *Watch) renewHost(ctx context.Context, host string) {
	// A host whose roles this leader has not read yet gets nothing: a stale
	// role set would move a VIP back (raft.go, takeover).
	if w.leases.Fenced(host) || !w.actingNow() || w.leases.Unknown(host) {
		return
	}
	unlock := w.leases.lockHost(host)
	defer unlock()
	if w.leases.Fenced(host) {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, w.agentTimeout())
	defer cancel()
	if _, err := w.grant(rctx, host, w.leases.Held(host)); err != nil {
		w.log.Debug("lease renewal failed", "host", host, "error", err)
	}
}

// grant sends host its full role set with a lease, echoing a fresh nonce
// (asking the agent for one first when none is fresh), and records the
// answer. Called with the host's agent lock held.
func (w *Watch) grant(ctx context.Context, host string, roles []RoleIP) (*agent.Status, error) {
	n, err := w.nonceFor(ctx, host)
	if err != nil {
		return nil, err
	}
	lease := &agent.Lease{TTL: agent.Duration(w.lease()), Holder: w.cfg.Holder, Epoch: w.epochNow(), Nonce: n}
	st, err := w.cfg.Agents.SetRoles(ctx, host, toAgentRoles(roles), lease)
	var apiErr *agent.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusConflict && apiErr.Nonce != "" {
		// Refused as stale (a status call's newer nonce was used first, or
		// the agent fenced meanwhile): once more with the nonce the refusal
		// carried. A stale epoch is refused again, as it must be.
		w.leases.SetNonce(host, apiErr.Nonce, time.Now())
		if n, ok := w.leases.TakeNonce(host, time.Now()); ok {
			lease.Nonce = n
			st, err = w.cfg.Agents.SetRoles(ctx, host, toAgentRoles(roles), lease)
		}
	}
	if err != nil {
		if !errors.As(err, &apiErr) {
			// No answer at all: the agent may be dead (an answer, even a
			// refusal, says it is alive). Known now, not a period later.
			w.recordAgent(host, nil, err)
		}
		return nil, err
	}
	now := time.Now()
	w.leases.SetNonce(host, st.Nonce, now)
	w.leases.SetRenewed(host, now)
	w.leases.Accepted(host, now)
	w.leases.SetHeld(host, fromAgentRoles(st.Roles))
	w.recordAgent(host, st, nil)
	return st, nil
}

// nonceFor takes host's freshest nonce for one request, asking its agent
// for one when none is fresh enough.
func (w *Watch) nonceFor(ctx context.Context, host string) (string, error) {
	if n, ok := w.leases.TakeNonce(host, time.Now()); ok {
		return n, nil
	}
	st, err := w.cfg.Agents.Status(ctx, host)
	if err != nil {
		return "", err
	}
	w.leases.SetNonce(host, st.Nonce, time.Now())
	if n, ok := w.leases.TakeNonce(host, time.Now()); ok {
		return n, nil
	}
	return "", fmt.Errorf("agent %s handed out no nonce (protocol %d): upgrade it to this mmm's version", host, st.Protocol)
}
