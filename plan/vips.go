package plan

import (
	"fmt"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// vips plans VIP moves when the agents were asked (live.VIPs != nil).
//
// Placement: an exclusive role's IPs go to the writer; a balanced role's IPs
// are spread over its hosts that are reachable and replicate (or will, after
// this plan), keeping every placement that is still valid so clients are not
// moved for nothing. Order: every release comes before every assign, a
// release of a writer VIP waits for its holder's read_only step, and the
// writer VIP arrives only after the writer's read_only OFF: an address is
// never on two hosts, and the writer VIP never points at a read-only server
// that a client could mistake for the writer.
func (d *differ) vips() {
	if d.live.VIPs == nil {
		return
	}
	if !d.agentsUsable() {
		return
	}
	var releases, assigns []Step
	for _, role := range d.c.Roles {
		targets := d.placeRole(role)
		exclusive := role.Mode == topology.RoleExclusive
		for _, ip := range role.IPs {
			want := targets[ip]
			holders := d.live.VIPs[ip]
			subject := fmt.Sprintf("vip %s (%s)", ip, role.Name)
			var released []string
			for _, holder := range holders {
				if holder == want {
					continue
				}
				to := want
				if to == "" {
					to = "none"
				}
				s := Step{
					ID: stepID(holder, KindReleaseVIP, ip), Kind: KindReleaseVIP, Symbol: Move,
					Host: holder, Subject: subject, Change: fmt.Sprintf("%s -> %s", holder, to),
					VIP: &VIPStep{Role: role.Name, IP: ip, Interface: d.iface(holder), From: holder, To: want},
				}
				if exclusive {
					s.DependsOn = nonEmpty(d.readOnlySteps[holder])
				}
				if d.eligible(role, holder) && (exclusive || len(holders) == 1) {
					s.Unsafe, s.UnsafeReason = true, "moves a VIP off a healthy host"
				}
				if len(holders) > 1 {
					s.Why = fmt.Sprintf("%s is on %d hosts", ip, len(holders))
				}
				releases = append(releases, s)
				released = append(released, s.ID)
			}
			if want == "" || contains(holders, want) {
				continue
			}
			from := "none"
			if len(holders) > 0 {
				from = holders[0]
			}
			s := Step{
				ID: stepID(want, KindAssignVIP, ip), Kind: KindAssignVIP, Symbol: Move,
				Host: want, Subject: subject, Change: fmt.Sprintf("%s -> %s", from, want),
				VIP: &VIPStep{Role: role.Name, IP: ip, Interface: d.iface(want), From: from, To: want},
			}
			s.DependsOn = append(released, nonEmpty(lastOf(d.replSteps[want]))...)
			if exclusive {
				s.DependsOn = append(s.DependsOn, nonEmpty(d.readOnlySteps[want])...)
			}
			if from == "none" {
				s.VIP.From = ""
			}
			assigns = append(assigns, s)
		}
	}
	for _, s := range releases {
		d.add(s)
	}
	for _, s := range assigns {
		d.add(s)
	}
}

func (d *differ) iface(host string) string {
	if h := d.c.Host(host); h != nil {
		return h.Interface
	}
	return ""
}

// eligible: the host may hold a balanced role's IP (or the writer's).
func (d *differ) eligible(role *topology.Role, name string) bool {
	if !contains(role.Hosts, name) || d.replBlocked[name] {
		return false
	}
	h := d.c.Host(name)
	if h == nil || d.reachable(h) == nil {
		return false
	}
	if role.Mode == topology.RoleExclusive {
		return name == d.writer
	}
	lh := d.reachable(h)
	return d.replPlanned[name] || lh.Replica.Running()
}

// placeRole maps each IP of role to the host that should hold it ("" none).
func (d *differ) placeRole(role *topology.Role) map[string]string {
	out := map[string]string{}
	if role.Mode == topology.RoleExclusive {
		w := ""
		if d.eligible(role, d.writer) {
			w = d.writer
		}
		for _, ip := range role.IPs {
			out[ip] = w
		}
		return out
	}
	count := map[string]int{}
	for _, ip := range role.IPs {
		for _, h := range role.Hosts {
			if contains(d.live.VIPs[ip], h) && d.eligible(role, h) {
				out[ip] = h
				count[h]++
				break
			}
		}
	}
	for _, ip := range role.IPs {
		if out[ip] != "" {
			continue
		}
		best := ""
		for _, h := range role.Hosts {
			if d.eligible(role, h) && (best == "" || count[h] < count[best]) {
				best = h
			}
		}
		if best != "" {
			out[ip] = best
			count[best]++
		}
	}
	return out
}

// agentsUsable reports whether VIP steps may be planned: every agent answered
// (a VIP on a host whose agent is silent could be anywhere), and none holds
// its roles on a watch's lease (then the watch owns placement, and apply
// must not move addresses behind its back: design.md, "plan and apply").
func (d *differ) agentsUsable() bool {
	ok, leased := true, []string{}
	for _, h := range d.c.Hosts {
		la := d.live.Agents[h.Name]
		switch {
		case la == nil:
			continue
		case !la.Reachable:
			d.problem(Problem{Severity: SeverityWarning, Host: h.Name,
				Summary: fmt.Sprintf("the agent on %s could not be asked which VIPs it holds", h.Name),
				Detail:  la.Error + ". No VIP step is planned until every agent answers."})
			ok = false
		case la.Mode == "lease":
			leased = append(leased, h.Name)
		}
	}
	if ok && len(leased) > 0 && !d.opts.WatchOwnsRoles {
		d.note("a running mmm watch holds the roles (agents on %s are in lease mode): VIP placement is left to it; use mmm move-role to move a role", strings.Join(leased, ", "))
		return false
	}
	return ok
}
