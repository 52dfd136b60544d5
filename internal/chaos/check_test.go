package chaos

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// result is what one run counted. Every count but the outage must be 0.
type result struct {
	fault       string
	i           int
	old         string
	finalWriter string
	changed     bool // the writer changed during the run
	acked       int
	attempts    int

	lost, sbSamples, sbWrites, errant, diverged, phantom, falseFailover int

	outage   time.Duration // fault -> first acknowledged write; <0: none
	maxGap   time.Duration // longest time without an acknowledged write from the fault on
	apiStall time.Duration // longest time the watch's control API did not answer
	repairs  int
	details  string
	rebuild  []string // hosts to rebuild from the writer before the next run
	notes    []string
	hookRuns int

	// The raft faults: the watch nodes that logged "failover done", and
	// the writer's moves in the watch's view (see nodeReport).
	failoverBy  []string
	writerMoves []string
}

func (res *result) unsafe() bool {
	return res.lost+res.sbSamples+res.sbWrites+res.errant+res.diverged+res.phantom+res.falseFailover > 0
}

func (res *result) unsafeSummary() string {
	var parts []string
	for _, c := range []struct {
		name string
		n    int
	}{{"lost", res.lost}, {"split-brain samples", res.sbSamples}, {"split-brain writes", res.sbWrites}, {"errant", res.errant},
		{"diverged", res.diverged}, {"phantom", res.phantom}, {"false failover", res.falseFailover}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.name, c.n))
		}
	}
	return strings.Join(parts, ", ")
}

func (res *result) line() string {
	move := res.old + " stays writer"
	if res.finalWriter != res.old {
		move = res.old + " -> " + res.finalWriter
	} else if res.changed {
		move = res.old + " -> … -> " + res.finalWriter
	}
	out := "none"
	if res.outage >= 0 {
		out = fmt.Sprintf("%.3fs", res.outage.Seconds())
	}
	verdict := "ok"
	if res.unsafe() {
		verdict = "UNSAFE: " + res.unsafeSummary()
	}
	s := fmt.Sprintf("%-19s #%d %s: outage %s, longest gap %.3fs, %d acked of %d tries; lost %d, split-brain samples %d, writes %d, errant %d, diverged %d, phantom %d, false failover %d",
		res.fault, res.i, move, out, res.maxGap.Seconds(), res.acked, res.attempts, res.lost, res.sbSamples, res.sbWrites, res.errant,
		res.diverged, res.phantom, res.falseFailover)
	if res.apiStall > 0 {
		s += fmt.Sprintf(", watch API unanswered for %.1fs", res.apiStall.Seconds())
	}
	if res.repairs > 0 {
		s += fmt.Sprintf(", %d repairs", res.repairs)
	}
	if len(res.failoverBy) > 0 || len(res.writerMoves) > 0 {
		s += fmt.Sprintf(", failovers done by watch nodes %v, writer moves %v", res.failoverBy, res.writerMoves)
	}
	return s + " — " + verdict
}

