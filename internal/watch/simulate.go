package watch

// Simulate: what the watch would do now if some hosts failed, changing
// nothing. It turns the live cluster and a hypothetical fault into the facts
// the probes would publish, then runs the watch's own decision code on them:
// Detect (or JudgeWriter without agents), ChooseCandidate, asyncLoss,
// plan.FailoverTarget and plan.Failover, and Place for the balanced roles.
// Only the fence decision is restated here (fenceOutlook): in failover.go
// it is interleaved with the fence itself.

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/gtid"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// SimFault is a hypothetical fault of one host.
type SimFault string

const (
	// SimCrash: the host's database server dies (kill -9, crash); the host
	// and its agent stay up.
	SimCrash SimFault = "crash"
	// SimHostLost: the whole host goes silent (power, network): its server
	// and its agent answer nobody.
	SimHostLost SimFault = "host lost"
	// SimCut: the monitor alone loses the host; the other hosts still reach
	// it.
	SimCut SimFault = "cut"
	// SimFrozen: the host's server hangs: its port accepts connections but
	// it never greets (SIGSTOP, a stuck disk); the host and its agent stay.
	SimFrozen SimFault = "frozen"
)

// SimInput is the simulation's input: the cluster as read now and the
// faults to imagine.
type SimInput struct {
	Cluster *topology.Cluster
	// Live is the cluster as inspected now (with agents and VIPs when the
	// cluster has agents), before any fault.
	Live *topology.Live
	// Writer is the host the watch keeps as the writer.
	Writer string
	// States are the watch's host states; nil when no watch answered: then
	// every reachable host counts as ONLINE.
	States map[string]State
	// SemiSyncOffSince: when the running watch saw the writer fall back to
	// asynchronous replication (zero: unknown; the live state decides).
	SemiSyncOffSince time.Time
	// Mode is the running watch's mode ("": none answered; simulate an
	// active one). Only an active watch fails over.
	Mode   Mode
	Faults map[string]SimFault
	Now    time.Time
}

// SimCandidate is one host weighed for promotion.
type SimCandidate struct {
	Host     string `json:"host"`
	Eligible bool   `json:"eligible"`
	Chosen   bool   `json:"chosen"`
	Why      string `json:"why"`
	Position string `json:"position,omitempty"`
}

// SimVIP is one VIP that would move.
type SimVIP struct {
	IP   string `json:"ip"`
	Role string `json:"role"`
	From string `json:"from"` // "" none
	To   string `json:"to"`   // "" none
}

// SimRisk is what a failover would put at risk.
type SimRisk struct {
	WriterPosition    string `json:"writer_position,omitempty"`
	CandidatePosition string `json:"candidate_position,omitempty"` // what it holds once it applied what it received
	// Missing: the writer's GTIDs the candidate has not received;
	// MissingCount about how many transactions that is.
	Missing      string `json:"missing,omitempty"`
	MissingCount uint64 `json:"missing_count"`
	// SecondsBehind is the candidate's Seconds_Behind_Master (nil: unknown).
	SecondsBehind *int64 `json:"seconds_behind,omitempty"`
	// Fetched: what the candidate would take from a slave ahead of it
	// before its promotion (plan.Failover's catch-up).
	Fetched string `json:"fetched,omitempty"`
	// Lost: the writer's GTIDs the new writer would not hold even after the
	// catch-up.
	Lost string `json:"lost,omitempty"`
	// SemiSync says whether the writes the writer acknowledged are safe.
	SemiSync string `json:"semi_sync"`
	// Ahead: replicas that hold transactions the new writer would not have
	// (left alone, reported); Behind: replicas not repointed now because
	// they are unreachable (they follow once back).
	Ahead  []string `json:"ahead,omitempty"`
	Behind []string `json:"left_behind,omitempty"`
}

