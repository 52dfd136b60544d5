package plan

import (
	"cmp"
	"strings"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// withSlave3 is the converged lab (data on master1) plus an empty slave3 that
// never replicated.
func withSlave3(boot *topology.Bootstrap, schemas ...string) (*topology.Cluster, *topology.Live) {
	c := labCluster()
	s3 := *c.Hosts[2]
	s3.Name, s3.Address, s3.Bootstrap = "slave3", "198.18.0.15", boot
	c.Hosts = append(c.Hosts, &s3)
	live := convergedLive(c)
	for _, lh := range live.Hosts {
		lh.UserSchemas = []string{"shop"}
	}
	lh := live.Hosts["slave3"]
	lh.Replica, lh.GTIDSlavePos, lh.GTIDBinlogPos, lh.GTIDCurrentPos = nil, "", "0-5-3", "0-5-3"
	lh.UserSchemas = schemas
	return c, live
}

// withAgents gives the cluster an agent block and every host an answering
// agent, then applies change.
func withAgents(change func(live *topology.Live)) func(*topology.Cluster, *topology.Live) {
	return func(c *topology.Cluster, live *topology.Live) {
		c.Agent.Enabled = true
		live.Agents = map[string]*topology.LiveAgent{}
		for _, h := range c.Hosts {
			live.Agents[h.Name] = &topology.LiveAgent{Reachable: true, Mode: "static"}
		}
		if change != nil {
			change(live)
		}
	}
}

// onMySQL makes every server report MySQL version.
func onMySQL(version string) func(*topology.Cluster, *topology.Live) {
	return func(c *topology.Cluster, live *topology.Live) {
		c.Flavor = "mysql"
		for _, lh := range live.Hosts {
			lh.Version = version
		}
	}
}

func hostSteps(p *Plan, host string) []string {
	var out []string
	for _, s := range p.Steps {
		if s.Host == host {
			out = append(out, string(s.Kind)+":"+strings.SplitN(s.ID, ":", 3)[2])
		}
	}
	return out
}

func TestBootstrap(t *testing.T) {
	tests := []struct {
		name      string
		boot      *topology.Bootstrap
		schemas   []string
		modify    func(c *topology.Cluster, live *topology.Live)
		donor     string // "" = no clone step
		method    string // of the clone step; "" = logical
		unsafe    bool
		problem   string // a problem summary must contain this
		severity  Severity
		wantSteps []string
	}{
		{name: "empty slave: clone from the first healthy slave, then replicate",
			donor: "slave1",
			wantSteps: []string{"reset_binlog:binlog", "clone_host:data",
				"change_source:replica", "start_replica:replica"}},
		{name: "named donor", boot: &topology.Bootstrap{Donor: "slave2"}, donor: "slave2"},
		{name: "the writer only when named", boot: &topology.Bootstrap{Donor: "master1"}, donor: "master1"},
		{name: "a broken slave is no default donor",
			modify: func(c *topology.Cluster, live *topology.Live) {
				live.Hosts["slave1"].Replica.SQLRunning, live.Hosts["slave1"].Replica.LastSQLErrno = "No", 1062
			},
			donor: "slave2"},
		{name: "no healthy slave: the standby master",
			modify: func(c *topology.Cluster, live *topology.Live) {
				live.Hosts["slave1"].Replica.IORunning = "No"
				live.Hosts["slave2"].Reachable = false
			},
			donor: "master2"},
		{name: "no donor at all: reported, nothing planned",
			modify: func(c *topology.Cluster, live *topology.Live) {
				for _, n := range []string{"slave1", "slave2", "master2"} {
					live.Hosts[n].Replica.IORunning = "No"
				}
			},
			problem: "has no donor", severity: SeverityWarning},
		{name: "unknown donor", boot: &topology.Bootstrap{Donor: "nope"}, problem: `bootstrap.donor "nope"`, severity: SeverityWarning},
		{name: "physical on MariaDB without agents: refused", boot: &topology.Bootstrap{Method: "physical"},
			problem: `needs mmm agent on slave1 and slave3, and the file has no agent block`, severity: SeverityError},
		{name: "physical on MariaDB through the agents", boot: &topology.Bootstrap{Method: "physical"},
			modify: withAgents(nil), donor: "slave1", method: ClonePhysical},
		{name: "physical with the target's agent silent: refused", boot: &topology.Bootstrap{Method: "physical"},
			modify:  withAgents(func(live *topology.Live) { live.Agents["slave3"] = &topology.LiveAgent{Error: "connection refused"} }),
			problem: `needs the agent on slave3, which does not answer`, severity: SeverityError},
		{name: "physical on MySQL 8.0.16: no CLONE plugin", boot: &topology.Bootstrap{Method: "physical"},
			modify:  onMySQL("8.0.16"),
			problem: `needs MySQL 8.0.17 or later`, severity: SeverityError},
		{name: "physical on MySQL 8.4: the CLONE plugin, no agent needed", boot: &topology.Bootstrap{Method: "physical"},
			modify: onMySQL("8.4.3"), donor: "slave1", method: ClonePhysical},
		{name: "unknown method", boot: &topology.Bootstrap{Method: "rsync"},
			problem: `unknown method "rsync"`, severity: SeverityError},
		{name: "partial clone: redone, safely", schemas: []string{"mmm_clone", "shop"}, donor: "slave1"},
		{name: "data of its own, no bootstrap block: reported, never overwritten", schemas: []string{"mine"},
			problem: "holds data (mine) but never replicated", severity: SeverityWarning},
		{name: "data of its own with a bootstrap block: an unsafe clone", boot: &topology.Bootstrap{Donor: "slave1"},
			schemas: []string{"mine"}, donor: "slave1", unsafe: true, problem: "would overwrite it", severity: SeverityWarning},
		{name: "the writer holds no data: plain replication",
			modify: func(c *topology.Cluster, live *topology.Live) { live.Hosts["master1"].UserSchemas = nil },
			wantSteps: []string{"reset_binlog:binlog", "set_variable:gtid_slave_pos",
				"change_source:replica", "start_replica:replica"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, live := withSlave3(tt.boot, tt.schemas...)
			if tt.modify != nil {
				tt.modify(c, live)
			}
			p := Diff(c, live, Options{Now: testNow})
			var clone *Step
			for i := range p.Steps {
				if p.Steps[i].Kind == KindCloneHost {
					clone = &p.Steps[i]
				}
			}
			if tt.donor == "" {
				if clone != nil {
					t.Fatalf("unexpected clone step %+v", clone)
				}
			} else {
				if clone == nil {
					t.Fatalf("no clone step; steps %v problems %+v", hostSteps(p, "slave3"), p.Problems)
				}
				if clone.Host != "slave3" || clone.Clone.Donor != tt.donor || clone.Clone.Method != cmp.Or(tt.method, CloneLogical) {
					t.Errorf("clone step %+v %+v, want donor %s", clone, clone.Clone, tt.donor)
				}
				if clone.Unsafe != tt.unsafe || clone.Clone.Overwrite != tt.unsafe {
					t.Errorf("unsafe = %v overwrite = %v, want %v", clone.Unsafe, clone.Clone.Overwrite, tt.unsafe)
				}
				if clone.Clone.Method == ClonePhysical {
					// The server restarts on the copy: the rest is planned again after it.
					if got := strings.Join(hostSteps(p, "slave3"), " "); got != "reset_binlog:binlog clone_host:data" {
						t.Errorf("slave3 steps %s, want only the reset and the copy", got)
					}
					if !strings.Contains(strings.Join(p.Notes, "\n"), "second round") {
						t.Errorf("no note of the second round in %q", p.Notes)
					}
					return
				}
				// The position comes from the clone: no gtid_slave_pos step,
				// and change_source runs after the clone.
				cs := p.Step("slave3:change_source:replica")
				if cs == nil || p.Step("slave3:set_variable:gtid_slave_pos") != nil {
					t.Fatalf("slave3 steps %v", hostSteps(p, "slave3"))
				}
				if !contains(cs.DependsOn, clone.ID) {
					t.Errorf("change_source depends on %v, want the clone", cs.DependsOn)
				}
			}
			if tt.problem != "" {
				found := false
				for _, pr := range p.Problems {
					if strings.Contains(pr.Summary, tt.problem) && pr.Severity == tt.severity && pr.Host == "slave3" {
						found = true
					}
				}
				if !found {
					t.Errorf("no %s problem %q in %+v", tt.severity, tt.problem, p.Problems)
				}
				if tt.donor == "" && (p.Step("slave3:change_source:replica") != nil || p.Step("slave3:start_replica:replica") != nil) {
					t.Errorf("replication planned for a blocked host: %v", hostSteps(p, "slave3"))
				}
			}
			if tt.wantSteps != nil {
				if got := hostSteps(p, "slave3"); strings.Join(got, " ") != strings.Join(tt.wantSteps, " ") {
					t.Errorf("slave3 steps\n got %v\nwant %v", got, tt.wantSteps)
				}
			}
		})
	}
}

func TestBootstrapPhysicalRendered(t *testing.T) {
	c, live := withSlave3(&topology.Bootstrap{Method: ClonePhysical})
	withAgents(nil)(c, live)
	p := Diff(c, live, Options{Now: testNow})
	var b strings.Builder
	if err := Render(&b, p); err != nil {
		t.Fatal(err)
	}
	if s := p.Step("slave3:clone_host:data"); s == nil || s.Clone.Tool != ToolMariabackup {
		t.Fatalf("clone step %+v", s)
	}
	for _, want := range []string{"+ empty -> copy of slave1 (physical)", "mariabackup streamed from slave1's agent to slave3's"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("rendered plan lacks %q:\n%s", want, b.String())
		}
	}
}

func TestBootstrapRendered(t *testing.T) {
	c, live := withSlave3(nil)
	p := Diff(c, live, Options{Now: testNow})
	var b strings.Builder
	if err := Render(&b, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"+ empty -> copy of slave1 (logical)", "copy slave3 from slave1 (logical)", "gtid_slave_pos = the snapshot's GTID position"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("rendered plan lacks %q:\n%s", want, b.String())
		}
	}
}
