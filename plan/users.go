package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// users plans the declared accounts on every reachable host.
//
// Account statements run with the binary log off for their session (every
// account step starts with SET SESSION sql_log_bin = 0), and each host is
// converged on its own. Replicating them instead would break replication in
// the ways MMM operators know: a CREATE USER replayed on a replica that
// already has the account stops its SQL thread (error 1396), a replica that
// lacks an account fails on its GRANT, and a GTID written by an account
// change on the standby master or a slave is an errant transaction that
// blocks a later failover. Since every host gets exactly the declared
// accounts from mmm directly, none of them needs to replicate.
//
// Accounts that are not declared are never touched.
func (d *differ) users() {
	for _, h := range d.c.Hosts {
		lh := d.reachable(h)
		if lh == nil || lh.AccountsUnread {
			continue
		}
		for _, u := range d.c.Users {
			d.user(h, lh, u)
		}
	}
}

func (d *differ) user(h *topology.Host, lh *topology.LiveHost, u *topology.User) {
	sql := d.dialect(h)
	key := u.Key()
	lu := lh.Users[key]
	exists := lu != nil && lu.Exists
	subject := "user " + key
	id := func(kind Kind, what string) string {
		if what == "" {
			return stepID(h.Name, kind, key)
		}
		return stepID(h.Name, kind, key+" on "+what)
	}
	isRepl := d.c.Replication.User != "" && u.Name == d.c.Replication.User && u.Ensure != topology.EnsureAbsent
	track := func(stepID string) {
		if isRepl {
			d.replUserSteps[h.Name] = append(d.replUserSteps[h.Name], stepID)
		}
	}

	if u.Ensure == topology.EnsureAbsent {
		if exists {
			d.add(Step{
				ID: id(KindDropUser, ""), Kind: KindDropUser, Symbol: Delete, Host: h.Name, Subject: subject,
				Change: "drop", Why: "ensure = \"absent\"",
				Statements: []Statement{sql.noBinlog(), sql.dropUser(u.Name, u.Host)},
				Unsafe:     true, UnsafeReason: "drops an account",
			})
		}
		return
	}
	if !u.Password.Set && !u.Password.IsZero() {
		d.problem(Problem{Severity: SeverityError, Host: h.Name,
			Summary: fmt.Sprintf("the password of %s is not set (%s)", key, u.Password.Source),
			Detail:  "Set it, then plan again; no step is planned for this account."})
		return
	}

	// Declared grants take the server's own form first (ALL PRIVILEGES
	// expanded for the level, aliases such as REPLICATION CLIENT -> BINLOG
	// MONITOR resolved, column lists sorted), so they compare with the parsed
	// live grants and a converged account plans nothing.
	declared := make([]topology.Grant, 0, len(u.Grants))
	for _, g := range u.Grants {
		declared = append(declared, flavor.NormalizeGrant(sql.f, g))
	}
	want := canonicalGrants(declared)
	if !exists {
		stmts := []Statement{sql.noBinlog(), sql.createUser(u.Name, u.Host, u.Password)}
		var what []string
		for _, g := range want {
			stmts = append(stmts, sql.grant(g.Privileges, g.On, u.Name, u.Host, g.WithGrantOption))
			what = append(what, grantText(g))
		}
		change := "create"
		if len(what) > 0 {
			change += ", grant " + strings.Join(what, "; ")
		}
		track(d.add(Step{
			ID: id(KindCreateUser, ""), Kind: KindCreateUser, Symbol: Create, Host: h.Name, Subject: subject,
			Change: change, Statements: stmts,
		}))
		return
	}

	if lu.Password == topology.PasswordMismatch && u.Password.Set {
		s := d.add(Step{
			ID: id(KindAlterUser, "password"), Kind: KindAlterUser, Symbol: Update, Host: h.Name, Subject: subject,
			Change: "password (differs from the declared one)", Statements: []Statement{sql.noBinlog(), sql.alterPassword(u.Name, u.Host, u.Password)},
		})
		track(s)
		if isRepl {
			d.replPasswordChanged = append(d.replPasswordChanged, h.Name)
		}
	}

	have := map[string]topology.Grant{}
	for _, g := range canonicalGrants(lu.Grants) {
		have[g.On] = g
	}
	for _, g := range want {
		cur := have[g.On]
		missing := minus(g.Privileges, cur.Privileges)
		option := g.WithGrantOption && !cur.WithGrantOption
		if len(missing) == 0 && !option {
			continue
		}
		change := "grant " + strings.Join(missing, ", ")
		if len(missing) == 0 {
			change = "grant"
		}
		change += " on " + g.On
		if option {
			change += " with grant option"
		}
		track(d.add(Step{
			ID: id(KindGrant, g.On), Kind: KindGrant, Symbol: Update, Host: h.Name, Subject: subject,
			Change: change, Statements: []Statement{sql.noBinlog(), sql.grant(missing, g.On, u.Name, u.Host, option)},
		}))
	}
	// Grants are authoritative: revoke what is not declared, object by object
	// in a stable order.
	var ons []string
	for on := range have {
		ons = append(ons, on)
	}
	sort.Strings(ons)
	for _, on := range ons {
		cur := have[on]
		var wantG topology.Grant
		for _, g := range want {
			if g.On == on {
				wantG = g
			}
		}
		extra := minus(cur.Privileges, wantG.Privileges)
		option := cur.WithGrantOption && !wantG.WithGrantOption
		if len(extra) == 0 && !option {
			continue
		}
		stmts := []Statement{sql.noBinlog(), sql.revoke(extra, on, u.Name, u.Host, option)}
		what := append([]string{}, extra...)
		if option {
			what = append(what, "GRANT OPTION")
		}
		d.add(Step{
			ID: id(KindRevoke, on), Kind: KindRevoke, Symbol: Update, Host: h.Name, Subject: subject,
			Change: "revoke " + strings.Join(what, ", ") + " on " + on, Why: "not declared (grants are authoritative)",
			Statements: stmts,
		})
	}
}

// canonicalGrants merges grants per object, privileges upper case and sorted,
// USAGE dropped (it is no privilege), in the declared order of objects.
func canonicalGrants(in []topology.Grant) []topology.Grant {
	var out []topology.Grant
	idx := map[string]int{}
	for _, g := range in {
		var privs []string
		for _, p := range g.Privileges {
			p = strings.Join(strings.Fields(strings.ToUpper(p)), " ")
			if p != "" && p != "USAGE" {
				privs = append(privs, p)
			}
		}
		if i, ok := idx[g.On]; ok {
			out[i].Privileges = topology.SortedPrivileges(append(out[i].Privileges, privs...))
			out[i].WithGrantOption = out[i].WithGrantOption || g.WithGrantOption
			continue
		}
		idx[g.On] = len(out)
		out = append(out, topology.Grant{On: g.On, Privileges: topology.SortedPrivileges(privs), WithGrantOption: g.WithGrantOption})
	}
	return out
}

func grantText(g topology.Grant) string {
	s := strings.Join(g.Privileges, ", ")
	if s == "" {
		s = "USAGE"
	}
	s += " on " + g.On
	if g.WithGrantOption {
		s += " with grant option"
	}
	return s
}

// minus returns the elements of a not in b, in a's order.
func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}