// Simulation is the answer: what the watch would do.
type Simulation struct {
	Writer string              `json:"writer"`
	Faults map[string]SimFault `json:"faults"`
	// Verdict is the detector's verdict on the writer once the faults
	// happened; Kind and Why explain it.
	Verdict Verdict   `json:"verdict"`
	Kind    FaultKind `json:"fault_kind,omitempty"`
	Why     string    `json:"why,omitempty"`
	// Failover: the watch would promote Candidate. NoFailover says why not
	// when the writer is found dead but the watch would not fail over.
	Failover   bool           `json:"failover"`
	NoFailover string         `json:"no_failover,omitempty"`
	Candidate  string         `json:"candidate,omitempty"`
	Candidates []SimCandidate `json:"candidates,omitempty"`
	Fence      string         `json:"fence,omitempty"`
	Plan       *plan.Plan     `json:"plan,omitempty"`
	VIPs       []SimVIP       `json:"vips,omitempty"`
	Risk       *SimRisk       `json:"risk,omitempty"`
	// Notes: further consequences (hosts that would leave ONLINE).
	Notes []string `json:"notes,omitempty"`
}

// Acts reports whether the watch would change anything: a failover, or
// roles moving off failed hosts.
func (s *Simulation) Acts() bool { return s.Failover || len(s.VIPs) > 0 }

