package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mysql-mmm/mmm/internal/watch"
	"github.com/mysql-mmm/mmm/plan"
)

func TestRenderSimulation(t *testing.T) {
	lag := int64(3)
	tests := []struct {
		name string
		sim  *watch.Simulation
		want []string
	}{
		{"failover", &watch.Simulation{
			Writer: "master1", Faults: map[string]watch.SimFault{"master1": watch.SimCrash},
			Verdict: watch.WriterDead, Kind: watch.FaultCrash, Why: "master1 refuses connections",
			Failover: true, Candidate: "master2",
			Candidates: []watch.SimCandidate{{Host: "master2", Eligible: true, Chosen: true, Why: "eligible at 0-1-100"}, {Host: "master3", Why: "is ADMIN_OFFLINE"}},
			Fence:      "its agent fences it now",
			Plan:       &plan.Plan{Steps: []plan.Step{}},
			VIPs:       []watch.SimVIP{{IP: "10.0.0.100", Role: "writer", From: "master1", To: "master2"}},
			Risk:       &watch.SimRisk{WriterPosition: "0-1-102", Missing: "0-1-102", MissingCount: 2, SecondsBehind: &lag, Lost: "0-1-102", SemiSync: "OFF"},
		}, []string{
			"Simulated: master1: its server dies (kill -9)",
			"Writer master1: dead (crash): master1 refuses connections",
			"Failover: YES, master2 becomes the writer.",
			"  + master2: eligible at 0-1-100",
			"  - master3: is ADMIN_OFFLINE",
			"Fence of master1: its agent fences it now",
			"master2 lacks 0-1-102 of master1's 0-1-102 (about 2 transactions); Seconds_Behind_Master 3s",
			"LOST: 0-1-102 exist on master1 alone",
			"10.0.0.100 (writer): master1 -> master2",
			"The failover plan:",
			"The watch would act (exit code 2)",
		}},
		{"monitor cut off", &watch.Simulation{
			Writer: "master1", Faults: map[string]watch.SimFault{"master1": watch.SimCut},
			Verdict: watch.WriterUnreachable, Why: "the monitor is cut off, not the writer",
		}, []string{
			"master1: the monitor alone loses it",
			"Writer master1: unreachable: the monitor is cut off, not the writer",
			"Failover: NO.",
			"The watch would change nothing (exit code 0)",
		}},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := renderSimulation(&b, "test", tt.sim); err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: no %q in\n%s", tt.name, w, b.String())
			}
		}
	}
}
