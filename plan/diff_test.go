package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

func stepIDs(p *Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.ID)
	}
	return out
}

func problemsOf(p *Plan, sev Severity) []Problem {
	var out []Problem
	for _, pr := range p.Problems {
		if pr.Severity == sev {
			out = append(out, pr)
		}
	}
	return out
}

// failedOver is the converged lab after a failover to master2.
func failedOver(c *topology.Cluster) *topology.Live {
	live := convergedLive(c)
	live.Hosts["master1"].ReadOnly = true
	live.Hosts["master2"].ReadOnly = false
	for _, n := range []string{"slave1", "slave2", "master1"} {
		live.Hosts[n].Replica.SourceHost = "198.18.0.12"
	}
	live.Hosts["master2"].Replica.SourceHost = "198.18.0.11"
	return live
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *topology.Cluster, live *topology.Live) *topology.Live
		opts  Options
		// wantSteps, when non-nil, is the exact list of step IDs in order.
		wantSteps []string
		check     func(t *testing.T, p *Plan)
	}{
		{
			name:      "converged cluster",
			wantSteps: []string{},
			check: func(t *testing.T, p *Plan) {
				if len(p.Problems) != 0 || len(p.Notes) != 0 {
					t.Errorf("problems %v notes %v, want none", p.Problems, p.Notes)
				}
				if p.Writer != "master1" {
					t.Errorf("writer %q, want master1", p.Writer)
				}
			},
		},
		{
			name: "drifted grant: missing and undeclared privileges",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live {
				live.Hosts["slave1"].Users["'app'@'%'"].Grants = []topology.Grant{
					{On: "shop.*", Privileges: []string{"DELETE", "DROP", "INSERT", "SELECT"}},
					{On: "other.*", Privileges: []string{"SELECT"}, WithGrantOption: true},
				}
				return live
			},
			wantSteps: []string{
				"slave1:grant:'app'@'%' on shop.*",
				"slave1:revoke:'app'@'%' on other.*",
				"slave1:revoke:'app'@'%' on shop.*",
			},
			check: func(t *testing.T, p *Plan) {
				wantSQL := map[string][]string{
					"slave1:grant:'app'@'%' on shop.*":   {"SET SESSION sql_log_bin = 0", "GRANT UPDATE ON `shop`.* TO 'app'@'%'"},
					"slave1:revoke:'app'@'%' on other.*": {"SET SESSION sql_log_bin = 0", "REVOKE SELECT, GRANT OPTION ON `other`.* FROM 'app'@'%'"},
					"slave1:revoke:'app'@'%' on shop.*":  {"SET SESSION sql_log_bin = 0", "REVOKE DROP ON `shop`.* FROM 'app'@'%'"},
				}
				for id, want := range wantSQL {
					var got []string
					for _, st := range p.Step(id).Statements {
						got = append(got, st.Text)
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s SQL = %q, want %q", id, got, want)
					}
				}
			},
		},
		{
			name: "stopped replica",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live {
				r := live.Hosts["slave1"].Replica
				r.IORunning, r.SQLRunning = "No", "No"
				return live
			},
			wantSteps: []string{"slave1:start_replica:replica"},
		},
		{
			name: "replica pointed at the wrong source",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live {
				live.Hosts["slave2"].Replica.SourceHost = "198.18.0.12"
				return live
			},
			wantSteps: []string{"slave2:stop_replica:replica", "slave2:change_source:replica", "slave2:start_replica:replica"},
			check: func(t *testing.T, p *Plan) {
				s := p.Step("slave2:change_source:replica")
				if s.Change != "source = master2 -> master1" {
					t.Errorf("change = %q", s.Change)
				}
				if got := s.Statements[0].Text; !strings.Contains(got, "MASTER_HOST='198.18.0.11'") || !strings.Contains(got, "MASTER_PASSWORD=<redacted>") {
					t.Errorf("statement %q", got)
				}
				if got := s.Statements[0].Exec(); !strings.Contains(got, replSecret) {
					t.Errorf("executable statement lacks the password")
				}
				if !slices.Contains(s.DependsOn, "slave2:stop_replica:replica") {
					t.Errorf("change_source depends on %v, want the stop", s.DependsOn)
				}
			},
		},
		{
			name: "standby master writable",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live {
				live.Hosts["master2"].ReadOnly = false
				return live
			},
			wantSteps: []string{"master2:set_variable:read_only"},
			check: func(t *testing.T, p *Plan) {
				if p.Writer != "master1" {
					t.Errorf("writer %q", p.Writer)
				}
				if w := problemsOf(p, SeverityWarning); len(w) != 1 || w[0].Host != "master2" {
					t.Errorf("warnings %v, want one about master2", w)
				}
				if p.HasErrors() {
					t.Errorf("unexpected error problems %v", p.Problems)
				}
				if p.Step("master2:set_variable:read_only").Unsafe {
					t.Errorf("setting a writable standby read_only is not unsafe")
				}
			},
		},
		{
			name: "two writable masters",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live {
				live.Hosts["master2"].ReadOnly = false
				live.Hosts["slave2"].Replica.SourceHost = "198.18.0.12"                      // replicas disagree
				live.Hosts["slave1"].Replica.IORunning = "No"                                // not even a replica start...
				live.Hosts["slave1"].Users["'app'@'%'"].Password = topology.PasswordMismatch // ...but accounts are converged
				return live
			},
			wantSteps: []string{"slave1:alter_user:'app'@'%' on password"},
			check: func(t *testing.T, p *Plan) {
				errs := problemsOf(p, SeverityError)
				if len(errs) != 1 || !strings.Contains(errs[0].Summary, "two writable masters") || !strings.Contains(errs[0].Detail, "split brain") {
					t.Fatalf("errors %v, want the split-brain error", errs)
				}
				if p.Writer != "" {
					t.Errorf("writer %q, want none", p.Writer)
				}
			},
		},
		{
			name: "unreachable host",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live {
				live.Hosts["slave2"] = &topology.LiveHost{Name: "slave2", Address: "198.18.0.14", Port: 3306,
					Error: "dial tcp 198.18.0.14:3306: i/o timeout"}
				live.Hosts["slave1"].Replica.SQLRunning = "No"
				return live
			},
			wantSteps: []string{"slave1:start_replica:replica"},
			check: func(t *testing.T, p *Plan) {
				w := problemsOf(p, SeverityWarning)
				if len(w) != 1 {
					t.Fatalf("warnings %v, want 1", w)
				}
				for _, part := range []string{"slave2", "198.18.0.14:3306", "i/o timeout"} {
					if !strings.Contains(w[0].Summary, part) {
						t.Errorf("warning %q does not name %q", w[0].Summary, part)
					}
				}
				if p.Hosts[3].Reachable || p.Hosts[3].Error == "" {
					t.Errorf("plan hosts: %+v", p.Hosts[3])
				}
			},
		},
		{
			name: "password mismatch of an application account",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live {
				live.Hosts["master2"].Users["'app'@'%'"].Password = topology.PasswordMismatch
				return live
			},
			wantSteps: []string{"master2:alter_user:'app'@'%' on password"},
			check: func(t *testing.T, p *Plan) {
				st := p.Steps[0].Statements[1]
				if st.Text != "ALTER USER 'app'@'%' IDENTIFIED BY <redacted>" {
					t.Errorf("statement %q", st.Text)
				}
			},
		},
		{
			name: "password mismatch of the replication account re-points its replicas",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live {
				live.Hosts["master1"].Users["'replication'@'198.18.0.%'"].Password = topology.PasswordMismatch
				return live
			},
			wantSteps: []string{
				"master1:alter_user:'replication'@'198.18.0.%' on password",
				"master2:stop_replica:replica", "master2:change_source:replica", "master2:start_replica:replica",
				"slave1:stop_replica:replica", "slave1:change_source:replica", "slave1:start_replica:replica",
				"slave2:stop_replica:replica", "slave2:change_source:replica", "slave2:start_replica:replica",
			},
			check: func(t *testing.T, p *Plan) {
				if !slices.Contains(p.Step("slave1:change_source:replica").DependsOn, "master1:alter_user:'replication'@'198.18.0.%' on password") {
					t.Errorf("replica re-pointed before the password changed on its source")
				}
			},
		},
		{
			name: "ensure absent drops the account, unsafe",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live {
				c.Users = append(c.Users, &topology.User{Name: "old", Host: "%", Ensure: topology.EnsureAbsent})
				for _, lh := range live.Hosts {
					lh.Users["'old'@'%'"] = &topology.LiveUser{Name: "old", Host: "%", Exists: lh.Name == "slave1"}
				}
				return live
			},
			wantSteps: []string{"slave1:drop_user:'old'@'%'"},
			check: func(t *testing.T, p *Plan) {
				s := p.Steps[0]
				if !s.Unsafe || s.Symbol != Delete || s.Statements[1].Text != "DROP USER 'old'@'%'" {
					t.Errorf("step %+v", s)
				}
				if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "--allow-unsafe") {
					t.Errorf("notes %v, want the unsafe note", p.Notes)
				}
			},
		},
		{
			name:      "after a failover the writer stays, with a note",
			setup:     func(c *topology.Cluster, live *topology.Live) *topology.Live { return failedOver(c) },
			wantSteps: []string{},
			check: func(t *testing.T, p *Plan) {
				if p.Writer != "master2" || len(p.Notes) != 1 || !strings.HasPrefix(p.Notes[0], "writer is master2, preferred master1") {
					t.Errorf("writer %q notes %v", p.Writer, p.Notes)
				}
			},
		},
		{
			name:  "--allow-unsafe moves the writer back to prefer",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live { return failedOver(c) },
			opts:  Options{AllowUnsafe: true},
			wantSteps: []string{
				"master2:set_variable:read_only",
				"master2:kill_clients:clients",
				"master1:wait_catch_up:master2",
				"master1:set_variable:read_only",
				"slave1:stop_replica:replica", "slave1:change_source:replica", "slave1:start_replica:replica",
				"slave2:stop_replica:replica", "slave2:change_source:replica", "slave2:start_replica:replica",
			},
		},
		{
			name:  "switchover back to prefer",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live { return failedOver(c) },
			opts:  Options{MoveWriterTo: "master1"},
			wantSteps: []string{
				"master2:set_variable:read_only",
				"master2:kill_clients:clients",
				"master1:wait_catch_up:master2",
				"master1:set_variable:read_only",
				"slave1:stop_replica:replica", "slave1:change_source:replica", "slave1:start_replica:replica",
				"slave2:stop_replica:replica", "slave2:change_source:replica", "slave2:start_replica:replica",
			},
			check: func(t *testing.T, p *Plan) {
				for _, id := range []string{"master2:set_variable:read_only", "master2:kill_clients:clients", "master1:wait_catch_up:master2", "master1:set_variable:read_only"} {
					if !p.Step(id).Unsafe {
						t.Errorf("%s not marked unsafe", id)
					}
				}
				if w := p.Step("master1:wait_catch_up:master2").Wait; w == nil || w.Source != "master2" {
					t.Errorf("wait %+v", w)
				}
				if !slices.Contains(p.Step("slave1:change_source:replica").DependsOn, "master1:wait_catch_up:master2") {
					t.Errorf("slaves re-pointed before the new writer caught up")
				}
			},
		},
		{
			name:      "converged with VIPs in place",
			setup:     func(c *topology.Cluster, live *topology.Live) *topology.Live { return withVIPs(live) },
			wantSteps: []string{},
		},
		{
			name: "writer VIP on the wrong master, reader VIP missing",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live {
				withVIPs(live)
				live.VIPs["198.18.0.100"] = []string{"master2"}
				live.VIPs["198.18.0.102"] = nil
				return live
			},
			wantSteps: []string{"master2:release_vip:198.18.0.100", "master1:assign_vip:198.18.0.100", "slave2:assign_vip:198.18.0.102"},
			check: func(t *testing.T, p *Plan) {
				if !slices.Contains(p.Step("master1:assign_vip:198.18.0.100").DependsOn, "master2:release_vip:198.18.0.100") {
					t.Errorf("assign does not wait for the release")
				}
			},
		},
		{
			name: "settings: server_id differs, log_bin off",
			setup: func(c *topology.Cluster, live *topology.Live) *topology.Live {
				live.Hosts["slave1"].ServerID = 9
				live.Hosts["master2"].LogBin = false
				return live
			},
			wantSteps: []string{"master2:restart_needed:log_bin", "slave1:set_variable:server_id"},
			check: func(t *testing.T, p *Plan) {
				if p.Changes() != 1 {
					t.Errorf("changes %d, want 1 (restart_needed is no change)", p.Changes())
				}
				if w := problemsOf(p, SeverityWarning); len(w) != 1 || !strings.Contains(w[0].Summary, "needs a restart") {
					t.Errorf("warnings %v", w)
				}
				if got := p.Step("slave1:set_variable:server_id").Statements[0].Text; got != "SET GLOBAL server_id = 3" {
					t.Errorf("statement %q", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := labCluster()
			live := convergedLive(c)
			if tt.setup != nil {
				live = tt.setup(c, live)
			}
			opts := tt.opts
			opts.Now = testNow
			p := Diff(c, live, opts)
			if tt.wantSteps != nil {
				got := stepIDs(p)
				if got == nil {
					got = []string{}
				}
				if !slices.Equal(got, tt.wantSteps) {
					t.Errorf("steps:\n  got  %q\n  want %q", got, tt.wantSteps)
				}
			}
			if tt.check != nil {
				tt.check(t, p)
			}
			again := Diff(c, live, opts)
			if !slices.Equal(stepIDs(p), stepIDs(again)) {
				t.Errorf("Diff is not deterministic")
			}
		})
	}
}

