package plan

import (
	"slices"
	"testing"
)

func TestStale(t *testing.T) {
	base := func() Fingerprint {
		return Fingerprint{Writer: "master1", Hosts: map[string]HostFingerprint{
			"master1": {Reachable: true, Source: "master2", GTID: "0-1-5"},
			"master2": {Reachable: true, ReadOnly: true, Source: "master1", GTID: "0-1-5"},
			"slave1":  {Reachable: true, ReadOnly: true, Source: "master1", GTID: "0-1-5"},
			"mysql1":  {Reachable: true, ReadOnly: true, Source: "master1", GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"},
		}}
	}
	tests := []struct {
		name   string
		change func(f *Fingerprint)
		want   []string
	}{
		{"unchanged", func(f *Fingerprint) {}, nil},
		{"same writer's sequence moves on", func(f *Fingerprint) {
			f.Hosts["slave1"] = HostFingerprint{Reachable: true, ReadOnly: true, Source: "master1", GTID: "0-1-9"}
			f.Hosts["mysql1"] = HostFingerprint{Reachable: true, ReadOnly: true, Source: "master1", GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9"}
		}, nil},
		{"writer changed", func(f *Fingerprint) { f.Writer = "master2" }, []string{"writer changed: master1 -> master2"}},
		{"read_only changed", func(f *Fingerprint) {
			h := f.Hosts["master2"]
			h.ReadOnly = false
			f.Hosts["master2"] = h
		}, []string{"master2 read_only changed: true -> false"}},
		{"source changed", func(f *Fingerprint) {
			h := f.Hosts["slave1"]
			h.Source = "master2"
			f.Hosts["slave1"] = h
		}, []string{"slave1 source changed: master1 -> master2"}},
		{"another server wrote", func(f *Fingerprint) {
			h := f.Hosts["slave1"]
			h.GTID = "0-2-6"
			f.Hosts["slave1"] = h
		}, []string{"slave1 GTID moved past the plan: 0-1-5 -> 0-2-6 (server 2 wrote in domain 0)"}},
		{"new domain", func(f *Fingerprint) {
			h := f.Hosts["slave1"]
			h.GTID = "0-1-5,1-3-1"
			f.Hosts["slave1"] = h
		}, []string{"slave1 GTID moved past the plan: 0-1-5 -> 0-1-5,1-3-1 (a new domain 1 was written)"}},
		{"backwards", func(f *Fingerprint) {
			h := f.Hosts["slave1"]
			h.GTID = "0-1-3"
			f.Hosts["slave1"] = h
		}, []string{"slave1 GTID moved past the plan: 0-1-5 -> 0-1-3 (domain 0 went backwards)"}},
		{"mysql: a new server uuid", func(f *Fingerprint) {
			h := f.Hosts["mysql1"]
			h.GTID = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4f22fa47-71ca-11e1-9e33-c80aa9429562:1"
			f.Hosts["mysql1"] = h
		}, []string{"mysql1 GTID moved past the plan: 3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5 -> 3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4f22fa47-71ca-11e1-9e33-c80aa9429562:1 (server 4f22fa47-71ca-11e1-9e33-c80aa9429562 wrote)"}},
		{"unreachable", func(f *Fingerprint) { f.Hosts["slave1"] = HostFingerprint{} }, []string{"slave1 became unreachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := base()
			tt.change(&cur)
			if got := Stale(base(), cur); !slices.Equal(got, tt.want) {
				t.Errorf("Stale = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStalePinned(t *testing.T) {
	saved := Fingerprint{Writer: "master1", Hosts: map[string]HostFingerprint{"master1": {Reachable: true, GTID: "0-1-2", Pinned: true}}}
	cur := Fingerprint{Writer: "master1", Hosts: map[string]HostFingerprint{"master1": {Reachable: true, GTID: "0-1-3"}}}
	if got := Stale(saved, cur); len(got) != 1 {
		t.Errorf("a pinned GTID that moved must make the plan stale, got %q", got)
	}
}

func TestFingerprintFromDiff(t *testing.T) {
	c := labCluster()
	p := Diff(c, failedOver(c), Options{Now: testNow})
	if p.Fingerprint.Writer != "master2" || p.Fingerprint.Hosts["slave1"].Source != "master2" || p.Fingerprint.Hosts["slave1"].GTID != "0-1-42" {
		t.Errorf("fingerprint %+v", p.Fingerprint)
	}
	if got := Stale(p.Fingerprint, MakeFingerprint(c, convergedLive(c))); !slices.Contains(got, "writer changed: master2 -> master1") {
		t.Errorf("Stale = %q", got)
	}
}
