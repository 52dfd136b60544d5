package agent

// Gratuitous ARP for the VIPs the agent holds (ha-anchors §5, keepalived and
// kube-vip): a burst when an address is added, a second burst a little more
// than a second later (Linux ignores an update within locktime, 1 s, of the
// previous one), and for exclusive VIPs a refresh every 2 s while the agent
// may hold them. Every packet is sent under mu after checking that the agent
// still holds the address and, for an exclusive one, that its lease is valid
// (or it is in static mode): a dropped or fenced VIP is never announced again.

import (
	"context"
	"net/netip"
	"time"
)

// Announcement schedule, as offsets from the address's addition.
var (
	announceFirst  = []time.Duration{0, 40 * time.Millisecond, 80 * time.Millisecond}
	announceSecond = []time.Duration{1100 * time.Millisecond, 1140 * time.Millisecond, 1180 * time.Millisecond}
)

// announceRefresh is the period of the refresh of a held exclusive VIP
// (Agent.announceRefresh, shorter in tests).
const announceRefresh = 2 * time.Second

const announceSendTimeout = 100 * time.Millisecond

type announcer struct {
	ip        netip.Addr
	exclusive bool
	cancel    context.CancelFunc
}

// startAnnouncing makes sure ip has an announcer. A newly added address gets
// its first packet now (before the answer, so a client connecting right
// after reaches the new holder) and the rest of both bursts from the
// announcer; one already held only gets the refresh. Called with mu held.
func (a *Agent) startAnnouncing(ip netip.Addr, exclusive, added bool) {
	if an := a.announcing[ip]; an != nil && !added {
		return
	}
	a.stopAnnouncing(ip)
	ctx, cancel := context.WithCancel(context.Background())
	an := &announcer{ip: ip, exclusive: exclusive, cancel: cancel}
	a.announcing[ip] = an
	var plan []time.Duration
	if added {
		a.sendAnnouncement(an)
		plan = append(append(plan, announceFirst[1:]...), announceSecond...)
	}
	if !exclusive && !added {
		return // a reader VIP already held: nothing to refresh
	}
	go a.announceLoop(ctx, an, plan)
}

// stopAnnouncing ends ip's announcer. Called with mu held.
func (a *Agent) stopAnnouncing(ip netip.Addr) {
	if an := a.announcing[ip]; an != nil {
		an.cancel()
		delete(a.announcing, ip)
	}
}

func (a *Agent) announceLoop(ctx context.Context, an *announcer, plan []time.Duration) {
	start := time.Now()
	next := func(i int) time.Duration {
		if i < len(plan) {
			return plan[i]
		}
		if !an.exclusive {
			return -1
		}
		last := time.Duration(0)
		if len(plan) > 0 {
			last = plan[len(plan)-1]
		}
		return last + time.Duration(i-len(plan)+1)*a.announceRefresh
	}
	for i := 0; ; i++ {
		at := next(i)
		if at < 0 {
			return
		}
		t := time.NewTimer(time.Until(start.Add(at)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		a.mu.Lock()
		ok := a.announcing[an.ip] == an && a.mayAnnounce(an)
		if ok {
			a.sendAnnouncement(an)
		}
		a.mu.Unlock()
		if !ok {
			return
		}
	}
}

// mayAnnounce: a balanced VIP always; an exclusive one in static mode or
// under a valid lease. Called with mu held.
func (a *Agent) mayAnnounce(an *announcer) bool {
	if !an.exclusive {
		return true
	}
	return a.mode == ModeStatic || a.leaseValid()
}

// sendAnnouncement sends one gratuitous ARP. Called with mu held.
func (a *Agent) sendAnnouncement(an *announcer) {
	ctx, cancel := context.WithTimeout(context.Background(), announceSendTimeout)
	defer cancel()
	if err := a.addrs.Announce(ctx, a.host.Interface, an.ip); err != nil {
		// The address is up; neighbours learn it when their cache entry
		// for it goes stale. Say so, but the change stands.
		a.log.Warn("gratuitous ARP failed", "ip", an.ip, "interface", a.host.Interface, "err", err)
	}
}
