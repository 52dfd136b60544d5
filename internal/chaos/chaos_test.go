package chaos

import (
	"io"
	"log"
	"os/exec"

	"fmt"
	"github.com/go-sql-driver/mysql"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/lab/labtest"
)

// The chaos suite has the lab subnet 198.18.6.0/24 to itself (198.18.5 is
// the CLI script tests', which `make test` runs at the same time).
const labSubnet = "198.18.6"

func TestMain(m *testing.M) {
	// The driver's own complaints (a connection reset by a killed server)
	// are the expected noise of a fault; the load logs every error itself.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	removeStaleBlackholes()
	// The watch nodes of the raft faults get their namespaces with the lab.
	labtest.Main(m, "../../examples/lab/mmm.hcl", labtest.Subnet(labSubnet), labtest.Modify(addWatchNodes))
}

// removeStaleBlackholes deletes the blackhole routes monitorcut adds in
// the root namespace for a lab host, left behind by a suite killed in the
// middle of that fault: the next lab's servers would be unreachable
// ("connect: invalid argument").
func removeStaleBlackholes() {
	out, err := exec.Command("ip", "route", "show", "type", "blackhole").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		// "blackhole 198.18.6.11"
		if len(f) >= 2 && f[0] == "blackhole" && strings.HasPrefix(f[1], labSubnet+".") {
			_ = exec.Command("ip", "route", "del", "blackhole", f[1]).Run()
		}
	}
}

// defaultFaults run when FAULTS is unset: what `make test` can afford.
var defaultFaults = []string{"kill9", "freeze", "hostcut"}

// selection reads FAULTS (a comma list of fault names, or "all") and RUNS
// (runs of each fault, default 1).
func selection() ([]*fault, int, error) {
	runs := 1
	if v := os.Getenv("RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, 0, fmt.Errorf("RUNS=%q: want a number of runs per fault, at least 1", v)
		}
		runs = n
	}
	names := defaultFaults
	if v := strings.TrimSpace(os.Getenv("FAULTS")); v == "all" {
		names = nil
		for _, f := range allFaults {
			names = append(names, f.name)
		}
	} else if v != "" {
		names = strings.Split(v, ",")
	}
	var out []*fault
	for _, n := range names {
		f := faultByName(strings.TrimSpace(n))
		if f == nil {
			var known []string
			for _, f := range allFaults {
				known = append(known, f.name)
			}
			return nil, 0, fmt.Errorf("FAULTS: no fault %q (known: %s, or all)", n, strings.Join(known, ", "))
		}
		out = append(out, f)
	}
	return out, runs, nil
}

// TestChaos runs the selected faults RUNS times each on the chaos lab and
// prints a table per fault; it fails when any safety count is not 0. The
// single watch's faults run first, then the raft faults on three watch
// nodes (raft_test.go).
func TestChaos(t *testing.T) {
	sel, runs, err := selection()
	if err != nil {
		t.Fatal(err)
	}
	var single, onNodes []*fault
	for _, f := range sel {
		if f.onNodes() {
			onNodes = append(onNodes, f)
		} else {
			single = append(single, f)
		}
	}
	sel = slices.Concat(single, onNodes)
	s := newSuite(t, len(single) == 0)
	t.Cleanup(s.undoFaults)
	results := map[string][]*result{}
	defer func() {
		table := renderTable(sel, results)
		fmt.Printf("\nchaos: %d fault(s) × %d run(s); logs in %s\n%s\n", len(sel), runs, s.dir, table)
		_ = os.WriteFile(filepath.Join(s.dir, "table.txt"), []byte(table), 0o644)
	}()
	t0 := time.Now()
	for _, group := range [][]*fault{single, onNodes} {
		if len(group) == 0 {
			continue
		}
		if group[0].onNodes() {
			s.useRaft()
		}
		for round := 1; round <= runs; round++ {
			// Faults interleaved, run after run: a slow drift of the machine
			// spreads over all of them.
			for _, f := range group {
				res := s.runOne(f, round)
				results[f.name] = append(results[f.name], res)
			}
		}
	}
	t.Logf("chaos: %d runs in %s", runs*len(sel), time.Since(t0).Round(time.Second))
	for _, f := range sel {
		var unsafe []string
		for _, res := range results[f.name] {
			if res.unsafe() {
				unsafe = append(unsafe, fmt.Sprintf("#%d (%s)", res.i, res.unsafeSummary()))
			}
		}
		if len(unsafe) > 0 {
			t.Errorf("%s: %d of %d runs unsafe: %s", f.name, len(unsafe), len(results[f.name]), strings.Join(unsafe, "; "))
		}
	}
}

// renderTable is the summary: one line per fault, the sums of the safety
// counts over its runs and the outage's min/median/max.
func renderTable(sel []*fault, results map[string][]*result) string {
	var b strings.Builder
	w := 19 // the fault column: the longest name selected, 19 at least
	for _, f := range sel {
		w = max(w, len(f.name))
	}
	fmt.Fprintf(&b, "%-*s %4s %5s %9s %9s %6s %8s %7s %8s %9s %7s %8s  %s\n", w,
		"fault", "runs", "lost", "sb-sample", "sb-writes", "errant", "diverged", "phantom", "false-fo", "failovers", "repairs", "max-gap", "outage min / median / max")
	for _, f := range sel {
		rs := results[f.name]
		if len(rs) == 0 {
			continue
		}
		var lost, sbs, sbw, errant, div, ph, ff, fo, rep, none int
		var outages []time.Duration
		var gap time.Duration
		for _, r := range rs {
			gap = max(gap, r.maxGap)
			lost += r.lost
			sbs += r.sbSamples
			sbw += r.sbWrites
			errant += r.errant
			div += r.diverged
			ph += r.phantom
			ff += r.falseFailover
			rep += r.repairs
			if r.finalWriter != r.old {
				fo++
			}
			if r.outage < 0 {
				none++
			} else {
				outages = append(outages, r.outage)
			}
		}
		out := "-"
		if len(outages) > 0 {
			sort.Slice(outages, func(i, j int) bool { return outages[i] < outages[j] })
			out = fmt.Sprintf("%.2fs / %.2fs / %.2fs", outages[0].Seconds(), median(outages).Seconds(), outages[len(outages)-1].Seconds())
		}
		if none > 0 {
			out += fmt.Sprintf(" (%d without a write)", none)
		}
		fmt.Fprintf(&b, "%-*s %4d %5d %9d %9d %6d %8d %7d %8d %9d %7d %7.2fs  %s\n", w, f.name, len(rs), lost, sbs, sbw, errant, div, ph, ff, fo, rep, gap.Seconds(), out)
	}
	return b.String()
}

func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
