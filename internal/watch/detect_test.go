package watch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/gtid"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// Detect's rules, one row per fault class (docs/watch.md, "Detection").
func TestDetect(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ago := func(ms int) time.Time { return now.Add(-time.Duration(ms) * time.Millisecond) }
	health := func(state string, sinceMs int) *agent.Status {
		return &agent.Status{Server: &agent.ServerHealth{State: state, Age: agent.Duration(50 * time.Millisecond), Since: agent.Duration(time.Duration(sinceMs) * time.Millisecond)}}
	}
	// The host answered everything until cut (ms ago).
	silentSince := func(cut int) HostFacts {
		return HostFacts{
			Server:     ServerFact{State: agent.ProbeTimeout, At: ago(100)},
			ServerOKAt: ago(cut), LiveOKAt: ago(cut), AgentOKAt: ago(cut), Agent: health(agent.ProbeOK, 60000),
		}
	}
	witness := func(f HostFacts, states ...string) HostFacts {
		f.Witnesses = map[string]WitnessFact{}
		for i, s := range states {
			name := []string{"master2", "slave1", "slave2"}[i]
			f.Witnesses[name] = WitnessFact{Witness: name, Server: s, Agent: s, At: ago(100)}
		}
		return f
	}
	tests := []struct {
		name    string
		facts   HostFacts
		lost    []string
		see     []string
		verdict Verdict
		kind    FaultKind
		why     string
	}{
		{"healthy", HostFacts{Server: ServerFact{State: agent.ProbeOK, At: ago(100)}, LiveOKAt: ago(200), AgentOKAt: ago(100), Agent: health(agent.ProbeOK, 60000)},
			nil, nil, WriterAlive, "", ""},
		{"crash confirmed by its agent",
			HostFacts{Server: ServerFact{State: agent.ProbeRefused, At: ago(50), Detail: "connection refused"}, ServerOKAt: ago(300), LiveOKAt: ago(300), AgentOKAt: ago(20), Agent: health(agent.ProbeRefused, 100)},
			nil, nil, WriterDead, FaultCrash, "confirmed by its agent"},
		{"crash confirmed by replicas, agent down with it",
			HostFacts{Server: ServerFact{State: agent.ProbeRefused, At: ago(50)}, ServerOKAt: ago(300), LiveOKAt: ago(300), AgentOKAt: ago(900)},
			[]string{"slave1", "slave2"}, nil, WriterDead, FaultCrash, "replicas slave1, slave2"},
		{"refused, nobody confirms yet (agent status from before the crash)",
			HostFacts{Server: ServerFact{State: agent.ProbeRefused, At: ago(50)}, ServerOKAt: ago(300), LiveOKAt: ago(300), AgentOKAt: ago(200), Agent: health(agent.ProbeOK, 60000)},
			nil, []string{"slave1"}, WriterUnreachable, "", "nobody confirms"},
		{"frozen, confirmed by its agent",
			HostFacts{Server: ServerFact{State: agent.ProbeFrozen, At: ago(50)}, ServerOKAt: ago(900), LiveOKAt: ago(900), AgentOKAt: ago(30), Agent: health(agent.ProbeFrozen, 800)},
			nil, nil, WriterDead, FaultFrozen, "its own agent confirms"},
		{"frozen too briefly (busy server)",
			HostFacts{Server: ServerFact{State: agent.ProbeFrozen, At: ago(50)}, ServerOKAt: ago(400), LiveOKAt: ago(400), AgentOKAt: ago(30), Agent: health(agent.ProbeFrozen, 200)},
			nil, nil, WriterUnreachable, "", "its agent does"},
		{"monitor alone cannot greet, agent sees the server fine",
			HostFacts{Server: ServerFact{State: agent.ProbeTimeout, At: ago(50)}, ServerOKAt: ago(2000), LiveOKAt: ago(2000), AgentOKAt: ago(30), Agent: health(agent.ProbeOK, 60000)},
			nil, nil, WriterUnreachable, "", "its agent does"},
		{"host lost, not long enough", witness(silentSince(500), agent.ProbeTimeout, agent.ProbeTimeout, agent.ProbeTimeout),
			[]string{"slave1"}, nil, WriterUnreachable, "", ""},
		{"host lost, witnesses agree", witness(silentSince(900), agent.ProbeTimeout, agent.ProbeTimeout, agent.ProbeRefused),
			nil, []string{"slave1"}, WriterDead, FaultHostLost, "witnesses master2, slave1, slave2"},
		{"host lost, majority of witnesses", witness(silentSince(900), agent.ProbeTimeout, agent.ProbeOK, agent.ProbeTimeout),
			nil, nil, WriterDead, FaultHostLost, "witnesses master2, slave2"},
		{"monitor cut off: witnesses see it", witness(silentSince(3000), agent.ProbeOK, agent.ProbeOK, agent.ProbeTimeout),
			[]string{"slave2"}, nil, WriterUnreachable, "", "the monitor is cut off"},
		{"monitor isolated: no witness answers", silentSince(3000),
			nil, nil, WriterUnreachable, "", "no witness answers"},
		{"stale witness answers do not count", func() HostFacts {
			f := witness(silentSince(3000), agent.ProbeTimeout, agent.ProbeTimeout)
			for k, v := range f.Witnesses {
				v.At = ago(5000)
				f.Witnesses[k] = v
			}
			return f
		}(), nil, nil, WriterUnreachable, "", "no witness answers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Detect(DetectInput{Now: now, Writer: "master1", Facts: tt.facts, ReplicasLost: tt.lost, ReplicasSee: tt.see,
				HostLostAfter: 750 * time.Millisecond, Fresh: 750 * time.Millisecond, FrozenAfter: 500 * time.Millisecond, Agents: true})
			if f.Verdict != tt.verdict || f.Kind != tt.kind || !strings.Contains(f.Why, tt.why) {
				t.Errorf("got %s/%s %q, want %s/%s containing %q", f.Verdict, f.Kind, f.Why, tt.verdict, tt.kind, tt.why)
			}
		})
	}
}

