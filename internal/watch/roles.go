package watch

import (
	"sort"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Placement maps every VIP of the cluster to the host that holds it ("" none).
type Placement map[string]string

// Place decides where every role's IPs go. Only ONLINE hosts hold roles.
//
//   - exclusive roles (the writer): the IPs stay with writer (the host the
//     watch keeps as the writer, sticky) while it is ONLINE; with no writer
//     yet, prefer when ONLINE, else the first ONLINE host of the role. The
//     writer's failover is not decided here (see ChooseCandidate).
//   - balanced roles: placements that are still valid stay; IPs of hosts
//     that left ONLINE go to the least loaded ONLINE host; then IPs move from
//     the most to the least loaded host until no ONLINE host holds two more
//     than another (MMM's balance), so a returning host gets its share.
func Place(c *topology.Cluster, online func(host string) bool, current Placement, writer string) Placement {
	out := Placement{}
	for _, role := range c.Roles {
		if role.Mode == topology.RoleExclusive {
			holder := ""
			switch {
			case writer != "" && contains(role.Hosts, writer):
				if online(writer) {
					holder = writer
				}
			case role.Prefer != "" && online(role.Prefer):
				holder = role.Prefer
			default:
				for _, h := range role.Hosts {
					if online(h) {
						holder = h
						break
					}
				}
			}
			for _, ip := range role.IPs {
				out[ip] = holder
			}
			continue
		}
		var hosts []string
		for _, h := range role.Hosts {
			if online(h) {
				hosts = append(hosts, h)
			}
		}
		load := map[string]int{}
		byHost := map[string][]string{}
		var free []string
		for _, ip := range role.IPs {
			h := current[ip]
			if h != "" && contains(hosts, h) {
				out[ip] = h
				load[h]++
				byHost[h] = append(byHost[h], ip)
			} else {
				free = append(free, ip)
			}
		}
		least := func() string {
			best := ""
			for _, h := range hosts {
				if best == "" || load[h] < load[best] {
					best = h
				}
			}
			return best
		}
		most := func() string {
			best := ""
			for _, h := range hosts {
				if best == "" || load[h] > load[best] {
					best = h
				}
			}
			return best
		}
		for _, ip := range free {
			h := least()
			out[ip] = h
			if h != "" {
				load[h]++
				byHost[h] = append(byHost[h], ip)
			}
		}
		for len(hosts) > 1 {
			hi, lo := most(), least()
			if load[hi]-load[lo] < 2 {
				break
			}
			ips := byHost[hi]
			sort.Strings(ips)
			ip := ips[len(ips)-1]
			byHost[hi] = ips[:len(ips)-1]
			out[ip] = lo
			byHost[lo] = append(byHost[lo], ip)
			load[hi]--
			load[lo]++
		}
	}
	return out
}

// RolesOf lists the role IPs p gives to host, sorted by IP.
func (p Placement) RolesOf(c *topology.Cluster, host string) []RoleIP {
	var out []RoleIP
	for _, role := range c.Roles {
		for _, ip := range role.IPs {
			if p[ip] == host {
				out = append(out, RoleIP{Role: role.Name, IP: ip})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP < out[j].IP })
	return out
}

// RoleIP is one VIP of a role.
type RoleIP struct {
	Role string `json:"role"`
	IP   string `json:"ip"`
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortStrings(s []string) { sort.Strings(s) }
