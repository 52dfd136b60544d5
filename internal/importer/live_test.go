package importer

import (
	"strings"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// srv is a discovered server for classify tests: addr replicates from src
// ("" none), read_only ro.
func srv(addr, src string, ro bool, id uint32) *server {
	lh := &topology.LiveHost{ServerID: id, ReadOnly: ro}
	if src != "" {
		lh.Replica = &topology.ReplicaStatus{SourceHost: src, SourcePort: 3306}
	}
	return &server{addr: addr, port: 3306, live: lh}
}

func discovered(servers ...*server) *discovery {
	d := &discovery{byEndpoint: map[string]*server{}, byID: map[uint32]*server{}}
	for _, s := range servers {
		d.servers = append(d.servers, s)
		d.byEndpoint[s.endpoint().String()] = s
		d.byID[s.live.ServerID] = s
	}
	return d
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name            string
		servers         []*server
		writer, standby string
		slaves          string
		err, problem    string
	}{
		{
			name: "classic: writable master, standby, two slaves",
			servers: []*server{
				srv("10.0.0.13", "10.0.0.11", true, 3), srv("10.0.0.11", "10.0.0.12", false, 1),
				srv("10.0.0.12", "10.0.0.11", true, 2), srv("10.0.0.14", "10.0.0.11", true, 4),
			},
			writer: "10.0.0.11", standby: "10.0.0.12", slaves: "10.0.0.13 10.0.0.14",
		},
		{
			name:    "after a failover the second master writes",
			servers: []*server{srv("10.0.0.11", "10.0.0.12", true, 1), srv("10.0.0.12", "10.0.0.11", false, 2), srv("10.0.0.13", "10.0.0.12", true, 3)},
			writer:  "10.0.0.12", standby: "10.0.0.11", slaves: "10.0.0.13",
		},
		{
			name: "both read-only: the one the slaves follow, and a problem",
			servers: []*server{
				srv("10.0.0.11", "10.0.0.12", true, 1), srv("10.0.0.12", "10.0.0.11", true, 2),
				srv("10.0.0.13", "10.0.0.12", true, 3), srv("10.0.0.14", "10.0.0.12", true, 4),
			},
			writer: "10.0.0.12", standby: "10.0.0.11", slaves: "10.0.0.13 10.0.0.14", problem: "both masters",
		},
		{
			name:    "no pair: a plain master and slaves",
			servers: []*server{srv("10.0.0.11", "", false, 1), srv("10.0.0.13", "10.0.0.11", true, 3)},
			err:     "no two servers replicate from each other",
		},
		{
			name: "two pairs",
			servers: []*server{
				srv("10.0.0.11", "10.0.0.12", false, 1), srv("10.0.0.12", "10.0.0.11", true, 2),
				srv("10.0.0.21", "10.0.0.22", false, 3), srv("10.0.0.22", "10.0.0.21", true, 4),
			},
			err: "2 pairs",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := discovered(tc.servers...)
			w, s, slaves, err := d.classify()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, x := range slaves {
				names = append(names, x.addr)
			}
			if w.addr != tc.writer || s.addr != tc.standby || strings.Join(names, " ") != tc.slaves {
				t.Errorf("writer %s standby %s slaves %v, want %s %s %s", w.addr, s.addr, names, tc.writer, tc.standby, tc.slaves)
			}
			if tc.problem != "" && (!d.findings.HasProblems() || !strings.Contains(d.findings[0].Message, tc.problem)) {
				t.Errorf("findings %v, want a problem %q", d.findings, tc.problem)
			}
			if tc.problem == "" && len(d.findings) > 0 {
				t.Errorf("unexpected findings %v", d.findings)
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1": "10.0.0.1:3306", "10.0.0.1:3307": "10.0.0.1:3307", "db1": "db1:3306", "db1:3310": "db1:3310",
	} {
		e, err := parseEndpoint(in)
		if err != nil || e.String() != want {
			t.Errorf("parseEndpoint(%q) = %v, %v; want %s", in, e, err, want)
		}
	}
	for _, bad := range []string{"", "10.0.0.1:x", "10.0.0.1:0"} {
		if _, err := parseEndpoint(bad); err == nil {
			t.Errorf("parseEndpoint(%q) accepted", bad)
		}
	}
}

func TestNamesForEnvAndAccounts(t *testing.T) {
	for in, want := range map[string]string{"app": "APP", "mmm_monitor": "MMM_MONITOR", "%": "ANY", "192.168.0.%": "192_168_0_ANY", "web-1": "WEB_1"} {
		if got := envPart(in); got != want {
			t.Errorf("envPart(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		addrs []string
		want  string
	}{
		{[]string{"192.168.0.11", "192.168.0.12"}, "192.168.0.%"},
		{[]string{"192.168.0.11", "192.168.1.12"}, "%"},
		{nil, "%"},
	} {
		if got := networkPattern(tc.addrs); got != tc.want {
			t.Errorf("networkPattern(%v) = %q, want %q", tc.addrs, got, tc.want)
		}
	}
}

func TestFromMMMMariaDBFlavorValidates(t *testing.T) {
	f, _, err := FromMMM(MMMOptions{Dir: "testdata/mmm/guide", Flavor: "mariadb"})
	if err != nil {
		t.Fatal(err)
	}
	checkGenerated(t, Render(f), "Account can write to a fenced master")
}
