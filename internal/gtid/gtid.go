// Package gtid parses and compares GTID positions of both flavors, so that
// failover can tell which host is most advanced and which holds transactions
// nobody else has (errant ones):
//
//   - MariaDB positions are per replication domain, the last GTID of each:
//     "0-1-100,1-2-7" (domain-server-seq). A position contains another when it
//     is at or past it in every domain of the other. Only the last GTID of a
//     domain is known, so the difference of two positions names, per domain,
//     the last GTID the first one is ahead with.
//   - MySQL GTID sets are per source UUID, sets of transaction numbers:
//     "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9,<uuid>:1-3". They compare
//     as sets.
//
// A Set is one or the other, told apart by the text (a MySQL set has ':').
// The empty string parses to an empty set that fits either flavor.
package gtid

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Pos is the last GTID of one MariaDB domain.
type Pos struct {
	Server uint32
	Seq    uint64
}

// Interval is an inclusive range of MySQL transaction numbers.
type Interval struct{ Start, End uint64 }

// Set is a GTID position (MariaDB) or set (MySQL). The zero value is empty.
type Set struct {
	mariadb map[uint32]Pos        // domain -> last GTID
	mysql   map[string][]Interval // uuid -> sorted, merged intervals
}

// Parse reads a MariaDB position or a MySQL GTID set; spaces and newlines
// (MySQL prints long sets over several lines) are ignored.
func Parse(s string) (Set, error) {
	s = strings.Join(strings.Fields(s), "")
	if s == "" {
		return Set{}, nil
	}
	if strings.Contains(s, ":") {
		return parseMySQL(s)
	}
	return parseMariaDB(s)
}

// MustParse is Parse for tests and constants; it panics on a bad set.
func MustParse(s string) Set {
	set, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return set
}

func parseMariaDB(s string) (Set, error) {
	out := Set{mariadb: map[uint32]Pos{}}
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		f := strings.Split(part, "-")
		if len(f) != 3 {
			return Set{}, fmt.Errorf("gtid %q: want domain-server-seq", part)
		}
		d, err1 := strconv.ParseUint(f[0], 10, 32)
		srv, err2 := strconv.ParseUint(f[1], 10, 32)
		seq, err3 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return Set{}, fmt.Errorf("gtid %q: want numbers domain-server-seq", part)
		}
		if old, dup := out.mariadb[uint32(d)]; dup && old.Seq >= seq {
			continue
		}
		out.mariadb[uint32(d)] = Pos{Server: uint32(srv), Seq: seq}
	}
	return out, nil
}

func parseMySQL(s string) (Set, error) {
	out := Set{mysql: map[string][]Interval{}}
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		f := strings.Split(part, ":")
		if len(f) < 2 {
			return Set{}, fmt.Errorf("gtid set %q: want uuid:interval[:interval...]", part)
		}
		uuid := strings.ToLower(f[0])
		if len(strings.ReplaceAll(uuid, "-", "")) != 32 {
			return Set{}, fmt.Errorf("gtid set %q: %q is not a UUID", part, f[0])
		}
		for _, iv := range f[1:] {
			a, b, found := strings.Cut(iv, "-")
			start, err := strconv.ParseUint(a, 10, 64)
			if err != nil || start == 0 {
				return Set{}, fmt.Errorf("gtid set %q: bad interval %q", part, iv)
			}
			end := start
			if found {
				if end, err = strconv.ParseUint(b, 10, 64); err != nil || end < start {
					return Set{}, fmt.Errorf("gtid set %q: bad interval %q", part, iv)
				}
			}
			out.mysql[uuid] = append(out.mysql[uuid], Interval{start, end})
		}
		out.mysql[uuid] = merge(out.mysql[uuid])
	}
	return out, nil
}

