package agent

// The fence: one escalation used by lease expiry, Stop while leased, the
// start-up after a lease, a server restart seen without a writer lease, and
// POST /v1/fence. Every step has its own deadline and is reported.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Fence step deadlines.
const (
	vipStepTimeout      = time.Second            // netlink: local, no network
	readOnlyTimeout     = 300 * time.Millisecond // SET GLOBAL read_only on a fresh connection
	killSessionsTimeout = time.Second            // list and kill the client sessions
	killServerTimeout   = 3 * time.Second        // SIGKILL and wait for the process to be gone
)

// killPolicy says when the fence may SIGKILL the server (agent.fence = "kill").
type killPolicy int

const (
	killNever    killPolicy = iota
	killIfFailed            // read_only (and the session kill) failed or timed out
	killIfFrozen            // …and a probe finds the server frozen (start-up)
)

type fenceOpts struct {
	why      string
	dropVIPs bool // step 1; false only for a server restart in static mode
	kill     killPolicy
}

// fenceRun is a fence between its VIP step (under mu) and its server steps.
type fenceRun struct {
	opts   fenceOpts
	report *FenceReport
	log    *slog.Logger
	vipErr error
}

// fenceStart runs step 1 and stops every grant: the lease ends, every nonce
// issued so far is dropped and none is accepted until the fence is done.
// Called with mu held.
func (a *Agent) fenceStart(o fenceOpts) *fenceRun {
	a.fencing++
	a.fenceGen++
	a.nonces.clear()
	holder := ""
	if a.lease != nil {
		holder = a.lease.holder
		a.lease.stopTimers()
		a.lease.expired = true
	}
	run := &fenceRun{opts: o, report: &FenceReport{At: time.Now().UTC(), Why: o.why, Epoch: a.epoch},
		log: a.log.With("why", o.why, "holder", holder)}
	if !o.dropVIPs {
		return run
	}
	ctx, cancel := context.WithTimeout(context.Background(), vipStepTimeout)
	defer cancel()
	held, err := a.held(ctx)
	if err != nil {
		run.vipErr = err
		run.log.Error("FENCING: cannot list VIPs", "err", err)
	}
	for _, ip := range held {
		if a.declared[ip].Mode != topology.RoleExclusive {
			continue
		}
		a.stopAnnouncing(ip)
		if _, err := a.addrs.Remove(ctx, a.host.Interface, ip); err != nil {
			run.vipErr = errors.Join(run.vipErr, err)
			run.log.Error("FENCING: cannot remove VIP", "ip", ip, "err", err)
			continue
		}
		run.report.VIPsDropped = append(run.report.VIPsDropped, ip.String())
	}
	// Announcers of exclusive VIPs stop even if the address was not there.
	for ip := range a.announcing {
		if a.declared[ip].Mode == topology.RoleExclusive {
			a.stopAnnouncing(ip)
		}
	}
	if len(run.report.VIPsDropped) > 0 {
		run.log.Warn("fence step 1: exclusive VIPs dropped", "vips", run.report.VIPsDropped)
	}
	return run
}

// fenceFinish runs the server steps (without mu), records the report and
// lets grants in again. It returns the report.
func (a *Agent) fenceFinish(run *fenceRun) *FenceReport {
	rep, log := run.report, run.log
	defer func() {
		a.mu.Lock()
		a.fencing--
		a.nonces.clear() // also those issued while the fence ran
		rep.Ago = 0
		a.lastFence = rep
		a.mu.Unlock()
	}()
	var errs []string
	if run.vipErr != nil {
		errs = append(errs, "VIPs: "+run.vipErr.Error())
	}
	if !a.fenceable {
		rep.Complete = run.vipErr == nil
		rep.Error = strings.Join(errs, "; ")
		log.Warn("fence: this host holds no exclusive role, its server is left alone", "vips_dropped", rep.VIPsDropped, "complete", rep.Complete)
		return rep
	}
	a.fenceMu.Lock()
	defer a.fenceMu.Unlock()

	down, err := a.fenceServerSQL(rep, log)
	switch {
	case err == nil && down:
		rep.ServerDown, rep.ReadOnly = true, true
		log.Warn("fence step 2: the server refuses connections (down); it restarts read_only from its configuration")
	case err == nil:
		rep.ReadOnly = true
		a.setCachedReadOnly(true)
		log.Warn("fence step 2: server read_only, client sessions killed", "sessions_killed", rep.SessionsKilled)
	default:
		errs = append(errs, "read_only: "+err.Error())
		log.Error("FENCING: fence step 2 failed: read_only could not be set or sessions not killed", "err", err)
		if a.mayKill(run.opts.kill) {
			ctx, cancel := context.WithTimeout(context.Background(), killServerTimeout)
			kerr := a.db.KillServer(ctx)
			cancel()
			if kerr != nil {
				errs = append(errs, "kill: "+kerr.Error())
				log.Error("FENCING: fence step 3 failed: cannot kill the server", "err", kerr)
			} else {
				rep.ServerKilled = true
				log.Error("fence step 3: server killed (SIGKILL); it restarts read_only from its configuration")
			}
		} else {
			log.Error("FENCING: not escalating to SIGKILL", "fence_mode", a.cluster.Agent.Fence, "policy", run.opts.kill)
		}
	}
	rep.Error = strings.Join(errs, "; ")
	rep.Complete = run.vipErr == nil && (rep.ReadOnly || rep.ServerKilled || rep.ServerDown)
	if rep.Complete {
		log.Error("FENCED: exclusive VIPs dropped and server fenced", "dropped", rep.VIPsDropped,
			"read_only", rep.ReadOnly, "sessions_killed", rep.SessionsKilled, "server_killed", rep.ServerKilled, "server_down", rep.ServerDown)
	} else {
		log.Error("FENCING INCOMPLETE: the server may still take writes", "dropped", rep.VIPsDropped, "error", rep.Error)
	}
	return rep
}

