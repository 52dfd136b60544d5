package watch

import (
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// simCluster is testCluster with agents, semi-sync and a replication user,
// and a healthy live state: master1 writes at 0-1-100, master2 and the
// slaves replicate from it, VIPs placed.
func simCluster() (*topology.Cluster, *topology.Live) {
	c := testCluster()
	c.Agent.Enabled = true
	c.Monitor.Lease = time.Second
	c.Replication = topology.Replication{User: "repl", SemiSync: true}
	c.Users = []*topology.User{{Name: "repl", Host: "10.0.0.%"}}
	on := true
	live := &topology.Live{Hosts: map[string]*topology.LiveHost{}, Agents: map[string]*topology.LiveAgent{},
		VIPs: map[string][]string{"10.0.0.100": {"master1"}, "10.0.0.101": {"slave1"}, "10.0.0.102": {"slave2"}}}
	for _, h := range c.Hosts {
		lh := &topology.LiveHost{Name: h.Name, Address: h.Address, Port: 3306, Reachable: true, ReadOnly: true, LogBin: true, LogSlaveUpdates: true,
			GTIDBinlogPos: "0-1-100", GTIDSlavePos: "0-1-100", GTIDCurrentPos: "0-1-100", GTIDExecuted: "0-1-100", ServerID: 2}
		if h.Name == "master1" {
			lh.ReadOnly, lh.ServerID, lh.GTIDSlavePos = false, 1, ""
			lh.SemiSyncMasterEnabled, lh.SemiSyncSourceActive = true, &on
		} else {
			zero := int64(0)
			lh.Replica = &topology.ReplicaStatus{SourceHost: "10.0.0.11", SourcePort: 3306, UsingGTID: "Slave_Pos", IORunning: "Yes", SQLRunning: "Yes", SecondsBehind: &zero}
		}
		if h.Name == "master2" {
			lh.SemiSyncMasterEnabled = true
		}
		live.Hosts[h.Name] = lh
		la := &topology.LiveAgent{Reachable: true, Mode: "lease"}
		for ip, holders := range live.VIPs {
			if holders[0] == h.Name {
				la.IPs = append(la.IPs, ip)
			}
		}
		live.Agents[h.Name] = la
	}
	return c, live
}

func TestSimulate(t *testing.T) {
	tests := []struct {
		name   string
		faults map[string]SimFault
		change func(c *topology.Cluster, live *topology.Live)
		states map[string]State
		mode   Mode

		failover  bool
		verdict   Verdict
		kind      FaultKind
		candidate string
		why       string // in NoFailover, or in the verdict's Why
		fence     string
		steps     []string // step IDs that must be in the plan
		vips      []string // "ip from->to"
		lost      string
	}{
		{name: "writer crash: its agent confirms, master2 promoted, the VIP leaves master1 just before master2 takes it",
			faults: map[string]SimFault{"master1": SimCrash}, failover: true, verdict: WriterDead, kind: FaultCrash, candidate: "master2",
			fence: "its VIPs stay until the new writer is writable",
			steps: []string{"master2:set_variable:read_only", "slave1:change_source:replica", "master1:release_vip:10.0.0.100", "master2:assign_vip:10.0.0.100"},
			vips:  []string{"10.0.0.100 master1->master2"}},
		{name: "writer frozen: its agent confirms and fences (SIGKILL)", faults: map[string]SimFault{"master1": SimFrozen},
			failover: true, verdict: WriterDead, kind: FaultFrozen, candidate: "master2", fence: "then SIGKILL",
			steps: []string{"master2:stop_replica:replica", "master2:assign_vip:10.0.0.100"}},
		{name: "writer frozen with its agent dead: a lost host after host_lost_after", faults: map[string]SimFault{"master1": SimFrozen},
			change: func(c *topology.Cluster, live *topology.Live) {
				live.Agents["master1"] = &topology.LiveAgent{Error: "connection refused"}
				c.Monitor.FenceHook = []string{"/bin/true"}
			},
			failover: true, verdict: WriterDead, kind: FaultHostLost, candidate: "master2", fence: "fence_hook"},
		{name: "writer host lost: its lease runs out", faults: map[string]SimFault{"master1": SimHostLost},
			failover: true, verdict: WriterDead, kind: FaultHostLost, candidate: "master2", fence: "its lease runs out"},
		{name: "monitor cut off from the writer: the witnesses see it, no failover", faults: map[string]SimFault{"master1": SimCut},
			verdict: WriterUnreachable, why: "the monitor is cut off"},
		{name: "writer and candidate both fail: impossible", faults: map[string]SimFault{"master1": SimCrash, "master2": SimCrash},
			verdict: WriterDead, kind: FaultCrash, why: "impossible: no candidate: master2 is not reachable"},
		{name: "candidate ADMIN_OFFLINE: impossible", faults: map[string]SimFault{"master1": SimCrash},
			states:  map[string]State{"master1": Online, "master2": AdminOffline, "slave1": Online, "slave2": Online},
			verdict: WriterDead, why: "master2 is ADMIN_OFFLINE"},
		{name: "host lost with its agent already dead and no fence_hook: held", faults: map[string]SimFault{"master1": SimHostLost},
			change: func(c *topology.Cluster, live *topology.Live) {
				live.Agents["master1"] = &topology.LiveAgent{Error: "connection refused"}
			},
			verdict: WriterDead, kind: FaultHostLost, candidate: "master2", why: "monitor.fence_hook is not set"},
		{name: "... with a fence_hook: it powers the host off", faults: map[string]SimFault{"master1": SimHostLost},
			change: func(c *topology.Cluster, live *topology.Live) {
				live.Agents["master1"] = &topology.LiveAgent{Error: "connection refused"}
				c.Monitor.FenceHook = []string{"/bin/true"}
			},
			failover: true, verdict: WriterDead, kind: FaultHostLost, candidate: "master2", fence: "fence_hook powers it off"},
		{name: "asynchronous writer, candidate behind and no slave holds it all: refused",
			faults: map[string]SimFault{"master1": SimCrash},
			change: func(c *topology.Cluster, live *topology.Live) {
				off := false
				live.Hosts["master1"].SemiSyncSourceActive = &off
				live.Hosts["master1"].GTIDBinlogPos, live.Hosts["master1"].GTIDCurrentPos, live.Hosts["master1"].GTIDExecuted = "0-1-120", "0-1-120", "0-1-120"
			},
			verdict: WriterDead, kind: FaultCrash, candidate: "master2", why: "ran without semi-sync acknowledgements", lost: "0-1-120"},
		{name: "candidate behind a slave: catches up from it, nothing lost",
			faults: map[string]SimFault{"master1": SimCrash},
			change: func(c *topology.Cluster, live *topology.Live) {
				s1 := live.Hosts["slave1"]
				s1.GTIDBinlogPos, s1.GTIDCurrentPos, s1.GTIDExecuted, s1.GTIDSlavePos = "0-1-101", "0-1-101", "0-1-101", "0-1-101"
				m1 := live.Hosts["master1"]
				m1.GTIDBinlogPos, m1.GTIDCurrentPos, m1.GTIDExecuted = "0-1-101", "0-1-101", "0-1-101"
			},
			failover: true, verdict: WriterDead, kind: FaultCrash, candidate: "master2",
			steps: []string{"master2:change_source:catch-up", "master2:wait_catch_up:slave1"}},
		{name: "a slave crashes: no failover, its reader VIP moves", faults: map[string]SimFault{"slave1": SimCrash},
			verdict: WriterAlive, vips: []string{"10.0.0.101 slave1->slave2"}},
		{name: "manual mode: reported, not failed over", faults: map[string]SimFault{"master1": SimCrash}, mode: ModeManual,
			verdict: WriterDead, kind: FaultCrash, candidate: "master2", why: "manual mode"},
		{name: "no agents: a slave crashes, nothing moves", faults: map[string]SimFault{"slave1": SimCrash},
			change: func(c *topology.Cluster, live *topology.Live) { c.Agent.Enabled = false }, verdict: WriterAlive, vips: []string{}},
		{name: "no agents: the replicas confirm", faults: map[string]SimFault{"master1": SimCrash},
			change:   func(c *topology.Cluster, live *topology.Live) { c.Agent.Enabled = false },
			failover: true, verdict: WriterDead, candidate: "master2", fence: "no agents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, live := simCluster()
			if tt.change != nil {
				tt.change(c, live)
			}
			sim, err := Simulate(SimInput{Cluster: c, Live: live, Writer: "master1", States: tt.states, Mode: tt.mode, Faults: tt.faults, Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			if sim.Failover != tt.failover || sim.Verdict != tt.verdict || sim.Candidate != tt.candidate {
				t.Fatalf("failover=%v verdict=%s candidate=%q (why %q, no failover %q), want %v %s %q",
					sim.Failover, sim.Verdict, sim.Candidate, sim.Why, sim.NoFailover, tt.failover, tt.verdict, tt.candidate)
			}
			if tt.kind != "" && sim.Kind != tt.kind {
				t.Errorf("fault kind %s, want %s", sim.Kind, tt.kind)
			}
			if tt.why != "" && !strings.Contains(sim.NoFailover+" | "+sim.Why, tt.why) {
				t.Errorf("why: %q / %q, want %q in it", sim.Why, sim.NoFailover, tt.why)
			}
			if !strings.Contains(sim.Fence, tt.fence) {
				t.Errorf("fence %q, want %q in it", sim.Fence, tt.fence)
			}
			if tt.mode == "" && sim.Failover == (sim.Plan == nil) {
				t.Fatalf("failover %v with plan %v", sim.Failover, sim.Plan != nil)
			}
			for _, id := range tt.steps {
				if !hasStep(sim.Plan, id) {
					t.Errorf("no step %s in the plan: %v", id, stepIDs(sim.Plan))
				}
			}
			if sim.Plan != nil && sim.Plan.HasErrors() {
				t.Errorf("the plan has errors: %+v", sim.Plan.Problems)
			}
			var vips []string
			for _, v := range sim.VIPs {
				vips = append(vips, v.IP+" "+v.From+"->"+v.To)
			}
			if tt.vips != nil && strings.Join(vips, ",") != strings.Join(tt.vips, ",") {
				t.Errorf("VIPs %v, want %v", vips, tt.vips)
			}
			if sim.Risk != nil && sim.Risk.Lost != tt.lost {
				t.Errorf("lost %q, want %q", sim.Risk.Lost, tt.lost)
			}
			if sim.Acts() != (sim.Failover || len(tt.vips) > 0) {
				t.Errorf("Acts() = %v", sim.Acts())
			}
		})
	}
}

// The live state Simulate is given is not changed.
func TestSimulateChangesNothing(t *testing.T) {
	c, live := simCluster()
	if _, err := Simulate(SimInput{Cluster: c, Live: live, Writer: "master1", Faults: map[string]SimFault{"master1": SimCrash}, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if !live.Hosts["master1"].Reachable || live.Hosts["slave1"].Replica.IORunning != "Yes" || !live.Agents["master1"].Reachable {
		t.Error("Simulate changed its input")
	}
	if _, err := Simulate(SimInput{Cluster: c, Live: live, Writer: "master1", Faults: map[string]SimFault{"nosuch": SimCrash}}); err == nil {
		t.Error("an undeclared host was accepted")
	}
	if _, err := Simulate(SimInput{Cluster: c, Live: live, Faults: map[string]SimFault{"master1": SimCrash}}); err == nil {
		t.Error("no writer was accepted")
	}
	live.Hosts["master1"] = &topology.LiveHost{Name: "master1", Error: "connection refused"}
	if _, err := Simulate(SimInput{Cluster: c, Live: live, Writer: "master1", Faults: map[string]SimFault{"master2": SimCrash}}); err == nil {
		t.Error("an unreachable writer was accepted")
	}
}

func hasStep(p *plan.Plan, id string) bool {
	if p == nil {
		return false
	}
	for _, s := range p.Steps {
		if s.ID == id {
			return true
		}
	}
	return false
}

func stepIDs(p *plan.Plan) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.ID)
	}
	return out
}