// Simulate says what the watch would do now if in.Faults happened. It is
// pure: it changes nothing and reads nothing but its input.
func Simulate(in SimInput) (*Simulation, error) {
	c := in.Cluster
	if c == nil || in.Live == nil {
		return nil, errors.New("simulate: no cluster or live state")
	}
	for h := range in.Faults {
		if c.Host(h) == nil {
			return nil, fmt.Errorf("%q is not a host of cluster %q", h, c.Name)
		}
	}
	if in.Writer == "" || c.Host(in.Writer) == nil {
		return nil, errors.New("there is no single writer to simulate from (no watch answered and not exactly one master is writable)")
	}
	if lh := in.Live.Hosts[in.Writer]; lh == nil || !lh.Reachable {
		return nil, fmt.Errorf("the writer %s is not reachable now: what a fault would change cannot be told", in.Writer)
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	w := &Watch{c: c} // for the watch's own timing rules (probePeriod, hostLostAfter, lease)
	before := in.Live
	live := faultedLive(c, before, in.Faults)
	sim := &Simulation{Writer: in.Writer, Faults: in.Faults, Verdict: WriterAlive}

	states := in.States
	if states == nil {
		states = map[string]State{}
		for _, h := range c.Hosts {
			if lh := before.Hosts[h.Name]; lh != nil && lh.Reachable {
				states[h.Name] = Online
			} else {
				states[h.Name] = HardOffline
			}
		}
	}

	// Detection, as checkWriter's detect does it.
	fault, writerFails := in.Faults[in.Writer]
	var finding Finding
	if writerFails {
		finding = detectSimulated(w, c, in, before, live, fault)
		sim.Verdict, sim.Kind, sim.Why = finding.Verdict, finding.Kind, finding.Why
	}
	newWriter := in.Writer
	if sim.Verdict == WriterDead {
		newWriter = simFailover(w, sim, in, states, before, live, fault, finding)
	}
	if in.Mode != "" && in.Mode != ModeActive {
		// A manual or passive watch reports and changes nothing; what an
		// active one would do stays in the answer (Plan), for reading.
		if sim.Failover {
			sim.NoFailover = fmt.Sprintf("the watch is in %s mode: it reports the writer dead and does not fail over (in active mode it would promote %s)", in.Mode, sim.Candidate)
		}
		sim.Failover, sim.VIPs = false, nil
		sim.Notes = append(sim.Notes, fmt.Sprintf("the watch is in %s mode: it moves no role by itself", in.Mode))
		return sim, nil
	}

	// Hosts that would leave ONLINE, and the balanced roles' IPs that
	// would follow (Place, as the round does).
	online := func(h string) bool {
		if _, failed := in.Faults[h]; failed {
			return false
		}
		return states[h] == Online
	}
	for _, h := range sortedFaults(in.Faults) {
		if states[h] == Online && !(h == in.Writer && !sim.Failover) {
			sim.Notes = append(sim.Notes, fmt.Sprintf("%s leaves ONLINE (%s) and gives up its roles", h, in.Faults[h]))
		}
	}
	if in.Faults[in.Writer] == SimCut && sim.Verdict != WriterDead && c.Agent.Enabled {
		lease := w.lease()
		sim.Notes = append(sim.Notes, fmt.Sprintf("the monitor renews %s's lease through another host's agent (relay); if no other agent reaches %s either, a cut longer than the lease (%s) makes its agent fence it, and writes stop until the monitor reaches it again", in.Writer, in.Writer, lease))
	}
	if !c.Agent.Enabled {
		return sim, nil // without agents the watch places no VIP
	}
	current := Placement{}
	for ip, holders := range before.VIPs {
		if len(holders) > 0 {
			current[ip] = holders[0]
		}
	}
	want := Place(c, online, current, newWriter)
	for _, role := range c.Roles {
		if role.Mode == topology.RoleExclusive {
			continue // the writer's IPs move with the failover plan only
		}
		for _, ip := range role.IPs {
			if current[ip] != want[ip] {
				sim.VIPs = append(sim.VIPs, SimVIP{IP: ip, Role: role.Name, From: current[ip], To: want[ip]})
			}
		}
	}
	return sim, nil
}

// simFailover runs what failover does up to (not including) the fence and
// the execution, and fills sim. It returns the writer afterwards.
func simFailover(w *Watch, sim *Simulation, in SimInput, states map[string]State, before, live *topology.Live, fault SimFault, finding Finding) string {
	c, dead := in.Cluster, in.Writer
	writerPos := plan.Executed(before.Hosts[dead])
	choice := ChooseCandidate(c, dead, states, live, writerPos)
	for _, cand := range choice.Candidates {
		sc := SimCandidate{Host: cand.Host, Eligible: cand.Eligible, Chosen: cand.Host == choice.Host, Why: cand.Why}
		if cand.Eligible {
			sc.Position = cand.Position.String()
			if !sc.Chosen {
				sc.Why += ", but " + choice.Host + " is further or preferred"
			}
		}
		sim.Candidates = append(sim.Candidates, sc)
	}
	if choice.Host == "" {
		sim.NoFailover = "failover of " + dead + " impossible: " + choice.Explain()
		return dead
	}
	cand := choice.Host
	sim.Candidate = cand
	sim.Risk = simRisk(c, before, live, dead, cand, writerPos)

	// asyncLoss, with the semi-sync window the watch would have recorded.
	aw := &Watch{c: c, writerPos: writerPos, semiSyncHost: dead}
	if c.Replication.SemiSync {
		if active, known, _ := writerSemiSync(before.Hosts[dead]); known && !active {
			aw.semiSyncOff = in.Now
			if !in.SemiSyncOffSince.IsZero() {
				aw.semiSyncOff = in.SemiSyncOffSince
			}
		}
	}
	if msg := aw.asyncLoss(dead, cand, live); msg != "" {
		sim.NoFailover = msg
		return dead
	}
	late := releaseLate(finding, c.Agent.Enabled && agentReachable(before, dead))
	fence, err := lateFence, error(nil)
	if !late {
		fence, err = fenceOutlook(w, c, before, dead, fault)
	}
	if err != nil {
		sim.NoFailover = fmt.Sprintf("failover of %s to %s held: %v", dead, cand, err)
		return dead
	}
	sim.Fence = fence
	sim.Failover = true
	// The plan is made on a fresh look at every host but the fenced old
	// writer (freshLive), which is what live is.
	if late && before.VIPs != nil {
		// The VIPs it holds, from before the fault (live is after it).
		if live.VIPs == nil {
			live.VIPs = map[string][]string{}
		}
		for ip, holders := range before.VIPs {
			if contains(holders, dead) && !contains(live.VIPs[ip], dead) {
				live.VIPs[ip] = append(live.VIPs[ip], dead)
			}
		}
	}
	sim.Plan = plan.Failover(c, live, plan.FailoverOptions{
		Dead: dead, Candidate: cand, Fenced: !late, Now: in.Now.UTC(),
		Why: fmt.Sprintf("%s; %s; fenced: %s", sim.Why, choice.Explain(), fence),
	})
	for _, s := range sim.Plan.Steps {
		if c.Agent.Enabled && s.VIP != nil && s.Kind == plan.KindAssignVIP {
			sim.VIPs = append(sim.VIPs, SimVIP{IP: s.VIP.IP, Role: s.VIP.Role, From: s.VIP.From, To: s.VIP.To})
		}
	}
	for _, pr := range sim.Plan.Problems {
		if pr.Kind == plan.ProblemReplicaAhead && pr.Host != dead {
			sim.Risk.Ahead = append(sim.Risk.Ahead, pr.Summary)
		}
	}
	return cand
}

// detectSimulated builds the facts the probes would publish a moment after
// fault hit the writer, and runs the detector on them as detect does.
func detectSimulated(w *Watch, c *topology.Cluster, in SimInput, before, live *topology.Live, fault SimFault) Finding {
	if !c.Agent.Enabled {
		// No agents: the monitor's ping and mysql checks fail for their trap
		// period, the replicas confirm.
		v, why := JudgeWriter(c, in.Writer, true, live)
		return Finding{Verdict: v, Kind: FaultHostLost, Why: why}
	}
	lost, see := replicaViews(c, in.Writer, live)
	return Detect(DetectInput{
		Now: in.Now, Writer: in.Writer, Facts: simFacts(w, c, in, before, fault),
		ReplicasLost: lost, ReplicasSee: see,
		HostLostAfter: w.hostLostAfter(), Fresh: w.hostLostAfter(), FrozenAfter: 2 * w.probePeriod(),
		Agents: true,
	})
}

// simFacts: the writer's facts once fault happened, as late as the watch
// would act on them: at once for a crash, after host_lost_after for a
// silent host.
func simFacts(w *Watch, c *topology.Cluster, in SimInput, before *topology.Live, fault SimFault) HostFacts {
	now, period := in.Now, w.probePeriod()
	writer := in.Writer
	agentWasUp := agentReachable(before, writer)
	f := HostFacts{Witnesses: map[string]WitnessFact{}}
	silentSince := now.Add(-w.hostLostAfter() - period) // long enough to count as lost
	switch fault {
	case SimCrash:
		f.Server = ServerFact{State: agent.ProbeRefused, Detail: "connection refused (simulated crash)", At: now}
		f.ServerOKAt, f.LiveOKAt = now.Add(-period), now.Add(-period)
		if agentWasUp {
			f.Agent = &agent.Status{Server: &agent.ServerHealth{State: agent.ProbeRefused, Detail: "connection refused (simulated crash)"}}
			f.AgentOKAt = now
		}
	case SimFrozen:
		f.Server = ServerFact{State: agent.ProbeFrozen, Detail: "connected, no greeting (simulated freeze)", At: now}
		f.ServerOKAt, f.LiveOKAt = silentSince, silentSince
		if agentWasUp {
			// Its agent has found it silent for the frozen period already.
			f.Agent = &agent.Status{Server: &agent.ServerHealth{State: agent.ProbeFrozen, Detail: "connected, no greeting (simulated freeze)", Since: agent.Duration(2 * period)}}
			f.AgentOKAt = now
		}
	case SimHostLost, SimCut:
		f.Server = ServerFact{State: agent.ProbeTimeout, Detail: "no answer (simulated)", At: now}
		f.ServerOKAt, f.LiveOKAt = silentSince, silentSince
		if agentWasUp {
			f.Agent = &agent.Status{Server: &agent.ServerHealth{State: agent.ProbeOK}}
			f.AgentOKAt = silentSince
		}
	}
	for _, h := range c.Hosts {
		if h.Name == writer || !agentReachable(before, h.Name) {
			continue
		}
		if hf := in.Faults[h.Name]; hf == SimHostLost || hf == SimCut {
			continue // the monitor does not reach that witness
		}
		wf := WitnessFact{Witness: h.Name, At: now}
		switch fault {
		case SimCrash:
			wf.Server, wf.Agent = agent.ProbeRefused, agent.ProbeTimeout
			if agentWasUp {
				wf.Agent = agent.ProbeOK
			}
		case SimHostLost:
			wf.Server, wf.Agent = agent.ProbeTimeout, agent.ProbeTimeout
		case SimFrozen:
			wf.Server, wf.Agent = agent.ProbeFrozen, agent.ProbeTimeout
			if agentWasUp {
				wf.Agent = agent.ProbeOK
			}
		case SimCut:
			wf.Server, wf.Agent = agent.ProbeOK, agent.ProbeTimeout
			if agentWasUp {
				wf.Agent = agent.ProbeOK
			}
		}
		f.Witnesses[h.Name] = wf
	}
	return f
}

// fenceOutlook says how fenceOld would fence old after fault, or why it
// could not (then there is no promotion). It restates fenceOld's decision
// without its actions.
func fenceOutlook(w *Watch, c *topology.Cluster, before *topology.Live, old string, fault SimFault) (string, error) {
	if !c.Agent.Enabled {
		return "no agents: VIPs are not managed", nil
	}
	agentWasUp := agentReachable(before, old)
	var vips []string
	if la := before.Agents[old]; la != nil {
		vips = la.IPs
	}
	switch {
	case agentWasUp && fault == SimCrash:
		// Not releaseLate (nobody else confirmed the crash): fenceOld asks
		// its agent, which drops the VIPs of a server that is down.
		how := "its server is down"
		if len(vips) > 0 {
			how = "drops " + strings.Join(vips, ", ") + "; " + how
		}
		return "its agent fences it now (" + how + ")", nil
	case agentWasUp && fault == SimFrozen:
		how := "read_only tried for 300 ms, then SIGKILL of the server"
		if c.Agent.Fence == topology.FenceReadOnly {
			how = "read_only tried; agent.fence = \"read_only\" never kills, so a server that stays frozen leaves the fence incomplete and the watch waits for the lease instead"
		}
		if len(vips) > 0 {
			how = "drops " + strings.Join(vips, ", ") + "; " + how
		}
		return "its agent fences it now (" + how + ")", nil
	case agentWasUp:
		lease := w.lease()
		return fmt.Sprintf("its lease runs out: the watch waits until every grant sent to it ended (at most %s after its last renewal); its agent fences the host at lease end", lease+leaseMargin(lease)), nil
	case len(c.Monitor.FenceHook) > 0:
		return "monitor.fence_hook powers it off (its agent does not answer now, so nothing enforces its lease)", nil
	}
	return "", fmt.Errorf("%s's agent does not answer now, so nothing would enforce its lease (its VIP and a writable server may still serve clients), and monitor.fence_hook is not set", old)
}

// simRisk measures what the promotion of cand would put at risk.
func simRisk(c *topology.Cluster, before, live *topology.Live, dead, cand string, writerPos gtid.Set) *SimRisk {
	r := &SimRisk{WriterPosition: writerPos.String()}
	lc := live.Hosts[cand]
	if lc == nil {
		return r
	}
	have := plan.Received(lc)
	r.CandidatePosition = have.String()
	if missing := writerPos.Subtract(have); !missing.Empty() {
		r.Missing = missing.String()
		r.MissingCount = behind(writerPos, have, missing)
	}
	if lc.Replica != nil {
		r.SecondsBehind = lc.Replica.SecondsBehind
	}
	target := plan.FailoverTarget(c, live, dead, cand)
	if fetched := target.Subtract(have); !fetched.Empty() {
		r.Fetched = fetched.String()
	}
	if lost := writerPos.Subtract(target); !lost.Empty() {
		r.Lost = lost.String()
	}
	switch active, known, why := writerSemiSync(before.Hosts[dead]); {
	case !c.Replication.SemiSync:
		r.SemiSync = "off (replication.semi_sync = false): writes the writer acknowledged may exist on it alone"
	case !known:
		r.SemiSync = "unknown: the writer did not say"
	case active:
		r.SemiSync = "active: every write the writer acknowledged is on a promotable host"
	default:
		r.SemiSync = "OFF (" + why + "): writes the writer acknowledged may exist on it alone"
	}
	for _, h := range c.Hosts {
		if h.Name == dead || h.Name == cand {
			continue
		}
		if lh := live.Hosts[h.Name]; lh == nil || !lh.Reachable {
			r.Behind = append(r.Behind, h.Name)
		}
	}
	return r
}

// behind is about how many transactions writerPos holds beyond have
// (MySQL: exactly; MariaDB: by sequence numbers per domain).
func behind(writerPos, have, missing gtid.Set) uint64 {
	if missing.IsMySQL() {
		return missing.Count()
	}
	if w, h := writerPos.Count(), have.Count(); w > h {
		return w - h
	}
	return 1
}

// faultedLive is the monitor's view once the faults happened: failed and
// cut hosts unreachable (the monitor cannot inspect them), agents of lost
// or cut hosts silent, and replicas of a crashed or lost host with their IO
// thread reconnecting.
func faultedLive(c *topology.Cluster, before *topology.Live, faults map[string]SimFault) *topology.Live {
	live := &topology.Live{Hosts: map[string]*topology.LiveHost{}, VIPs: before.VIPs}
	if before.Agents != nil {
		live.Agents = map[string]*topology.LiveAgent{}
		for k, v := range before.Agents {
			live.Agents[k] = v
		}
	}
	for k, v := range before.Hosts {
		live.Hosts[k] = v
	}
	for name, fault := range faults {
		lh := live.Hosts[name]
		if lh == nil {
			lh = &topology.LiveHost{Name: name}
		}
		cp := *lh
		cp.Reachable, cp.Error = false, fmt.Sprintf("%s (simulated %s)", name, fault)
		live.Hosts[name] = &cp
		if (fault == SimHostLost || fault == SimCut) && live.Agents != nil {
			live.Agents[name] = &topology.LiveAgent{Error: fmt.Sprintf("agent %s: no answer (simulated %s)", name, fault)}
		}
		if fault == SimCut || fault == SimFrozen {
			// The others still reach it; a frozen server's replicas keep
			// their connection until slave_net_timeout.
			continue
		}
		h := c.Host(name)
		for _, o := range c.Hosts {
			ol := live.Hosts[o.Name]
			if o.Name == name || ol == nil || !ol.Reachable || ol.Replica == nil {
				continue
			}
			if rs := ol.Replica; rs.SourceHost != h.Address && rs.SourceHost != h.Name {
				continue
			}
			cp := *ol
			rs := *ol.Replica
			rs.IORunning, rs.LastIOErrno, rs.LastIOError = "Connecting", 2003, fmt.Sprintf("Can't connect to server on '%s' (simulated %s)", h.Address, fault)
			cp.Replica = &rs
			live.Hosts[o.Name] = &cp
		}
	}
	return live
}

func agentReachable(live *topology.Live, host string) bool {
	la := live.Agents[host]
	return la != nil && la.Reachable
}

func sortedFaults(m map[string]SimFault) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
