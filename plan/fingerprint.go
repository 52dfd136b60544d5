package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Fingerprint records the parts of the live state a plan depends on, so that
// `mmm apply FILE` can refuse a plan made against a cluster that has moved since,
// and say what moved. Diff fills it (MakeFingerprint); Stale compares.
type Fingerprint struct {
	// Writer is LiveWriters: the writable masters, "+"-joined ("" none).
	Writer string                     `json:"writer"`
	Hosts  map[string]HostFingerprint `json:"hosts"`
}

// HostFingerprint is one host's part of a Fingerprint.
type HostFingerprint struct {
	Reachable bool   `json:"reachable"`
	ReadOnly  bool   `json:"read_only"`
	Source    string `json:"source,omitempty"` // host name (or address:port) it replicates from
	GTID      string `json:"gtid,omitempty"`   // MariaDB gtid_current_pos, MySQL gtid_executed
	// Pinned: the plan copied this host's GTID position into a step (the
	// initial position of fresh replicas), so any movement makes it stale.
	Pinned bool `json:"pinned,omitempty"`
}

// MakeFingerprint takes the fingerprint of live. Apply calls it on a fresh
// inspection and compares with Stale.
func MakeFingerprint(c *topology.Cluster, live *topology.Live) Fingerprint {
	f := Fingerprint{Writer: LiveWriters(c, live), Hosts: map[string]HostFingerprint{}}
	for _, h := range c.Hosts {
		lh := live.Hosts[h.Name]
		if lh == nil || !lh.Reachable {
			f.Hosts[h.Name] = HostFingerprint{}
			continue
		}
		gtid := lh.GTIDCurrentPos
		if gtid == "" {
			gtid = lh.GTIDExecuted
		}
		if gtid == "" {
			gtid = lh.GTIDBinlogPos
		}
		f.Hosts[h.Name] = HostFingerprint{
			Reachable: true,
			ReadOnly:  lh.ReadOnly,
			Source:    sourceName(c, lh.Replica),
			GTID:      gtid,
		}
	}
	return f
}

// Stale compares the fingerprint a plan was made from with the current one
// and says, in words, what moved; nil means the plan still applies.
//
// Stale: a different writer; a host's reachability, read_only or source; a
// GTID position that went backwards, lost a domain, gained a domain, or whose
// last transaction in a domain comes from another server (someone else
// wrote: a failover, a stray write on a replica). Not stale: the same
// server's sequence numbers moving on, because a live cluster always moves;
// except on a pinned host, whose position the plan copied.
func Stale(saved, current Fingerprint) []string {
	var out []string
	if saved.Writer != current.Writer {
		out = append(out, fmt.Sprintf("writer changed: %s -> %s", orNone(saved.Writer), orNone(current.Writer)))
	}
	names := make([]string, 0, len(saved.Hosts))
	for n := range saved.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := saved.Hosts[n]
		c, ok := current.Hosts[n]
		if !ok {
			out = append(out, fmt.Sprintf("%s is no longer in the configuration", n))
			continue
		}
		if s.Reachable != c.Reachable {
			if c.Reachable {
				out = append(out, fmt.Sprintf("%s became reachable", n))
			} else {
				out = append(out, fmt.Sprintf("%s became unreachable", n))
			}
			continue
		}
		if !c.Reachable {
			continue
		}
		if s.ReadOnly != c.ReadOnly {
			out = append(out, fmt.Sprintf("%s read_only changed: %t -> %t", n, s.ReadOnly, c.ReadOnly))
		}
		if s.Source != c.Source {
			out = append(out, fmt.Sprintf("%s source changed: %s -> %s", n, orNone(s.Source), orNone(c.Source)))
		}
		if s.GTID == c.GTID {
			continue
		}
		if s.Pinned {
			out = append(out, fmt.Sprintf("%s GTID moved since the plan, which copied it: %s -> %s", n, orNone(s.GTID), orNone(c.GTID)))
			continue
		}
		if why := gtidJump(s.GTID, c.GTID); why != "" {
			out = append(out, fmt.Sprintf("%s GTID moved past the plan: %s -> %s (%s)", n, orNone(s.GTID), orNone(c.GTID), why))
		}
	}
	var added []string
	for n := range current.Hosts {
		if _, ok := saved.Hosts[n]; !ok {
			added = append(added, n)
		}
	}
	sort.Strings(added)
	for _, n := range added {
		out = append(out, fmt.Sprintf("%s was added to the configuration", n))
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// gtidJump explains why the move from a to b is more than progress, or "".
// MariaDB positions are "domain-server-seq" lists, MySQL sets are
// "uuid:1-5:7,uuid2:1-3"; anything else compares as text.
func gtidJump(a, b string) string {
	if pa, ok := parseMariaDBPos(a); ok {
		if pb, ok := parseMariaDBPos(b); ok {
			return mariaDBJump(pa, pb)
		}
	}
	if sa, ok := parseMySQLSet(a); ok {
		if sb, ok := parseMySQLSet(b); ok {
			return mySQLJump(sa, sb)
		}
	}
	return "a different position"
}

type mariaGTID struct {
	server uint64
	seq    uint64
}

// parseMariaDBPos reads "0-1-5,1-2-9" into domain -> (server, seq).
func parseMariaDBPos(s string) (map[uint64]mariaGTID, bool) {
	out := map[uint64]mariaGTID{}
	if strings.TrimSpace(s) == "" {
		return out, true
	}
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), "-")
		if len(f) != 3 {
			return nil, false
		}
		var n [3]uint64
		for i := range f {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return nil, false
			}
			n[i] = v
		}
		out[n[0]] = mariaGTID{server: n[1], seq: n[2]}
	}
	return out, true
}