func TestDiffFreshCluster(t *testing.T) {
	c := labCluster()
	p := Diff(c, freshLive(c), Options{Now: testNow})
	if p.HasErrors() || p.Writer != "master1" {
		t.Fatalf("writer %q problems %v", p.Writer, p.Problems)
	}
	for _, h := range c.Hosts {
		for _, u := range c.Users {
			if p.Step(h.Name+":create_user:"+u.Key()) == nil {
				t.Errorf("no create_user of %s on %s", u.Key(), h.Name)
			}
		}
		if p.Step(h.Name+":change_source:replica") == nil {
			t.Errorf("no replication for %s", h.Name)
		}
	}
	if p.Step("master1:set_variable:read_only") != nil {
		t.Errorf("the writer must not be made read_only")
	}
	for _, n := range []string{"master2", "slave1", "slave2"} {
		if p.Step(n+":set_variable:read_only") == nil {
			t.Errorf("%s not made read_only", n)
		}
	}
	// Provisioning transactions: discarded where the binary log has some,
	// never on the writer.
	for n, want := range map[string]bool{"master1": false, "master2": true, "slave1": false, "slave2": true} {
		if got := p.Step(n+":reset_binlog:binlog") != nil; got != want {
			t.Errorf("%s reset_binlog = %t, want %t", n, got, want)
		}
	}
	// The replication account exists on the source before a replica points at it.
	pos := map[string]int{}
	for i, s := range p.Steps {
		pos[s.ID] = i
	}
	for _, n := range []string{"master2", "slave1", "slave2"} {
		change := p.Step(n + ":change_source:replica")
		create := "master1:create_user:'replication'@'198.18.0.%'"
		if !slices.Contains(change.DependsOn, create) || pos[create] > pos[change.ID] {
			t.Errorf("%s points at master1 before the replication account exists there", n)
		}
	}
	// The writer's channel from the standby waits for the standby's setup.
	if !slices.Contains(p.Step("master1:change_source:replica").DependsOn, "master2:start_replica:replica") {
		t.Errorf("master1's channel does not wait for master2: %v", p.Step("master1:change_source:replica").DependsOn)
	}
	if !p.Fingerprint.Hosts["master1"].Pinned {
		t.Errorf("the writer's GTID was copied into the plan but is not pinned")
	}
	// Every account statement runs with the binary log off.
	for _, s := range p.Steps {
		switch s.Kind {
		case KindCreateUser, KindAlterUser, KindDropUser, KindGrant, KindRevoke:
			if s.Statements[0].Text != "SET SESSION sql_log_bin = 0" {
				t.Errorf("%s does not start with sql_log_bin = 0", s.ID)
			}
		}
	}
}

func TestDiffFreshClusterUnreachableHost(t *testing.T) {
	c := labCluster()
	live := freshLive(c)
	live.Hosts["slave1"] = &topology.LiveHost{Name: "slave1", Error: "connect 198.18.0.13:3306: connection refused"}
	p := Diff(c, live, Options{Now: testNow})
	for _, s := range p.Steps {
		if s.Host == "slave1" {
			t.Errorf("step %s on an unreachable host", s.ID)
		}
	}
	if p.Step("slave2:change_source:replica") == nil || p.Step("master2:change_source:replica") == nil {
		t.Errorf("other hosts are not planned")
	}
}

func TestDiffFreshReplicaWithData(t *testing.T) {
	c := labCluster()
	live := freshLive(c)
	live.Hosts["slave2"].UserSchemas = []string{"shop"}
	p := Diff(c, live, Options{Now: testNow})
	if p.Step("slave2:change_source:replica") != nil {
		t.Errorf("a replica with its own data is pointed at the writer")
	}
	found := false
	for _, pr := range p.Problems {
		found = found || (pr.Host == "slave2" && strings.Contains(pr.Summary, "holds data"))
	}
	if !found {
		t.Errorf("problems %v, want one about slave2's data", p.Problems)
	}
}
