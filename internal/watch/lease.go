package watch

import (
	"context"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
)

// leases is what the agents hold and when they last answered a renewal. It
// has its own lock, apart from the round's: renewals run on their own
// ticker, because a round can take longer than a lease (an unreachable host
// costs its connect timeouts) and a lease that runs out fences a healthy
// writer.
type leases struct {
	mu      sync.Mutex
	held    map[string][]RoleIP
	renewed map[string]time.Time
	fenced  map[string]bool
	hostMu  map[string]*sync.Mutex
}

func newLeases() *leases {
	return &leases{held: map[string][]RoleIP{}, renewed: map[string]time.Time{}, fenced: map[string]bool{}, hostMu: map[string]*sync.Mutex{}}
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

// renewPeriod: a third of the lease, at most the check period.
func (w *Watch) renewPeriod() time.Duration {
	p := w.lease() / 3
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
	t := time.NewTicker(w.renewPeriod())
	defer t.Stop()
	for {
		w.renew(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renew sends every agent but the fenced ones the roles it holds with a
// fresh lease, in parallel, each bounded by the agent timeout.
func (w *Watch) renew(ctx context.Context) {
	if w.cfg.Agents == nil {
		return
	}
	lease := &agent.Lease{TTL: agent.Duration(w.lease()), Holder: w.cfg.Holder}
	var wg sync.WaitGroup
	for _, h := range w.c.Hosts {
		if w.leases.Fenced(h.Name) {
			continue
		}
		wg.Add(1)
		go func(host string) {
			defer wg.Done()
			unlock := w.leases.lockHost(host)
			defer unlock()
			if w.leases.Fenced(host) {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, w.agentTimeout())
			defer cancel()
			st, err := w.cfg.Agents.SetRoles(rctx, host, toAgentRoles(w.leases.Held(host)), lease)
			if err != nil {
				w.log.Debug("lease renewal failed", "host", host, "error", err)
				return
			}
			w.leases.SetRenewed(host, time.Now())
			w.leases.SetHeld(host, fromAgentRoles(st.Roles))
		}(h.Name)
	}
	wg.Wait()
}