func (a *Agent) mayKill(p killPolicy) bool {
	if !a.killMode {
		return false
	}
	switch p {
	case killIfFailed:
		return true
	case killIfFrozen:
		// At start-up a failed read_only is most often a server still
		// starting or recovering (it refuses connections, or answers
		// slowly): killing it would only start the recovery over. Only a
		// server that accepts connections and never greets is hung.
		state, _ := a.db.Probe(context.Background(), readOnlyTimeout)
		return state == ProbeFrozen
	}
	return false
}

// fenceServerSQL is step 2: read_only on a fresh connection, then every
// client session killed (SUPER and READ_ONLY ADMIN bypass read_only on
// MariaDB). A read_only that times out may be waiting for running
// statements: the sessions are killed and read_only is tried once more.
func (a *Agent) fenceServerSQL(rep *FenceReport, log *slog.Logger) (down bool, err error) {
	setRO := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), readOnlyTimeout)
		defer cancel()
		return a.db.SetReadOnly(ctx)
	}
	kill := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), killSessionsTimeout)
		defer cancel()
		n, err := a.db.KillClientSessions(ctx)
		rep.SessionsKilled += n
		return err
	}
	err = setRO()
	if errors.Is(err, ErrServerDown) {
		return true, nil
	}
	if err != nil {
		var ce *ConnectError
		if errors.As(err, &ce) || (!errors.Is(err, context.DeadlineExceeded) && !isTimeout(err)) {
			// No session at all (a frozen server does not greet), or a
			// refusal that another try will not change.
			return false, err
		}
		log.Warn("fence step 2: read_only timed out; killing client sessions and trying again", "err", err)
		if kerr := kill(); kerr != nil {
			return false, errors.Join(err, kerr)
		}
		if err = setRO(); err != nil {
			if errors.Is(err, ErrServerDown) {
				return true, nil
			}
			return false, err
		}
	}
	if err := kill(); err != nil {
		return false, err
	}
	return false, nil
}

// handleFence is POST /v1/fence: the same grant rules as a lease, then the
// fence now; the answer is the Status with the report. Afterwards the agent
// is in lease mode with an expired lease, until a new valid grant.
func (a *Agent) handleFence(w http.ResponseWriter, r *http.Request) {
	var req FenceRequest
	if rerr := decode(w, r, &req); rerr != nil {
		a.refuse(w, r, rerr.code, rerr.msg)
		return
	}
	st, rerr, err := a.fenceRequest(r.Context(), &req)
	switch {
	case rerr != nil:
		a.refuse(w, r, rerr.code, rerr.msg)
	case err != nil:
		a.fail(w, r, err)
	default:
		a.auditRoles(r, st)
		writeJSON(w, http.StatusOK, st)
	}
}

func (a *Agent) fenceRequest(ctx context.Context, req *FenceRequest) (*Status, *requestError, error) {
	if rerr := a.notOurCluster(req.Cluster); rerr != nil {
		return nil, rerr, nil
	}
	if req.Host != a.host.Name {
		return nil, forbidden("this agent is host %q, not %q", a.host.Name, req.Host), nil
	}
	if ttl := time.Duration(req.TTL); ttl < 0 || ttl > MaxLease {
		return nil, badRequest("fence ttl %s: it must be at most %s", ttl, MaxLease), nil
	}
	a.reqMu.Lock()
	defer a.reqMu.Unlock()
	a.mu.Lock()
	maxAge := a.fenceNonceAge(time.Duration(req.TTL))
	_, rerr := a.checkGrant(req.Epoch, req.Nonce, maxAge)
	if rerr == nil {
		a.nonces.consume(req.Nonce)
	}
	a.mu.Unlock()
	if rerr != nil {
		return nil, rerr, nil
	}
	if err := a.persist(req.Epoch, ModeLease, a.saved.Holder); err != nil {
		return nil, nil, err
	}
	why := "fence requested"
	if req.Why != "" {
		why += ": " + req.Why
	}
	a.mu.Lock()
	a.epoch = max(a.epoch, req.Epoch)
	if a.mode != ModeLease || a.lease == nil {
		a.mode = ModeLease
		a.lease = &leaseState{holder: "", ttl: maxAge, epoch: req.Epoch, end: a.now(), expired: true}
	}
	run := a.fenceStart(fenceOpts{why: why, dropVIPs: true, kill: killIfFailed})
	a.mu.Unlock()
	a.fenceFinish(run)

	sctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := a.status(sctx)
	return st, nil, err
}

// fenceNonceAge bounds a fence request's nonce: its TTL, else the current
// lease's, else monitor.lease, else one second. Called with mu held.
func (a *Agent) fenceNonceAge(ttl time.Duration) time.Duration {
	switch {
	case ttl > 0:
		return ttl
	case a.lease != nil && a.lease.ttl > 0:
		return a.lease.ttl
	case a.cluster.Monitor.Lease > 0:
		return a.cluster.Monitor.Lease
	}
	return time.Second
}
