package lab

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

func cluster(addrs ...string) *topology.Cluster {
	c := &topology.Cluster{}
	for i, a := range addrs {
		c.Hosts = append(c.Hosts, &topology.Host{Name: "h" + string(rune('1'+i)), Address: a, Port: 3306})
	}
	return c
}

func TestLabSubnet(t *testing.T) {
	tests := []struct {
		name    string
		cluster *topology.Cluster
		want    string // subnet, or "" when an error is expected
		errHas  []string
	}{
		{"one /24", cluster("198.18.0.11", "198.18.0.12"), "198.18.0.0/24", nil},
		{"upper half of the /15", cluster("198.19.255.2"), "198.19.255.0/24", nil},
		{"outside the range", cluster("198.18.0.11", "10.0.0.5"), "", []string{`host "h2"`, "10.0.0.5", "outside 198.18.0.0/15", "benchmark range"}},
		{"private range", cluster("192.168.2.206"), "", []string{`host "h1"`, "192.168.2.206", "outside 198.18.0.0/15"}},
		{"two /24s", cluster("198.18.0.11", "198.18.1.12"), "", []string{`host "h2"`, "198.18.1.12", "not in 198.18.0.0/24", `host "h1"`}},
		{"monitor address", cluster("198.18.0.1"), "", []string{"monitor address"}},
		{"broadcast", cluster("198.18.0.255"), "", []string{"broadcast"}},
		{"duplicate", cluster("198.18.0.11", "198.18.0.11"), "", []string{"also the address of host \"h1\""}},
		{"not an address", cluster("db1.example.com"), "", []string{"not an IPv4 address"}},
		{"no hosts", cluster(), "", []string{"no host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := labSubnet(tt.cluster)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got.String() != tt.want {
					t.Fatalf("subnet = %s, want %s", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", tt.errHas)
			}
			for _, s := range tt.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestLabSubnetChecksVIPs(t *testing.T) {
	c := cluster("198.18.0.11")
	c.Roles = []*topology.Role{{Name: "writer", IPs: []string{"192.168.2.201"}}}
	_, err := labSubnet(c)
	if err == nil || !strings.Contains(err.Error(), `role "writer"`) || !strings.Contains(err.Error(), "outside 198.18.0.0/15") {
		t.Fatalf("err = %v, want a refusal of the writer VIP", err)
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ addr, id, veth string }{
		{"198.18.0.11", "mmm18-0", "mmm18-0v11"},
		{"198.19.255.254", "mmm19-255", "mmm19-255v254"},
	} {
		c := cluster(tt.addr)
		p, err := labSubnet(c)
		if err != nil {
			t.Fatal(err)
		}
		id := labID(p)
		if id != tt.id {
			t.Errorf("labID = %s, want %s", id, tt.id)
		}
		got := vethName(id, netip.MustParseAddr(tt.addr))
		if got != tt.veth || len(got) > 15 {
			t.Errorf("vethName = %s, want %s (at most 15 characters)", got, tt.veth)
		}
	}
	if got := namespaceName("mmm18-4", "master1"); got != "mmm18-4-master1" {
		t.Errorf("namespaceName = %s", got)
	}
}

func TestRewriteSubnet(t *testing.T) {
	c := cluster("198.18.0.11", "198.18.0.12")
	c.Roles = []*topology.Role{{Name: "writer", IPs: []string{"198.18.0.100"}}}
	c.Monitor.PingIPs = []string{"198.18.0.1"}
	c.Monitor.Listen = "198.18.0.1:9988"
	c.Users = []*topology.User{{Name: "repl", Host: "198.18.0.%"}, {Name: "app", Host: "%"}}
	if err := RewriteSubnet(c, "198.18.2"); err != nil {
		t.Fatal(err)
	}
	got := []string{c.Hosts[0].Address, c.Hosts[1].Address, c.Roles[0].IPs[0], c.Monitor.PingIPs[0], c.Monitor.Listen, c.Users[0].Host, c.Users[1].Host}
	want := []string{"198.18.2.11", "198.18.2.12", "198.18.2.100", "198.18.2.1", "198.18.2.1:9988", "198.18.2.%", "%"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rewritten[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	if err := RewriteSubnet(c, "10.0.0"); err == nil {
		t.Error("rewrite to 10.0.0.0/24 accepted, want refusal")
	}
}
