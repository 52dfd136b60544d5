package watch

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mysql-mmm/mmm/internal/gtid"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// Errant returns the transactions a host wrote itself that came neither from
// replication nor from the writer as last seen (writerPos): on MariaDB what
// its binary log holds beyond its gtid_slave_pos, on MySQL what it executed
// beyond what it retrieved. Empty when there are none.
func Errant(lh *topology.LiveHost, writerPos gtid.Set) gtid.Set {
	if lh == nil {
		return gtid.Set{}
	}
	var own, replicated gtid.Set
	if lh.GTIDBinlogPos != "" || lh.GTIDSlavePos != "" {
		// MariaDB: only what the host wrote itself (its own server_id) can
		// be errant; another server's GTID in its binary log came by
		// replication, even when gtid_slave_pos, read a moment apart, does
		// not show it yet.
		own, _ = gtid.Parse(lh.GTIDBinlogPos)
		if lh.ServerID != 0 {
			own = own.OnlyServer(lh.ServerID)
		}
		replicated, _ = gtid.Parse(lh.GTIDSlavePos)
	} else {
		own = plan.Executed(lh)
		if lh.Replica != nil {
			replicated, _ = gtid.Parse(lh.Replica.RetrievedGTIDSet)
		}
	}
	return own.Subtract(replicated.Union(writerPos))
}

// relayApplied: everything the replica received is applied.
func relayApplied(lh *topology.LiveHost) bool {
	return plan.Executed(lh).Contains(plan.Received(lh))
}

// Candidate is a host weighed for promotion.
type Candidate struct {
	Host     string
	Eligible bool
	Why      string   // why it is (not) eligible
	Position gtid.Set // what it will hold once it applied what it received
}

// Choice is the result of ChooseCandidate.
type Choice struct {
	Host       string      // "" when no host can be promoted
	Candidates []Candidate // every host of the role but the old writer, in role order
}

// ChooseCandidate picks the host to promote when the writer (old) is gone:
// among the writer role's other hosts, the ones that are not ADMIN_OFFLINE
// and not HARD_OFFLINE, are reachable, whose SQL thread runs without error
// and with no errant transactions; of those, the most advanced by GTID (a
// position containing every other's), prefer breaking ties. Positions that
// do not contain each other are ranked by Count, prefer first on equal counts.
func ChooseCandidate(c *topology.Cluster, old string, states map[string]State, live *topology.Live, writerPos gtid.Set) Choice {
	role := c.WriterRole()
	var ch Choice
	if role == nil {
		return ch
	}
	prefer := role.Prefer
	var ok []Candidate
	for _, name := range role.Hosts {
		if name == old {
			continue
		}
		cand := Candidate{Host: name}
		lh := live.Hosts[name]
		switch st := states[name]; {
		case st == AdminOffline || st == HardOffline:
			cand.Why = "is " + string(st)
		case lh == nil || !lh.Reachable:
			cand.Why = "is not reachable"
		case lh.Replica == nil:
			cand.Why = "has no replication channel"
		case lh.Replica.LastSQLErrno != 0 || (lh.Replica.SQLRunning != "Yes" && !relayApplied(lh)):
			// A SQL thread stopped cleanly with its relay log applied (an
			// earlier failover attempt stopped it) is as good as a running one.
			cand.Why = fmt.Sprintf("SQL thread not sane (running: %s, error %d %s)", orNo(lh.Replica.SQLRunning), lh.Replica.LastSQLErrno, lh.Replica.LastSQLError)
		default:
			if e := Errant(lh, writerPos); !e.Empty() {
				cand.Why = "has errant transactions " + e.String()
				break
			}
			cand.Eligible = true
			cand.Position = plan.Received(lh)
			cand.Why = "eligible at " + cand.Position.String()
		}
		ch.Candidates = append(ch.Candidates, cand)
		if cand.Eligible {
			ok = append(ok, cand)
		}
	}
	if len(ok) == 0 {
		return ch
	}
	sort.SliceStable(ok, func(i, j int) bool {
		a, b := ok[i], ok[j]
		aa, bb := a.Position.Contains(b.Position), b.Position.Contains(a.Position)
		switch {
		case aa && !bb:
			return true
		case bb && !aa:
			return false
		case !aa && !bb && a.Position.Count() != b.Position.Count():
			return a.Position.Count() > b.Position.Count()
		}
		return a.Host == prefer && b.Host != prefer
	})
	ch.Host = ok[0].Host
	return ch
}

// Explain renders the candidates in one line for logs.
func (ch Choice) Explain() string {
	var parts []string
	for _, c := range ch.Candidates {
		parts = append(parts, c.Host+" "+c.Why)
	}
	if ch.Host == "" {
		return "no candidate: " + strings.Join(parts, "; ")
	}
	return "chose " + ch.Host + ": " + strings.Join(parts, "; ")
}
