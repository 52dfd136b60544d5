package plan

import (
	"strings"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// deadWriterLive: convergedLive after master1's server died: it cannot be
// reached and every replica's IO thread lost it.
func deadWriterLive(c *topology.Cluster) *topology.Live {
	live := withVIPs(convergedLive(c))
	live.Hosts["master1"] = &topology.LiveHost{Name: "master1", Error: "connect master1: connection refused"}
	for _, n := range []string{"master2", "slave1", "slave2"} {
		rs := live.Hosts[n].Replica
		rs.IORunning, rs.LastIOErrno = "Connecting", 2003
	}
	live.Hosts["master2"].GTIDExecuted = "0-1-40"
	live.Hosts["master2"].GTIDCurrentPos = "0-1-40"
	live.Hosts["master2"].Replica.RetrievedGTIDSet = "0-1-42"
	return live
}

func failoverIDs(p *Plan) string {
	var ids []string
	for _, s := range p.Steps {
		ids = append(ids, s.ID)
	}
	return strings.Join(ids, "\n")
}

func TestFailoverDeadWriter(t *testing.T) {
	c := labCluster()
	live := deadWriterLive(c)
	p := Failover(c, live, FailoverOptions{Dead: "master1", Candidate: "master2", Fenced: true, Now: testNow})
	want := strings.Join([]string{
		"master2:wait_catch_up:relay_log",
		"master2:set_variable:rpl_semi_sync_master_enabled",
		"master2:set_variable:read_only",
		"slave1:stop_replica:replica",
		"slave1:change_source:replica",
		"slave1:start_replica:replica",
		"slave2:stop_replica:replica",
		"slave2:change_source:replica",
		"slave2:start_replica:replica",
		"master2:assign_vip:198.18.0.100",
		"master2:stop_replica:replica",
	}, "\n")
	if got := failoverIDs(p); got != want {
		t.Fatalf("steps:\n%s\nwant:\n%s", got, want)
	}
	if p.HasErrors() || len(p.Problems) != 0 {
		t.Errorf("problems: %+v", p.Problems)
	}
	if p.Writer != "master2" {
		t.Errorf("writer %q", p.Writer)
	}
	wait := p.Step("master2:wait_catch_up:relay_log")
	if got := wait.Statements[0].Text; got != "SELECT MASTER_GTID_WAIT('0-1-42', 30)" {
		t.Errorf("wait statement %q", got)
	}
	ro := p.Step("master2:set_variable:read_only")
	if !contains(ro.DependsOn, "master2:wait_catch_up:relay_log") {
		t.Errorf("read_only OFF must wait for catch-up: %v", ro.DependsOn)
	}
	if stop := p.Step("master2:stop_replica:replica"); !contains(stop.DependsOn, "master2:set_variable:read_only") {
		t.Errorf("the stop of the old channel comes after the promotion: %v", stop.DependsOn)
	}
	cs := p.Step("slave1:change_source:replica")
	if !contains(cs.DependsOn, "master2:wait_catch_up:relay_log") || !strings.Contains(cs.Statements[0].Text, "MASTER_HOST='198.18.0.12'") ||
		!strings.Contains(cs.Statements[0].Text, "MASTER_USE_GTID=slave_pos") {
		t.Errorf("repoint: %+v", cs)
	}
	if strings.Contains(cs.Statements[0].Text, replSecret) || !strings.Contains(cs.Statements[0].Exec(), replSecret) {
		t.Error("the replication password must be redacted in text and present in exec")
	}
	vip := p.Step("master2:assign_vip:198.18.0.100")
	if !contains(vip.DependsOn, "master2:set_variable:read_only") {
		t.Errorf("the writer VIP must follow read_only OFF: %v", vip.DependsOn)
	}
	// Every dependency is an earlier step (the executor's rule).
	seen := map[string]bool{}
	for _, s := range p.Steps {
		for _, dep := range s.DependsOn {
			if !seen[dep] {
				t.Errorf("%s depends on %s, which is not earlier", s.ID, dep)
			}
		}
		seen[s.ID] = true
	}
}

func TestFailoverReachableOldWriterIsFenced(t *testing.T) {
	c := labCluster()
	live := withVIPs(convergedLive(c)) // master1 reachable and writable
	p := Failover(c, live, FailoverOptions{Dead: "master1", Candidate: "master2", Now: testNow})
	for _, id := range []string{"master1:set_variable:read_only", "master1:kill_clients:clients", "master1:release_vip:198.18.0.100"} {
		if p.Step(id) == nil {
			t.Errorf("missing %s in\n%s", id, failoverIDs(p))
		}
	}
	ro := p.Step("master2:set_variable:read_only")
	if ro == nil || !contains(ro.DependsOn, "master1:kill_clients:clients") || !contains(ro.DependsOn, "master1:set_variable:read_only") {
		t.Fatalf("promotion must follow the fence: %+v", ro)
	}
	wait := p.Step("master2:wait_catch_up:master1")
	if wait == nil || wait.Wait == nil || wait.Wait.Source != "master1" || !contains(wait.DependsOn, "master1:kill_clients:clients") {
		t.Errorf("a reachable old writer's position must be read after its fence: %+v", wait)
	}
	if p.Step("master2:set_variable:rpl_semi_sync_master_enabled") != nil {
		t.Error("a switchover keeps semi-sync: the old writer acknowledges")
	}
	rel := p.Step("master1:release_vip:198.18.0.100")
	if !contains(rel.DependsOn, "master1:set_variable:read_only") {
		t.Errorf("release must follow read_only: %v", rel.DependsOn)
	}
}

func TestFailoverSlaveAheadIsReported(t *testing.T) {
	c := labCluster()
	live := deadWriterLive(c)
	live.Hosts["slave2"].GTIDExecuted = "0-1-43" // received from master1 what master2 never got
	// Without a binary log of what it applied, the candidate cannot fetch
	// it from slave2 (TestFailoverCatchesUpFromAdvancedSlave): reported.
	live.Hosts["slave2"].LogSlaveUpdates = false
	p := Failover(c, live, FailoverOptions{Dead: "master1", Candidate: "master2", Fenced: true, Now: testNow})
	if p.Step("slave2:change_source:replica") != nil {
		t.Error("a slave ahead of the new writer was repointed")
	}
	if p.Step("slave1:change_source:replica") == nil {
		t.Error("slave1 not repointed")
	}
	found := false
	for _, pr := range p.Problems {
		if pr.Host == "slave2" && strings.Contains(pr.Summary, "0-1-43") {
			found = true
		}
	}
	if !found {
		t.Errorf("no problem naming slave2's GTIDs: %+v", p.Problems)
	}
}

func TestFailoverRefusesBadCandidate(t *testing.T) {
	c := labCluster()
	live := deadWriterLive(c)
	for _, cand := range []string{"master1", "nobody", ""} {
		p := Failover(c, live, FailoverOptions{Dead: "master1", Candidate: cand, Now: testNow})
		if !p.HasErrors() || len(p.Steps) != 0 {
			t.Errorf("candidate %q: want an error and no steps, got %d steps %+v", cand, len(p.Steps), p.Problems)
		}
	}
}

func TestPlaceVIPs(t *testing.T) {
	c := labCluster()
	live := withVIPs(convergedLive(c))
	p := PlaceVIPs(c, live, map[string]string{"198.18.0.100": "master2", "198.18.0.101": "slave2", "198.18.0.102": "slave2"}, []string{"reader"}, testNow, "slave1 is REPLICATION_FAIL")
	want := "slave1:release_vip:198.18.0.101\nslave2:assign_vip:198.18.0.101"
	if got := failoverIDs(p); got != want {
		t.Fatalf("steps:\n%s\nwant:\n%s", got, want)
	}
	if dep := p.Steps[1].DependsOn; len(dep) != 1 || dep[0] != "slave1:release_vip:198.18.0.101" {
		t.Errorf("assign must follow release: %v", dep)
	}
}

func TestFence(t *testing.T) {
	c := labCluster()
	live := convergedLive(c)
	live.Hosts["master2"].ReadOnly = false
	p := Fence(c, live, "master2", testNow, "master2 came back writable")
	if got := failoverIDs(p); got != "master2:set_variable:read_only\nmaster2:kill_clients:clients" {
		t.Fatalf("steps:\n%s", got)
	}
	if p := Fence(c, live, "slave1", testNow, ""); len(p.Steps) != 0 {
		t.Errorf("a read-only host needs no fence: %s", failoverIDs(p))
	}
}

// A slave that received from the dead writer what the candidate never got
// hands it over before the promotion: the candidate replicates from it until
// it applied it, then becomes the writer, and the slave is repointed, not
// left ahead.
func TestFailoverCatchesUpFromAdvancedSlave(t *testing.T) {
	c := labCluster()
	live := deadWriterLive(c)
	for _, n := range []string{"slave1", "slave2"} {
		live.Hosts[n].LogBin, live.Hosts[n].LogSlaveUpdates = true, true
	}
	live.Hosts["slave2"].GTIDExecuted = "0-1-43"
	live.Hosts["slave2"].GTIDCurrentPos = "0-1-43"
	p := Failover(c, live, FailoverOptions{Dead: "master1", Candidate: "master2", Fenced: true, Now: testNow})
	want := strings.Join([]string{
		"master2:wait_catch_up:relay_log",
		"master2:stop_replica:catch-up",
		"master2:change_source:catch-up",
		"master2:start_replica:catch-up",
		"master2:wait_catch_up:slave2",
		"master2:stop_replica:caught-up",
		"master2:set_variable:rpl_semi_sync_master_enabled",
		"master2:set_variable:read_only",
	}, "\n")
	if got := failoverIDs(p); !strings.HasPrefix(got, want) {
		t.Fatalf("steps:\n%s\nwant first:\n%s", got, want)
	}
	if w := p.Step("master2:wait_catch_up:slave2"); w == nil || !strings.Contains(w.Statements[0].Text, "'0-1-43'") {
		t.Errorf("catch-up wait: %+v", w)
	}
	if p.Step("slave2:change_source:replica") == nil || p.Step("master2:stop_replica:replica") != nil {
		t.Errorf("slave2 must be repointed and no second stop planned:\n%s", failoverIDs(p))
	}
	for _, pr := range p.Problems {
		if strings.Contains(pr.Summary, "ahead") {
			t.Errorf("problem: %s", pr.Summary)
		}
	}
	ro := p.Step("master2:set_variable:read_only")
	if !ro.MakesWritable {
		t.Errorf("the promotion step does not say it makes master2 writable (the writer guards read it)")
	}
	if !strings.Contains(strings.Join(ro.DependsOn, ","), "master2:stop_replica:caught-up") {
		t.Errorf("read_only OFF depends on %v", ro.DependsOn)
	}
}

func TestFailoverTarget(t *testing.T) {
	c := labCluster()
	live := deadWriterLive(c)
	if got := FailoverTarget(c, live, "master1", "master2").String(); got != "0-1-42" {
		t.Errorf("target without a slave ahead: %s", got)
	}
	for _, n := range []string{"slave1", "slave2"} {
		live.Hosts[n].LogBin, live.Hosts[n].LogSlaveUpdates = true, true
	}
	live.Hosts["slave2"].GTIDExecuted = "0-1-43"
	if got := FailoverTarget(c, live, "master1", "master2").String(); got != "0-1-43" {
		t.Errorf("target with slave2 ahead: %s", got)
	}
}
