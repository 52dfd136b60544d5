package watch

import (
	"fmt"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
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
	lostHosts, see := replicaViews(c, writer, live)
	var lost []string
	for _, name := range lostHosts {
		rs := live.Hosts[name].Replica
		lost = append(lost, fmt.Sprintf("%s (IO %s, error %d)", name, orNo(rs.IORunning), rs.LastIOErrno))
	}
	switch {
	case len(see) > 0:
		return WriterUnreachable, fmt.Sprintf("the monitor cannot reach %s but %s still replicate(s) from it", writer, strings.Join(see, ", "))
	case len(lost) == 0:
		return WriterUnreachable, fmt.Sprintf("the monitor cannot reach %s and no replica can confirm", writer)
	}
	return WriterDead, fmt.Sprintf("the monitor cannot reach %s and its replicas lost it too: %s", writer, strings.Join(lost, ", "))
}

// FaultKind names how the writer failed, which decides how it is fenced.
type FaultKind string

const (
	// FaultCrash: its server refuses connections (the process is gone) and
	// someone else confirms: its own agent, a witness or a replica.
	FaultCrash FaultKind = "crash"
	// FaultFrozen: the port accepts but the server never greets, and its own
	// agent, alive, confirms it from the host itself. Its agent fences it
	// (read_only, or SIGKILL when that cannot be done) before the promotion.
	FaultFrozen FaultKind = "frozen"
	// FaultHostLost: nothing of the host answers the monitor for
	// HostLostAfter, and a majority of the witnesses that answer cannot reach
	// it either. Promotion waits for every grant sent to it to run out.
	FaultHostLost FaultKind = "host lost"
)

// Finding is the detector's verdict on the writer.
type Finding struct {
	Verdict Verdict
	Kind    FaultKind // for WriterDead
	Why     string
	// ServerDown: nothing listens on the writer's server port, seen by the
	// monitor and confirmed from another side (its agent, a witness or the
	// replicas lost it); a crash seen only as a timeout is not. The failover
	// then keeps its VIPs until the new writer is writable (releaseLate).
	ServerDown bool
}

// DetectInput is what the detector reads: the latest facts, nothing else.
type DetectInput struct {
	Now    time.Time
	Writer string
	Facts  HostFacts // the writer's
	// Replicas: per host replicating from the writer, whether its IO thread
	// lost it (running with a connection error, or stopped).
	ReplicasLost, ReplicasSee []string
	// HostLostAfter: silence that makes a host lost; Fresh: how old a fact
	// may be to count (a few probe periods).
	HostLostAfter, Fresh time.Duration
	// FrozenAfter: how long the writer's agent must have found its server
	// connected-but-silent before that counts (a busy server greets late).
	FrozenAfter time.Duration
	// Agents: the cluster has agents (witnesses, fencing); without them the
	// replicas alone confirm (JudgeWriter).
	Agents bool
}