func mariaDBJump(a, b map[uint64]mariaGTID) string {
	for _, dom := range sortedKeys(a) {
		ga := a[dom]
		gb, ok := b[dom]
		switch {
		case !ok:
			return fmt.Sprintf("domain %d disappeared", dom)
		case gb.seq < ga.seq:
			return fmt.Sprintf("domain %d went backwards", dom)
		case gb.server != ga.server:
			return fmt.Sprintf("server %d wrote in domain %d", gb.server, dom)
		}
	}
	for _, dom := range sortedKeys(b) {
		if _, ok := a[dom]; !ok {
			return fmt.Sprintf("a new domain %d was written", dom)
		}
	}
	return ""
}

func sortedKeys(m map[uint64]mariaGTID) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// parseMySQLSet reads "uuid:1-5:7,uuid2:1-3" into uuid -> intervals.
func parseMySQLSet(s string) (map[string][][2]uint64, bool) {
	out := map[string][][2]uint64{}
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", "")
	if s == "" {
		return out, true
	}
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), ":")
		if len(f) < 2 || len(f[0]) != 36 {
			return nil, false
		}
		uuid := strings.ToLower(f[0])
		for _, iv := range f[1:] {
			lo, hi, found := strings.Cut(iv, "-")
			if !found {
				hi = lo
			}
			l, err1 := strconv.ParseUint(lo, 10, 64)
			h, err2 := strconv.ParseUint(hi, 10, 64)
			if err1 != nil || err2 != nil {
				return nil, false
			}
			out[uuid] = append(out[uuid], [2]uint64{l, h})
		}
	}
	return out, true
}

// mySQLJump: progress is every old interval still covered by the new set;
// a new server UUID or a lost transaction is a jump.
func mySQLJump(a, b map[string][][2]uint64) string {
	uuids := make([]string, 0, len(a))
	for u := range a {
		uuids = append(uuids, u)
	}
	sort.Strings(uuids)
	for _, u := range uuids {
		for _, iv := range a[u] {
			if !covered(iv, b[u]) {
				return fmt.Sprintf("transactions of %s disappeared", u)
			}
		}
	}
	var added []string
	for u := range b {
		if _, ok := a[u]; !ok {
			added = append(added, u)
		}
	}
	sort.Strings(added)
	if len(added) > 0 {
		return fmt.Sprintf("server %s wrote", added[0])
	}
	return ""
}

func covered(iv [2]uint64, set [][2]uint64) bool {
	for _, s := range set {
		if s[0] <= iv[0] && iv[1] <= s[1] {
			return true
		}
	}
	return false
}
