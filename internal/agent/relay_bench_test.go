package agent

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkStatus is what the relay's hedging costs a request answered in
// time: Status on a local agent (a fresh one per run: its nonce store
// fills up) with and without Client.Relay.
func BenchmarkStatus(b *testing.B) {
	for _, relay := range []bool{false, true} {
		b.Run("relay="+strconv.FormatBool(relay), func(b *testing.B) {
			h := newHarness(&testing.T{}, "master1")
			defer h.srv.Close()
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(h.srv.URL, "http://"))
			cluster := testCluster()
			cluster.Agent.Port, _ = strconv.Atoi(port)
			c := &Client{Cluster: cluster, Relay: relay}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Status(context.Background(), "master1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
