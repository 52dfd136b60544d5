package lab

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// BenchmarkRange is 198.18.0.0/15 (RFC 2544), set aside for test networks. Lab
// traffic never leaves it, so a lab cannot reach or disturb a real network.
var BenchmarkRange = netip.MustParsePrefix("198.18.0.0/15")

// validName is what a host name must look like to become part of a namespace name
// (a file under /run/netns).
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// labSubnet checks that every address the lab will create or talk to lies in
// BenchmarkRange and that the hosts share one /24, and returns that /24.
func labSubnet(c *topology.Cluster) (netip.Prefix, error) {
	if len(c.Hosts) == 0 {
		return netip.Prefix{}, fmt.Errorf("the topology declares no host: a lab needs at least one host block")
	}
	var subnet netip.Prefix
	var first *topology.Host
	seen := map[netip.Addr]string{}
	for _, h := range c.Hosts {
		if !validName.MatchString(h.Name) || len(h.Name) > 40 {
			return netip.Prefix{}, fmt.Errorf("host %q: a lab host name must be letters, digits, '.', '_' or '-' (at most 40), because it names the host's network namespace", h.Name)
		}
		a, err := netip.ParseAddr(h.Address)
		if err != nil || !a.Is4() {
			return netip.Prefix{}, fmt.Errorf("host %q: address %q is not an IPv4 address; a lab host needs one in %s", h.Name, h.Address, BenchmarkRange)
		}
		if !BenchmarkRange.Contains(a) {
			return netip.Prefix{}, fmt.Errorf("host %q: address %s is outside %s: lab traffic must stay in the benchmark range set aside for test networks (RFC 2544), so it can never reach a real host; use an address such as 198.18.0.11", h.Name, a, BenchmarkRange)
		}
		p := netip.PrefixFrom(a, 24).Masked()
		if first == nil {
			subnet, first = p, h
		} else if p != subnet {
			return netip.Prefix{}, fmt.Errorf("host %q: address %s is not in %s like host %q (%s): a lab is one /24 on one bridge, so all its hosts must share it", h.Name, a, subnet, first.Name, first.Address)
		}
		last := a.As4()[3]
		switch last {
		case 0, 255:
			return netip.Prefix{}, fmt.Errorf("host %q: address %s is the network or broadcast address of %s; use .2 to .254", h.Name, a, subnet)
		case 1:
			return netip.Prefix{}, fmt.Errorf("host %q: address %s is the lab's monitor address (the root namespace takes x.y.z.1 on the bridge); use .2 to .254", h.Name, a)
		}
		if other, ok := seen[a]; ok {
			return netip.Prefix{}, fmt.Errorf("host %q: address %s is also the address of host %q; every lab host needs its own", h.Name, a, other)
		}
		seen[a] = h.Name
		if h.Port <= 0 || h.Port > 65535 {
			return netip.Prefix{}, fmt.Errorf("host %q: port %d is not a TCP port", h.Name, h.Port)
		}
		if len(interfaceName(h)) > 15 {
			return netip.Prefix{}, fmt.Errorf("host %q: interface %q is longer than 15 characters, the Linux limit", h.Name, h.Interface)
		}
	}
	// VIPs will be added inside the namespaces and ping_ips are pinged by the
	// monitor: both must stay in the lab's /24 as well.
	for _, r := range c.Roles {
		for _, ip := range r.IPs {
			if err := inSubnet(subnet, ip, fmt.Sprintf("role %q: IP", r.Name)); err != nil {
				return netip.Prefix{}, err
			}
		}
	}
	for _, ip := range c.Monitor.PingIPs {
		if err := inSubnet(subnet, ip, "monitor: ping_ips entry"); err != nil {
			return netip.Prefix{}, err
		}
	}
	return subnet, nil
}

func inSubnet(subnet netip.Prefix, ip, what string) error {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return fmt.Errorf("%s %q is not an IP address", what, ip)
	}
	if !BenchmarkRange.Contains(a) {
		return fmt.Errorf("%s %s is outside %s: lab traffic must stay in the benchmark range set aside for test networks (RFC 2544)", what, a, BenchmarkRange)
	}
	if !subnet.Contains(a) {
		return fmt.Errorf("%s %s is not in the lab's %s: a lab is one /24 on one bridge", what, a, subnet)
	}
	return nil
}

// labID names a lab after its /24 ("mmm18-0" for 198.18.0.0/24). It is the
// bridge's name and the prefix of every other name the lab creates, so labs on
// different /24s never collide. At most 9 characters.
func labID(subnet netip.Prefix) string {
	b := subnet.Addr().As4()
	return fmt.Sprintf("mmm%d-%d", b[1], b[2])
}

// namespaceName is the host's network namespace, e.g. "mmm18-0-master1".
func namespaceName(id, host string) string { return id + "-" + host }

// vethName is the root-namespace end of the host's veth pair, named after the last
// octet of its address ("mmm18-0v11"), which is unique in the lab and keeps the
// name within Linux's 15 characters.
func vethName(id string, addr netip.Addr) string {
	return fmt.Sprintf("%sv%d", id, addr.As4()[3])
}

func interfaceName(h *topology.Host) string {
	if h.Interface == "" {
		return "eth0"
	}
	return h.Interface
}

// RewriteSubnet moves a cluster to another /24, so one topology file (such as
// examples/lab/mmm.hcl) can serve several labs side by side. to is the new /24's
// first three octets ("198.18.2") or a prefix ("198.18.2.0/24"). Host addresses,
// role IPs, ping_ips, the monitor's listen address, its nodes' listen and
// raft addresses and user host patterns ("198.18.0.%") that lie in the hosts'
// /24 are rewritten; everything else stays.
func RewriteSubnet(c *topology.Cluster, to string) error {
	from, err := labSubnet(c)
	if err != nil {
		return err
	}
	toPrefix, err := parseSubnet(to)
	if err != nil {
		return err
	}
	if !BenchmarkRange.Contains(toPrefix.Addr()) {
		return fmt.Errorf("subnet %s is outside %s: lab traffic must stay in the benchmark range set aside for test networks", toPrefix, BenchmarkRange)
	}
	fromText := strings.TrimSuffix(from.Addr().String(), ".0") + "."
	toText := strings.TrimSuffix(toPrefix.Addr().String(), ".0") + "."
	move := func(s string) string {
		if strings.HasPrefix(s, fromText) {
			return toText + strings.TrimPrefix(s, fromText)
		}
		return s
	}
	for _, h := range c.Hosts {
		h.Address = move(h.Address)
	}
	for _, r := range c.Roles {
		for i := range r.IPs {
			r.IPs[i] = move(r.IPs[i])
		}
	}
	for i := range c.Monitor.PingIPs {
		c.Monitor.PingIPs[i] = move(c.Monitor.PingIPs[i])
	}
	c.Monitor.Listen = move(c.Monitor.Listen)
	for _, n := range c.Monitor.Nodes {
		n.Listen, n.Raft = move(n.Listen), move(n.Raft)
	}
	for _, u := range c.Users {
		u.Host = move(u.Host)
	}
	return nil
}

func parseSubnet(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Bits() != 24 || !p.Addr().Is4() {
			return netip.Prefix{}, fmt.Errorf("subnet %q: want an IPv4 /24 such as 198.18.2.0/24", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s + ".0")
	if err != nil || !a.Is4() {
		return netip.Prefix{}, fmt.Errorf("subnet %q: want the first three octets of a /24, such as 198.18.2", s)
	}
	return netip.PrefixFrom(a, 24), nil
}