// A writer that ran asynchronously is not replaced by a candidate that
// lacks what it wrote (it may have acknowledged it); with semi-sync
// acknowledging, its last position is no requirement.
func TestAsyncLoss(t *testing.T) {
	live := fakeLive(testCluster())
	w, _ := newTestWatch(t, func() *topology.Live { return live })
	live.Hosts["master2"].GTIDBinlogPos, live.Hosts["master2"].GTIDSlavePos = "0-1-100", "0-1-100"
	live.Hosts["master2"].GTIDCurrentPos, live.Hosts["master2"].GTIDExecuted = "0-1-100", ""
	w.writerPos = gtid.MustParse("0-1-120")
	if msg := w.asyncLoss("master1", "master2", live); msg != "" {
		t.Errorf("semi-sync acknowledging: refused: %s", msg)
	}
	w.semiSyncOff, w.semiSyncHost = time.Now(), "master1"
	if msg := w.asyncLoss("master1", "master2", live); !strings.Contains(msg, "lacks 0-1-120") {
		t.Errorf("asynchronous writer: got %q", msg)
	}
	w.writerPos = gtid.MustParse("0-1-100")
	if msg := w.asyncLoss("master1", "master2", live); msg != "" {
		t.Errorf("candidate holds everything: refused: %s", msg)
	}
}

// The mysql check reads the inspection: a server that refuses with "too
// many connections" answers, one that denies access does not.
func TestMySQLCheckFromInspection(t *testing.T) {
	live := fakeLive(testCluster())
	w, _ := newTestWatch(t, func() *topology.Live { return live })
	for _, tt := range []struct {
		errno uint16
		ok    bool
	}{{1040, true}, {1045, false}, {0, false}} {
		lh := &topology.LiveHost{Name: "slave1", Error: "inspect slave1: refused", ErrorNumber: tt.errno}
		w.facts.update("slave1", func(f *HostFacts) { f.Live = lh })
		w.runChecks(context.Background(), &topology.Live{Hosts: map[string]*topology.LiveHost{"slave1": lh}})
		if st := w.tracker.Status("slave1", CheckMySQL); st == nil || st.Last.OK != tt.ok {
			t.Errorf("error %d: mysql check %+v, want ok=%v", tt.errno, st, tt.ok)
		}
	}
}

// A crash keeps the old writer's VIPs until the new writer is writable
// (releaseLate) when nothing listens on its port, seen from two sides, and
// its agent answers; whichever side saw it first.
func TestReleaseLate(t *testing.T) {
	now := time.Now()
	fresh := 750 * time.Millisecond
	agentSays := func(state string, age time.Duration) *agent.Status {
		return &agent.Status{Server: &agent.ServerHealth{State: state, Age: agent.Duration(age)}}
	}
	refused := ServerFact{State: agent.ProbeRefused, At: now, Detail: "connection refused"}
	refusedWitness := map[string]WitnessFact{"slave1": {Server: agent.ProbeRefused, At: now}}
	for _, tt := range []struct {
		name         string
		f            HostFacts
		lost         []string
		agentAnswers bool
		want         bool
	}{
		{"its agent finds the port closed", HostFacts{Agent: agentSays(agent.ProbeRefused, 0), AgentOKAt: now, Server: refused}, nil, true, true},
		{"its agent finds the port closed, the monitor timed out", HostFacts{Agent: agentSays(agent.ProbeRefused, 0), AgentOKAt: now,
			Server: ServerFact{State: agent.ProbeTimeout, At: now}}, nil, true, true},
		{"agent not looked yet, a witness refused", HostFacts{Agent: agentSays(agent.ProbeOK, 0), AgentOKAt: now,
			Server: refused, Witnesses: refusedWitness}, nil, true, true},
		{"agent not looked yet, the replicas lost it", HostFacts{Agent: agentSays(agent.ProbeOK, 0), AgentOKAt: now, Server: refused},
			[]string{"slave1", "slave2"}, true, true},
		{"the monitor refused, nobody confirms", HostFacts{Agent: agentSays(agent.ProbeOK, 0), AgentOKAt: now, Server: refused}, nil, true, false},
		{"the monitor refused, its agent sees a timeout", HostFacts{Agent: agentSays(agent.ProbeTimeout, 0), AgentOKAt: now, Server: refused}, nil, true, false},
		{"down, but its agent does not answer", HostFacts{Server: refused, Witnesses: refusedWitness}, nil, false, false},
		{"frozen: the agent finds it silent", HostFacts{Agent: agentSays(agent.ProbeFrozen, 0), AgentOKAt: now,
			Server: ServerFact{State: agent.ProbeTimeout, At: now}}, nil, true, false},
	} {
		f := Detect(DetectInput{Now: now, Writer: "master1", Facts: tt.f, ReplicasLost: tt.lost,
			HostLostAfter: fresh, Fresh: fresh, FrozenAfter: 0, Agents: true})
		if got := releaseLate(f, tt.agentAnswers); got != tt.want {
			t.Errorf("%s: releaseLate = %v, want %v (finding %s/%s %q, server down %v)", tt.name, got, tt.want, f.Verdict, f.Kind, f.Why, f.ServerDown)
		}
	}
}