// check counts what went wrong in the run (see docs/chaos.md for each count).
func (r *run) check() *result {
	s := r.s
	res := &result{fault: r.f.name, i: r.i, old: r.old}
	var det strings.Builder
	detail := func(format string, args ...any) { fmt.Fprintf(&det, format+"\n", args...) }
	attempts := r.ld.snapshot()
	samples, gtids, polls := r.obs.snapshot()
	res.attempts = len(attempts)

	// The final writer: the watch's, if it is writable; else the one
	// writable master; else whatever the watch says.
	var st *status
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	st, _ = s.api.status(ctx)
	cancel()
	writable := s.writableMasters(time.Second)
	switch {
	case st != nil && st.Writer != "" && slices.Contains(writable, st.Writer):
		res.finalWriter = st.Writer
	case len(writable) == 1:
		res.finalWriter = writable[0]
	case st != nil && st.Writer != "":
		res.finalWriter = st.Writer
	default:
		res.finalWriter = r.old
	}
	if len(writable) != 1 || (st != nil && st.Writer != res.finalWriter) {
		detail("at the end: writable masters %v, the watch's writer %q", writable, func() string {
			if st == nil {
				return "(no status)"
			}
			return st.Writer
		}())
	}
	final := res.finalWriter
	finalSID := s.sid[final]

	// Did the writer change? The watch's view, the acknowledged writes, the end.
	res.changed = final != r.old
	for _, p := range polls {
		if p.Writer != "" && p.Writer != r.old {
			res.changed = true
		}
	}
	for _, a := range attempts {
		if a.Outcome == acked && a.SID != r.oldSID {
			res.changed = true
		}
	}

	// The control API's longest silence (a round that holds the API up).
	var silentSince time.Time
	for _, p := range polls {
		switch {
		case p.Err != "" && silentSince.IsZero():
			silentSince = p.At
		case p.Err == "" && !silentSince.IsZero():
			res.apiStall = max(res.apiStall, p.At.Sub(silentSince))
			silentSince = time.Time{}
		}
	}
	if !silentSince.IsZero() && len(polls) > 0 {
		res.apiStall = max(res.apiStall, polls[len(polls)-1].At.Sub(silentSince))
	}

	// Acknowledged rows.
	ackedN := map[int]attempt{}
	byN := map[int]attempt{}
	for _, a := range attempts {
		if a.N == 0 {
			continue
		}
		byN[a.N] = a
		if a.Outcome == acked {
			ackedN[a.N] = a
		}
	}
	res.acked = len(ackedN)

	// lost: acknowledged rows missing on the final writer.
	rows, err := s.rowsOn(final, r.base)
	if err != nil {
		detail("cannot read shop.chaos on the final writer %s: %v", final, err)
	}
	if err == nil {
		var lost []int
		for n := range ackedN {
			if !rows[n] {
				lost = append(lost, n)
			}
		}
		sort.Ints(lost)
		res.lost = len(lost)
		for _, n := range first(lost, 20) {
			a := ackedN[n]
			detail("LOST n=%d acknowledged by %s (client %s) at %s", n, s.hostOf[a.SID], a.Client, r.rel(a.End))
		}
	}

	// split-brain samples.
	var firstSplit []string
	for _, sm := range samples {
		if sm.split() {
			res.sbSamples++
			if len(firstSplit) < 10 {
				firstSplit = append(firstSplit, r.rel(sm.At)+" "+sm.String())
			}
		}
	}
	for _, x := range firstSplit {
		detail("SPLIT-BRAIN sample %s", x)
	}

	// split-brain writes: acknowledged by another server after the final
	// writer's first acknowledged write after the fault.
	var tFirst time.Time
	for _, a := range attempts {
		if a.Outcome == acked && a.SID == finalSID && !a.Start.Before(r.tFault) && (tFirst.IsZero() || a.End.Before(tFirst)) {
			tFirst = a.End
		}
	}
	if !tFirst.IsZero() {
		for _, a := range attempts {
			if a.Outcome == acked && a.SID != finalSID && a.End.After(tFirst) {
				res.sbWrites++
				if res.sbWrites <= 20 {
					detail("SPLIT-BRAIN write n=%d acknowledged by %s at %s, after %s's first at %s", a.N, s.hostOf[a.SID], r.rel(a.End), final, r.rel(tFirst))
				}
			}
		}
	}

	// outage and the longest gap.
	res.outage = -1
	want := uint32(0)
	if final != r.old {
		want = finalSID
	}
	var ackTimes []time.Time
	for _, a := range attempts {
		if a.Outcome != acked {
			continue
		}
		ackTimes = append(ackTimes, a.End)
		if !a.Start.Before(r.tFault) && (want == 0 || a.SID == want) {
			if d := a.End.Sub(r.tFault); res.outage < 0 || d < res.outage {
				res.outage = d
			}
		}
	}
	sort.Slice(ackTimes, func(i, j int) bool { return ackTimes[i].Before(ackTimes[j]) })
	prev := r.tFault
	for _, at := range ackTimes {
		if at.Before(r.tFault) {
			continue
		}
		res.maxGap = max(res.maxGap, at.Sub(prev))
		prev = at
	}
	res.maxGap = max(res.maxGap, r.tEnd.Sub(prev))

	// phantom: rows on the final writer nobody saw acknowledged, sent after
	// the fault, in a run where the writer changed.
	if rows != nil {
		var ph []int
		for n := range rows {
			if _, ok := ackedN[n]; ok {
				continue
			}
			a, tried := byN[n]
			if !tried || (res.changed && !a.Start.Before(r.tInjected)) {
				ph = append(ph, n)
			}
		}
		sort.Ints(ph)
		res.phantom = len(ph)
		for _, n := range first(ph, 20) {
			a := byN[n]
			detail("PHANTOM n=%d on %s: client %s sent it to %s at %s, outcome %s (%s)", n, final, a.Client, s.hostOf[a.SID], r.rel(a.Start), a.Outcome, a.Err)
		}
	}

	// errant GTIDs of the old writer spreading after the failover, during
	// the run (every 500 ms).
	errantHosts := map[string]bool{}
	r.mu.Lock()
	base, baseHost, baseAt := r.errantBase, r.errantBaseHost, r.errantBaseAt
	r.mu.Unlock()
	if base != nil {
		for _, p := range gtids {
			if p.At.Before(baseAt) {
				continue
			}
			for h, hs := range p.State {
				if h == r.old || errantHosts[h] {
					continue
				}
				if b := hs.beyond(base, r.oldSID); len(b) > 0 {
					errantHosts[h] = true
					detail("ERRANT at %s: %s holds %v of the old writer %s, beyond what the new writer %s had when it took its first write (%s)",
						r.rel(p.At), h, b, r.old, baseHost, base)
				}
			}
		}
	}

	// At the end: every host against the final writer, then the checksums of
	// the hosts that caught up.
	wState, err := s.gtidState(final)
	if err != nil {
		detail("cannot read the GTID state of %s: %v", final, err)
	}
	var wSum string
	if err == nil {
		wSum, err = s.checksum(final)
		if err != nil {
			detail("CHECKSUM TABLE on %s: %v", final, err)
		}
	}
	for _, h := range s.hosts {
		if h == final || wState == nil || wSum == "" {
			continue
		}
		hState, err := s.gtidState(h)
		if err != nil {
			detail("%s: no GTID state: %v", h, err)
			res.rebuild = append(res.rebuild, h)
			continue
		}
		if b := hState.beyond(wState, 0); len(b) > 0 {
			online := st != nil && st.state(h) == "ONLINE"
			if h != r.old || online {
				errantHosts[h] = true
				detail("ERRANT at the end: %s (%s in the watch's view) holds %v that the writer %s lacks", h, st.state(h), b, final)
			} else {
				detail("note: the old writer %s holds %v that %s lacks (its unacknowledged commits); the watch keeps it %s", h, b, final, st.state(h))
			}
			res.rebuild = append(res.rebuild, h)
			continue
		}
		caught := false
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if hs, err := s.gtidState(h); err == nil && hs.covers(wState) {
				caught = true
				break
			}
			if time.Now().After(deadline) {
				break
			}
		}
		if !caught {
			detail("note: %s did not catch up with %s's %s within 30s", h, final, wState)
			continue
		}
		sum, err := s.checksum(h)
		if err != nil {
			detail("CHECKSUM TABLE on %s: %v", h, err)
			continue
		}
		if sum != wSum {
			res.diverged++
			res.rebuild = append(res.rebuild, h)
			detail("DIVERGED: %s has checksum %s, the writer %s %s, at the same GTID position", h, sum, final, wSum)
		}
	}
	res.errant = len(errantHosts)
	for h := range errantHosts {
		if !slices.Contains(res.rebuild, h) && h != final {
			res.rebuild = append(res.rebuild, h)
		}
	}

	// false failover.
	res.hookRuns = r.hookRunsSince(r.tFault)
	switch r.f.failover {
	case forbidden:
		if res.changed {
			res.falseFailover = 1
			detail("FALSE FAILOVER: the writer changed (%s -> %s) in a fault that must not fail over", r.old, final)
		}
	case onlyFenced:
		if res.changed && res.hookRuns == 0 {
			res.falseFailover = 1
			detail("FALSE FAILOVER: the writer changed (%s -> %s) with its agent dead and no fence_hook run (hook configured: %v)", r.old, final, s.hook != "")
		}
	}
	res.details = det.String()
	return res
}

func first(xs []int, n int) []int {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}

// rowsOn reads the n values of one run's range on host.
func (s *suite) rowsOn(host string, base int) (map[int]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := s.root(host).QueryContext(ctx, "SELECT n FROM shop.chaos WHERE n > ? AND n <= ?", base, base+1_000_000)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

func (s *suite) gtidState(host string) (gtidState, error) {
	v, err := s.q(host, 2*time.Second, "SELECT @@global.gtid_binlog_state")
	if err != nil {
		return nil, err
	}
	return parseGTIDState(v)
}

func (s *suite) checksum(host string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var table string
	var sum *int64
	if err := s.root(host).QueryRowContext(ctx, "CHECKSUM TABLE shop.chaos").Scan(&table, &sum); err != nil {
		return "", err
	}
	if sum == nil {
		return "NULL", nil
	}
	return strconv.FormatInt(*sum, 10), nil
}

// hookRunsSince counts the fence hook's calls logged after t.
func (r *run) hookRunsSince(t time.Time) int {
	b, err := os.ReadFile(r.s.hookLog)
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[1] != "fenced" {
			continue
		}
		sec, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		if time.Unix(0, int64(sec*1e9)).After(t) {
			n++
		}
	}
	return n
}
