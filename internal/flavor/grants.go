package flavor

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// ParseGrants reads the lines of SHOW GRANTS FOR an account into normalised
// grants, one per object, sorted by object (see topology.Grant). What mmm does
// not manage is skipped: role grants (GRANT `r`@`%` TO ...), PROXY grants and
// MySQL partial revokes. The password part (IDENTIFIED BY PASSWORD '*...') is
// dropped during parsing and never kept.
func ParseGrants(f Flavor, lines []string) ([]topology.Grant, error) {
	type acc struct {
		privs []string
		opt   bool
	}
	byObject := map[string]*acc{}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		privs, on, opt, skip, err := parseGrantLine(line)
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		a := byObject[on]
		if a == nil {
			a = &acc{}
			byObject[on] = a
		}
		a.privs = append(a.privs, privs...)
		a.opt = a.opt || opt
	}
	var out []topology.Grant
	for on, a := range byObject {
		privs, opt := Expand(f, on, a.privs)
		if len(privs) == 0 && !opt && !a.opt {
			continue // USAGE: no privilege at all
		}
		out = append(out, topology.Grant{On: on, Privileges: privs, WithGrantOption: a.opt || opt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].On < out[j].On })
	return out, nil
}

// parseGrantLine splits one "GRANT privs ON object TO account [tail]" line.
// The line is never included in errors whole: it may carry a password hash.
func parseGrantLine(line string) (privs []string, on string, grantOption, skip bool, err error) {
	upper := strings.ToUpper(line)
	if !strings.HasPrefix(upper, "GRANT ") {
		return nil, "", false, true, nil // REVOKE (partial revokes), SET DEFAULT ROLE, ...
	}
	rest := line[len("GRANT "):]
	onAt := indexOutside(rest, " ON ")
	if onAt < 0 {
		return nil, "", false, true, nil // role grant: GRANT `r`@`%` TO `u`@`%`
	}
	privText, rest := rest[:onAt], rest[onAt+len(" ON "):]
	toAt := indexOutside(rest, " TO ")
	if toAt < 0 {
		return nil, "", false, false, fmt.Errorf("cannot read grant %q: no TO", clip(line))
	}
	object, tail := rest[:toAt], rest[toAt+len(" TO "):]
	if strings.EqualFold(strings.TrimSpace(privText), "PROXY") {
		return nil, "", false, true, nil
	}
	for _, p := range splitOutside(privText, ',') {
		if p = strings.TrimSpace(p); p != "" {
			privs = append(privs, p)
		}
	}
	// Only the words outside quoted strings matter in the tail: the account,
	// IDENTIFIED BY PASSWORD '<hash>', REQUIRE ..., WITH GRANT OPTION and limits.
	words := strings.Fields(strings.ToUpper(stripQuoted(tail)))
	for i := 0; i+1 < len(words); i++ {
		if words[i] == "GRANT" && words[i+1] == "OPTION" {
			grantOption = true
		}
	}
	return privs, CanonicalObject(object), grantOption, false, nil
}

// clip keeps error messages short and free of the hash part of a grant line.
func clip(line string) string {
	if i := indexOutside(strings.ToUpper(line), " IDENTIFIED "); i >= 0 {
		line = line[:i] + " ..."
	}
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	return line
}

// indexOutside finds sep (upper case) outside backticks, quotes and parentheses.
func indexOutside(s, sep string) int {
	var quote byte
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '`' || c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && len(s)-i >= len(sep) && strings.EqualFold(s[i:i+len(sep)], sep):
			return i
		}
	}
	return -1
}

// splitOutside splits s at sep outside backticks, quotes and parentheses.
func splitOutside(s string, sep byte) []string {
	var out []string
	var quote byte
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '`' || c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// stripQuoted removes quoted strings and identifiers, keeping the words between.
func stripQuoted(s string) string {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
				b.WriteByte(' ')
			}
		case c == '`' || c == '\'' || c == '"':
			quote = c
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unquoteIdent removes `backticks` (” and "" too), undoubling the quote inside.
func unquoteIdent(s string) string {
	if len(s) >= 2 {
		q := s[0]
		if (q == '`' || q == '\'' || q == '"') && s[len(s)-1] == q {
			return strings.ReplaceAll(s[1:len(s)-1], string([]byte{q, q}), string(q))
		}
	}
	return s
}
