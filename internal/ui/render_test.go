package ui

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func boolp(v bool) *bool   { return &v }

// labView is the lab's cluster after a failover: master2 writes, master1
// came back with an errant transaction, slave2's SQL thread stopped.
func labView() *View {
	at := time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)
	return &View{
		Cluster: "lab", Mode: "active", Writer: "master2", SemiSync: "active",
		PingIPs: []string{"198.18.0.1"}, At: at,
		Hosts: []Host{
			{Name: "master1", Address: "198.18.0.11", Mode: "master", Peer: "master2", State: "REPLICATION_FAIL", Since: at,
				Roles: []Role{}, Problem: "errant GTIDs 0-11-42 (not on master2)", ReadOnly: boolp(true),
				Replication: &Replication{Source: "master2", IO: "Yes", SQL: "Yes", LagSeconds: i64(0), Behind: u64(0), SemiSync: true}},
			{Name: "master2", Address: "198.18.0.12", Mode: "master", Peer: "master1", State: "ONLINE", Since: at, Writer: true,
				Roles: []Role{{Role: "writer", IP: "198.18.0.100"}}, ReadOnly: boolp(false),
				Replication: &Replication{Source: "master1", IO: "Connecting", SQL: "Yes", Error: "error reconnecting to master"}},
			{Name: "slave1", Address: "198.18.0.13", Mode: "slave", State: "ONLINE", Since: at,
				Roles:       []Role{{Role: "reader", IP: "198.18.0.101"}, {Role: "reader", IP: "198.18.0.102"}},
				Replication: &Replication{Source: "master2", IO: "Yes", SQL: "Yes", LagSeconds: i64(3), Behind: u64(17)}},
			{Name: "slave2", Address: "198.18.0.14", Mode: "slave", State: "REPLICATION_FAIL", Since: at, Roles: []Role{},
				Replication: &Replication{Source: "master2", IO: "Yes", SQL: "No"}},
		},
		Events: []Event{{At: at, Message: "failover: master2 is the writer in place of master1 (crashed; refused, took 640ms)", Kind: "failover"}},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		view func() *View
	}{
		{"lab", labView},
		{"cut-off", func() *View {
			v := labView()
			v.NetworkDown, v.Mode, v.SemiSync = true, "passive", "OFF since 21:00:00: asynchronous"
			for i := range v.Hosts {
				v.Hosts[i].Replication = nil // unknown: slaves go under the writer, no arrow
			}
			return v
		}},
		{"slave-of-slave", func() *View {
			v := labView()
			v.Hosts[3].Replication = &Replication{Source: "slave1", IO: "Yes", SQL: "Yes", LagSeconds: i64(0)}
			return v
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var svg, dot bytes.Buffer
			if err := SVG(&svg, tc.view()); err != nil {
				t.Fatal(err)
			}
			if err := DOT(&dot, tc.view()); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".svg", svg.Bytes())
			golden(t, tc.name+".dot", dot.Bytes())
		})
	}
}

func TestLayout(t *testing.T) {
	v := labView()
	l := LayoutOf(v)
	m1, m2, s1, s2 := l.Boxes["master1"], l.Boxes["master2"], l.Boxes["slave1"], l.Boxes["slave2"]
	if m1.Y != m2.Y || m1.X >= m2.X {
		t.Errorf("masters not side by side in file order: %+v %+v", m1, m2)
	}
	if s1.Depth != 1 || s2.Depth != 1 || s1.Y <= m2.Y {
		t.Errorf("slaves not under the masters: %+v %+v", s1, s2)
	}
	// The writer sits over its two slaves.
	if mid := (s1.X + s2.X + s2.W) / 2; mid != m2.X+m2.W/2 {
		t.Errorf("writer centre %d, slaves' centre %d", m2.X+m2.W/2, mid)
	}
	if l.Parent["slave1"] != "master2" || l.Parent["master1"] != "" {
		t.Errorf("parents: %v", l.Parent)
	}
	// A replication loop between slaves does not lose a host.
	v.Hosts[2].Replication.Source, v.Hosts[3].Replication.Source = "slave2", "slave1"
	l = LayoutOf(v)
	if len(l.Boxes) != 4 {
		t.Fatalf("loop: %d boxes, want 4", len(l.Boxes))
	}
}

func TestEdgeLabel(t *testing.T) {
	for _, tc := range []struct {
		r    Replication
		want string
	}{
		{Replication{IO: "Yes", SQL: "Yes", LagSeconds: i64(0), Behind: u64(0)}, "lag 0s · 0 trx"},
		{Replication{IO: "Yes", SQL: "Yes"}, "lag ?"},
		{Replication{IO: "Yes", SQL: "Yes", LagSeconds: i64(12), SemiSync: true}, "lag 12s · semi"},
		{Replication{IO: "Connecting", SQL: "Yes", Error: "error reconnecting to master 'replication@198.18.0.11:3306'"}, "IO Connecting, SQL Yes: error reconnect…"},
	} {
		if got := EdgeLabel(&tc.r); got != tc.want {
			t.Errorf("EdgeLabel(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestEventKind(t *testing.T) {
	for msg, want := range map[string]string{
		"failover: master2 is the writer in place of master1 (crashed; refused, took 640ms)": "failover",
		"writer master1 dead (crashed): refused by the monitor and 3 witnesses":              "failover",
		"switchover: master2 is the writer in place of master1 (took 39ms)":                  "switchover",
		"semi-sync OFF on master1 (no ack): asynchronous until …":                            "semi-sync",
		"network down: none of 198.18.0.1 answers; doing nothing":                            "network",
		"mode active -> manual (operator)":                                                   "mode",
		"slave1: ONLINE -> REPLICATION_FAIL (rep_threads: SQL thread stopped)":               "state",
		"fence_hook fenced master1 in 20ms":                                                  "fence",
		"agent on slave2 answers again":                                                      "agent",
	} {
		if got := EventKind(msg); got != want {
			t.Errorf("EventKind(%q) = %q, want %q", msg, got, want)
		}
	}
}

func TestSVGEscapes(t *testing.T) {
	v := labView()
	v.Hosts[0].Problem = `<script>alert("x")</script>`
	var b bytes.Buffer
	if err := SVG(&b, v); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>") {
		t.Error("a problem text reached the SVG unescaped")
	}
}
