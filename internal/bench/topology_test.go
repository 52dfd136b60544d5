package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/schema"
)

func TestLabTopology(t *testing.T) {
	for _, tc := range []struct {
		hosts   int
		subnet  string
		readers []string
	}{
		{2, "198.18.10", []string{"master1", "master2"}},
		{4, "198.18.11", []string{"slave1", "slave2"}},
		{8, "198.18.12", []string{"slave1", "slave2", "slave3", "slave4", "slave5", "slave6"}},
	} {
		t.Run(fmt.Sprint(tc.hosts), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mmm.hcl")
			if err := writeLabTopology("../../examples/lab/mmm.hcl", path, tc.subnet, tc.hosts); err != nil {
				t.Fatal(err)
			}
			loader := schema.NewLoader(schema.Options{RequireSecrets: true})
			c, diags := loader.Load(path)
			if diags.HasErrors() {
				var buf bytes.Buffer
				_ = loader.WriteDiagnostics(&buf, diags)
				t.Fatalf("the generated file does not load:\n%s", buf.String())
			}
			if len(c.Hosts) != tc.hosts {
				t.Fatalf("%d hosts, want %d", len(c.Hosts), tc.hosts)
			}
			seen := map[string]bool{}
			for _, h := range c.Hosts {
				if !strings.HasPrefix(h.Address, tc.subnet+".") || seen[h.Address] {
					t.Errorf("host %s: address %s, want a unique one in %s.0/24", h.Name, h.Address, tc.subnet)
				}
				seen[h.Address] = true
			}
			if c.Host("master1") == nil || c.Host("master2") == nil || c.Host("master1").Mode != topology.ModeMaster {
				t.Errorf("the masters are missing or changed: %+v", c.Hosts)
			}
			if got := c.Role("reader").Hosts; fmt.Sprint(got) != fmt.Sprint(tc.readers) {
				t.Errorf("reader hosts %v, want %v", got, tc.readers)
			}
			for _, u := range c.Users {
				if strings.HasPrefix(u.Host, "198.18.0.") {
					t.Errorf("user %s@%s still in the example's subnet", u.Name, u.Host)
				}
			}
		})
	}
}

func TestLabTopologyRefusesTooFewHosts(t *testing.T) {
	src, err := os.ReadFile("../../examples/lab/mmm.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := labTopology(src, "mmm.hcl", "198.18.10", 1); err == nil {
		t.Fatal("1 host: no error, want one (a cluster has two masters)")
	}
}

func TestStats(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		in          []time.Duration
		lo, med, hi time.Duration
	}{
		{nil, 0, 0, 0},
		{[]time.Duration{5 * ms}, 5 * ms, 5 * ms, 5 * ms},
		{[]time.Duration{9 * ms, 1 * ms, 5 * ms}, 1 * ms, 5 * ms, 9 * ms},
		{[]time.Duration{4 * ms, 1 * ms, 2 * ms, 100 * ms}, 1 * ms, 3 * ms, 100 * ms},
	} {
		lo, med, hi := stats(tc.in)
		if lo != tc.lo || med != tc.med || hi != tc.hi {
			t.Errorf("stats(%v) = %v, %v, %v; want %v, %v, %v", tc.in, lo, med, hi, tc.lo, tc.med, tc.hi)
		}
	}
}
