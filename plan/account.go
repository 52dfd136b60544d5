package plan

import (
	"fmt"
	"net/netip"
	"strings"
)

// replicationAccount checks, before any step is planned, that every host that
// will replicate can log in to its source with the replication account: the
// account must be declared and its host pattern must admit the replica's
// address. Otherwise the replica would stop with "Access denied" after apply
// had already changed the cluster; as an error problem it makes apply refuse
// up front and change nothing.
func (d *differ) replicationAccount() {
	repl := d.c.ReplicationUser()
	if repl == nil {
		d.problem(Problem{Severity: SeverityError,
			Summary: fmt.Sprintf("the replication account %q is not declared", d.c.Replication.User),
			Detail:  "replication.user must name a user block (without ensure = \"absent\") that has REPLICATION SLAVE on *.*; no replica can be pointed anywhere without it."})
		d.roleSteps = false
		return
	}
	for _, h := range d.c.Hosts {
		if !AccountHostMatches(repl.Host, h.Address) {
			d.problem(Problem{Severity: SeverityError, Host: h.Name,
				Summary: fmt.Sprintf("replication account %s cannot log in from %s (%s)", repl.Key(), h.Name, h.Address),
				Detail: fmt.Sprintf("Its host pattern %q does not match %s, so %s would fail with Access denied when it connects to its source. "+
					"Widen the host of user %q (for example %q) or declare one more account for this network.",
					repl.Host, h.Address, h.Name, repl.Name, suggestPattern(h.Address))})
			d.roleSteps = false
		}
	}
}

// AccountHostMatches reports whether a MySQL account host pattern admits addr:
// '%' and '_' wildcards (as LIKE), an exact address, or address/netmask.
func AccountHostMatches(pattern, addr string) bool {
	if ip, mask, ok := strings.Cut(pattern, "/"); ok {
		a, err1 := netip.ParseAddr(addr)
		p, err2 := netip.ParseAddr(ip)
		m, err3 := netip.ParseAddr(mask)
		if err1 != nil || err2 != nil || err3 != nil || !a.Is4() || !p.Is4() || !m.Is4() {
			return false
		}
		ab, pb, mb := a.As4(), p.As4(), m.As4()
		for i := range ab {
			if ab[i]&mb[i] != pb[i]&mb[i] {
				return false
			}
		}
		return true
	}
	return likeMatch(strings.ToLower(pattern), strings.ToLower(addr))
}

// likeMatch is SQL LIKE without escapes: % any run, _ one character.
func likeMatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '%':
			for len(p) > 0 && p[0] == '%' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if likeMatch(p, s[i:]) {
					return true
				}
			}
			return false
		case '_':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

func suggestPattern(addr string) string {
	if i := strings.LastIndexByte(addr, '.'); i > 0 {
		return addr[:i] + ".%"
	}
	return "%"
}