// Detect applies the detection rules (docs/watch.md, "Detection") to the
// writer's latest facts. It is pure: a table test covers every case.
func Detect(in DetectInput) Finding {
	f := in.Facts
	fresh := func(t time.Time) bool { return !t.IsZero() && in.Now.Sub(t) <= in.Fresh }
	serverFresh := fresh(f.Server.At)
	if serverFresh && f.Server.State == agent.ProbeOK && fresh(f.LiveOKAt) {
		return Finding{Verdict: WriterAlive}
	}
	agentUp := f.Agent != nil && fresh(f.AgentOKAt)
	var local string // the writer's agent's view of its own server
	if agentUp && f.Agent.Server != nil && time.Duration(f.Agent.Server.Age) <= in.Fresh {
		local = f.Agent.Server.State
	}
	// Witnesses that answered recently.
	var wSee, wLost, wRefused []string
	for _, name := range sortedWitnesses(f.Witnesses) {
		wf := f.Witnesses[name]
		if !fresh(wf.At) {
			continue
		}
		switch {
		case wf.Server == agent.ProbeOK || wf.Agent == agent.ProbeOK:
			wSee = append(wSee, name)
		default:
			wLost = append(wLost, name)
			if wf.Server == agent.ProbeRefused {
				wRefused = append(wRefused, name)
			}
		}
	}
	witnesses := len(wSee) + len(wLost)
	majorityLost := witnesses > 0 && 2*len(wLost) > witnesses

	switch {
	case serverFresh && f.Server.State == agent.ProbeRefused:
		// Nothing listens: the process is gone (kill -9, crash, stopped).
		var by []string
		agentSees := local != "" && local != agent.ProbeOK
		replicasLost := len(in.ReplicasLost) > 0 && len(in.ReplicasSee) == 0
		if agentSees {
			by = append(by, "its agent ("+local+")")
		}
		if len(wRefused) > 0 {
			by = append(by, "witnesses "+strings.Join(wRefused, ", "))
		}
		if replicasLost {
			by = append(by, "replicas "+strings.Join(in.ReplicasLost, ", "))
		}
		if len(by) > 0 {
			down := local == agent.ProbeRefused || len(wRefused) > 0 || replicasLost
			return Finding{WriterDead, FaultCrash, fmt.Sprintf("%s refuses connections (%s); confirmed by %s", in.Writer, f.Server.Detail, strings.Join(by, ", ")), down}
		}
		return Finding{Verdict: WriterUnreachable, Why: fmt.Sprintf("%s refuses connections from the monitor; nobody confirms yet", in.Writer)}
	case agentUp && (local == agent.ProbeFrozen || local == agent.ProbeTimeout) && f.Server.State != agent.ProbeOK &&
		time.Duration(f.Agent.Server.Since) >= in.FrozenAfter:
		return Finding{WriterDead, FaultFrozen, fmt.Sprintf("%s does not answer the monitor (%s) and its own agent confirms: the server is %s (%s)", in.Writer, orNo(f.Server.State), local, f.Agent.Server.Detail), false}
	case agentUp && local == agent.ProbeRefused:
		return Finding{WriterDead, FaultCrash, fmt.Sprintf("%s: its own agent finds the server down (%s)", in.Writer, f.Agent.Server.Detail), true}
	}
	silent := in.Now.Sub(f.LastContact())
	// "for 2562047h47m16s" says nothing: a host never heard from by this
	// watch process is silent since the watch started.
	silence := "for " + silent.Round(time.Millisecond).String()
	if f.LastContact().IsZero() {
		silence = "since the watch started"
	}
	if !in.Agents {
		return Finding{Verdict: WriterUnreachable, Why: fmt.Sprintf("the monitor has had no answer from %s %s", in.Writer, silence)}
	}
	switch {
	case agentUp:
		return Finding{Verdict: WriterUnreachable, Why: fmt.Sprintf("%s's server does not answer the monitor (%s) but its agent does and sees the server %s", in.Writer, orNo(f.Server.State), orNo(local))}
	case silent < in.HostLostAfter:
		return Finding{Verdict: WriterUnreachable, Why: fmt.Sprintf("no answer from %s %s (lost after %s)", in.Writer, silence, in.HostLostAfter)}
	case len(wSee) > 0 && !majorityLost:
		return Finding{Verdict: WriterUnreachable, Why: fmt.Sprintf("the monitor cannot reach %s but %s can: the monitor is cut off, not the writer", in.Writer, strings.Join(wSee, ", "))}
	case witnesses == 0:
		return Finding{Verdict: WriterUnreachable, Why: fmt.Sprintf("no answer from %s %s and no witness answers: the monitor may be the one cut off", in.Writer, silence)}
	case majorityLost:
		return Finding{WriterDead, FaultHostLost, fmt.Sprintf("no answer from %s or its agent %s, and witnesses %s cannot reach it either", in.Writer, silence, strings.Join(wLost, ", ")), false}
	}
	return Finding{Verdict: WriterUnreachable, Why: fmt.Sprintf("no answer from %s %s; witnesses split", in.Writer, silence)}
}

func sortedWitnesses(m map[string]WitnessFact) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

// replicaViews splits the hosts replicating from writer into those whose IO
// thread lost it and those that still see it.
func replicaViews(c *topology.Cluster, writer string, live *topology.Live) (lost, see []string) {
	w := c.Host(writer)
	if w == nil {
		return nil, nil
	}
	for _, h := range c.Hosts {
		if h.Name == writer {
			continue
		}
		lh := live.Hosts[h.Name]
		if lh == nil || !lh.Reachable || lh.Replica == nil {
			continue
		}
		if rs := lh.Replica; rs.SourceHost != w.Address && rs.SourceHost != w.Name {
			continue
		}
		if ioLost(lh.Replica) {
			lost = append(lost, h.Name)
		} else {
			see = append(see, h.Name)
		}
	}
	return lost, see
}
