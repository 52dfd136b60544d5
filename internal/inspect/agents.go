package inspect

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// AgentStatus asks one host's agent what it holds (agent.Client does).
type AgentStatus interface {
	Status(ctx context.Context, host string) (*agent.Status, error)
}

// Agents asks every host's agent, in parallel, which VIPs it holds, and fills
// live.Agents and live.VIPs (every declared VIP has an entry, held or not).
// An agent that does not answer is recorded with why, never waited on past
// timeout.
func Agents(ctx context.Context, c *topology.Cluster, st AgentStatus, live *topology.Live, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	live.Agents = map[string]*topology.LiveAgent{}
	for _, h := range c.Hosts {
		wg.Add(1)
		go func(h *topology.Host) {
			defer wg.Done()
			actx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			la := &topology.LiveAgent{}
			s, err := st.Status(actx, h.Name)
			if err != nil {
				la.Error = fmt.Sprintf("agent %s (%s:%d): %v (is `mmm agent --host %s` running there?)",
					h.Name, h.Address, c.Agent.Port, err, h.Name)
			} else {
				la.Reachable, la.Mode = true, string(s.Mode)
				for _, r := range s.Roles {
					la.IPs = append(la.IPs, r.IP)
				}
				sort.Strings(la.IPs)
			}
			mu.Lock()
			live.Agents[h.Name] = la
			mu.Unlock()
		}(h)
	}
	wg.Wait()

	live.VIPs = map[string][]string{}
	for _, r := range c.Roles {
		for _, ip := range r.IPs {
			live.VIPs[ip] = nil
		}
	}
	for _, h := range c.Hosts { // declaration order: stable holder lists
		for _, ip := range live.Agents[h.Name].IPs {
			live.VIPs[ip] = append(live.VIPs[ip], h.Name)
		}
	}
}