func merge(ivs []Interval) []Interval {
	if len(ivs) == 0 {
		return nil
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].Start < ivs[j].Start })
	out := []Interval{ivs[0]}
	for _, iv := range ivs[1:] {
		last := &out[len(out)-1]
		if iv.Start <= last.End+1 {
			if iv.End > last.End {
				last.End = iv.End
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// IsMySQL reports whether the set was read from MySQL syntax.
func (s Set) IsMySQL() bool { return s.mysql != nil }

// Empty reports whether the set holds no GTID.
func (s Set) Empty() bool { return len(s.mariadb) == 0 && len(s.mysql) == 0 }

// String prints the set in its flavor's syntax, domains / UUIDs sorted.
func (s Set) String() string {
	var parts []string
	if s.mysql != nil {
		uuids := make([]string, 0, len(s.mysql))
		for u := range s.mysql {
			uuids = append(uuids, u)
		}
		sort.Strings(uuids)
		for _, u := range uuids {
			p := u
			for _, iv := range s.mysql[u] {
				if iv.Start == iv.End {
					p += fmt.Sprintf(":%d", iv.Start)
				} else {
					p += fmt.Sprintf(":%d-%d", iv.Start, iv.End)
				}
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, ",")
	}
	for _, d := range s.domains() {
		p := s.mariadb[d]
		parts = append(parts, fmt.Sprintf("%d-%d-%d", d, p.Server, p.Seq))
	}
	return strings.Join(parts, ",")
}

func (s Set) domains() []uint32 {
	ds := make([]uint32, 0, len(s.mariadb))
	for d := range s.mariadb {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}

// Contains reports whether s holds every GTID of o (MariaDB: s is at or past
// o in every domain of o).
func (s Set) Contains(o Set) bool { return o.Subtract(s).Empty() }

// Subtract returns what s holds and o does not. MariaDB: per domain where s
// is ahead of o (or o lacks the domain), s's last GTID of that domain; a
// domain where both stand at the same sequence number with a different
// server id has diverged and counts as ahead too.
func (s Set) Subtract(o Set) Set {
	if s.mysql != nil || o.mysql != nil {
		out := Set{mysql: map[string][]Interval{}}
		for u, ivs := range s.mysql {
			rest := subtractIntervals(ivs, o.mysql[u])
			if len(rest) > 0 {
				out.mysql[u] = rest
			}
		}
		return out
	}
	out := Set{mariadb: map[uint32]Pos{}}
	for d, p := range s.mariadb {
		q, ok := o.mariadb[d]
		if !ok || p.Seq > q.Seq || (p.Seq == q.Seq && p.Server != q.Server) {
			out.mariadb[d] = p
		}
	}
	return out
}

func subtractIntervals(a, b []Interval) []Interval {
	var out []Interval
	for _, iv := range a {
		cur := []Interval{iv}
		for _, cut := range b {
			var next []Interval
			for _, c := range cur {
				if cut.End < c.Start || cut.Start > c.End {
					next = append(next, c)
					continue
				}
				if cut.Start > c.Start {
					next = append(next, Interval{c.Start, cut.Start - 1})
				}
				if cut.End < c.End {
					next = append(next, Interval{cut.End + 1, c.End})
				}
			}
			cur = next
		}
		out = append(out, cur...)
	}
	return out
}

// Union returns every GTID of s and o (MariaDB: the further position per domain).
func (s Set) Union(o Set) Set {
	if s.mysql != nil || o.mysql != nil {
		out := Set{mysql: map[string][]Interval{}}
		for _, x := range []Set{s, o} {
			for u, ivs := range x.mysql {
				out.mysql[u] = merge(append(append([]Interval{}, out.mysql[u]...), ivs...))
			}
		}
		return out
	}
	out := Set{mariadb: map[uint32]Pos{}}
	for _, x := range []Set{s, o} {
		for d, p := range x.mariadb {
			if q, ok := out.mariadb[d]; !ok || p.Seq > q.Seq {
				out.mariadb[d] = p
			}
		}
	}
	return out
}

// Count is a measure of progress for ranking hosts whose sets do not contain
// each other: MySQL the number of transactions, MariaDB the sum of the
// domains' sequence numbers.
func (s Set) Count() uint64 {
	var n uint64
	for _, ivs := range s.mysql {
		for _, iv := range ivs {
			n += iv.End - iv.Start + 1
		}
	}
	for _, p := range s.mariadb {
		n += p.Seq
	}
	return n
}

// Equal reports whether both sets hold the same GTIDs.
func (s Set) Equal(o Set) bool { return s.Contains(o) && o.Contains(s) }

// OnlyServer keeps the MariaDB domains whose last GTID was written by server
// id (a server's own transactions, as opposed to replicated ones). A MySQL
// set is returned as it is: its UUIDs are not server ids.
func (s Set) OnlyServer(id uint32) Set {
	if s.mariadb == nil {
		return s
	}
	out := Set{mariadb: map[uint32]Pos{}}
	for d, p := range s.mariadb {
		if p.Server == id {
			out.mariadb[d] = p
		}
	}
	return out
}
