package watch

import (
	"fmt"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Verdict is what the watch concludes about the writer.
type Verdict string

const (
	// WriterAlive: the monitor reaches it.
	WriterAlive Verdict = "alive"
	// WriterUnreachable: the monitor lost it (for the trap period) but the
	// replicas do not confirm: no failover, the monitor may be the one cut off.
	WriterUnreachable Verdict = "unreachable"
	// WriterDead: the monitor lost it and every replica that can be asked
	// lost it too.
	WriterDead Verdict = "dead"
)

// ioLost reports whether a replica's IO thread has lost its source: not
// running, or retrying with a connection error (2003 can't connect, 2013
// lost connection during query, 2006 gone away).
func ioLost(rs *topology.ReplicaStatus) bool {
	if rs == nil {
		return false
	}
	if rs.IORunning != "Yes" {
		return true
	}
	switch rs.LastIOErrno {
	case 2003, 2013, 2006:
		return true
	}
	return false
}

// JudgeWriter applies the detection rule: the writer is dead only when the
// monitor cannot reach it for the trap period (monitorLost, the ping and
// mysql checks' trapped verdict) and the replicas confirm: every reachable
// host that replicates from the writer has lost it. With no replica to ask,
// the monitor's word is not enough: unreachable. The second value explains.
func JudgeWriter(c *topology.Cluster, writer string, monitorLost bool, live *topology.Live) (Verdict, string) {
	if !monitorLost {
		return WriterAlive, ""
	}
	w := c.Host(writer)
	if w == nil {
		return WriterUnreachable, "writer " + writer + " is not declared"
	}
	var lost, see []string
	for _, h := range c.Hosts {
		if h.Name == writer {
			continue
		}
		lh := live.Hosts[h.Name]
		if lh == nil || !lh.Reachable || lh.Replica == nil {
			continue
		}
		rs := lh.Replica
		if rs.SourceHost != w.Address && rs.SourceHost != w.Name {
			continue
		}
		if ioLost(rs) {
			lost = append(lost, fmt.Sprintf("%s (IO %s, error %d)", h.Name, orNo(rs.IORunning), rs.LastIOErrno))
		} else {
			see = append(see, h.Name)
		}
	}
	switch {
	case len(see) > 0:
		return WriterUnreachable, fmt.Sprintf("the monitor cannot reach %s but %s still replicate(s) from it", writer, strings.Join(see, ", "))
	case len(lost) == 0:
		return WriterUnreachable, fmt.Sprintf("the monitor cannot reach %s and no replica can confirm", writer)
	}
	return WriterDead, fmt.Sprintf("the monitor cannot reach %s and its replicas lost it too: %s", writer, strings.Join(lost, ", "))
}
