package agent

// Failsafe (docs/fencing.md, "Failsafe"): a writer whose lease no watch
// renews keeps its exclusive roles as long as every other agent of the
// cluster confirms, in answer to a question sent at t0, that
//
//   - no watch granted it a lease within the last 3/8 of a lease (a watch
//     that acts renews every agent it can reach every lease/4: if any agent
//     was renewed that recently, a watch is acting and chose not to renew
//     this one);
//   - it holds no exclusive role (nobody else is the writer);
//   - it accepted no epoch newer than this agent's lease (no newer watch
//     made decisions since this agent's last grant).
//
// Each confirmation keeps the roles until t0 + lease. An agent that cannot
// ask every other agent (cut off, one of them down) confirms nothing, and
// fences when its lease and its last confirmation have run out, as before.
//
// Why no other writer can appear meanwhile: a watch promotes another host
// only after it renewed some agent continuously (each grant within 5/16 of
// a lease of the previous) since a time X and waited until X + lease (+
// margin) (watch: leases.FailsafeBound). That agent refuses every question
// it gets after X, so the last confirmation the holder got was sent before
// X and ran out by X + lease.
//
// The questions start a quarter lease before the lease ends and repeat
// every 1/16 of a lease until one is confirmed: the other agents were
// renewed with the holder, and their "renewed lately" must lapse (3/8 of a
// lease) before the holder's lease does (at least half a lease after its
// last grant: a grant's nonce is at most half a lease old).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// FailsafeRequest is the body of POST /v1/failsafe: the writer's agent asks
// another agent whether it may keep its roles without a watch.
type FailsafeRequest struct {
	Cluster string `json:"cluster"`
	From    string `json:"from"`
	// Epoch is the epoch of the asking agent's last lease.
	Epoch uint64 `json:"epoch"`
}

// FailsafeAnswer is what the asked agent says of itself.
type FailsafeAnswer struct {
	Host string `json:"host"`
	// Epoch is the highest grant epoch it accepted.
	Epoch uint64 `json:"epoch"`
	// RenewedAgo is how long ago a watch's lease grant was last accepted
	// (by the agent's clock); absent when none since the agent started.
	RenewedAgo *Duration `json:"renewed_ago,omitempty"`
	// Exclusive lists the exclusive-role VIPs it holds.
	Exclusive []string `json:"exclusive,omitempty"`
}

// renewedLately: an agent granted a lease more recently than this refuses
// to confirm (a watch is acting).
func renewedLately(ttl time.Duration) time.Duration { return 3 * ttl / 8 }

// failsafeTimeout bounds one round of questions: short, so the answer is
// known before the lease ends.
func failsafeTimeout(ttl time.Duration) time.Duration {
	return max(ttl/5, 50*time.Millisecond)
}

func (a *Agent) handleFailsafe(w http.ResponseWriter, r *http.Request) {
	var req FailsafeRequest
	if rerr := decode(w, r, &req); rerr != nil {
		a.refuse(w, r, rerr.code, rerr.msg)
		return
	}
	if rerr := a.notOurCluster(req.Cluster); rerr != nil {
		a.refuse(w, r, rerr.code, rerr.msg)
		return
	}
	if a.cluster.Host(req.From) == nil {
		a.refuse(w, r, http.StatusForbidden, "host "+strconv.Quote(req.From)+" is not declared in cluster "+strconv.Quote(a.cluster.Name))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), vipStepTimeout)
	defer cancel()
	a.mu.Lock()
	ans := FailsafeAnswer{Host: a.host.Name, Epoch: a.epoch}
	if a.lastGrant > 0 {
		ago := Duration(a.now() - a.lastGrant)
		ans.RenewedAgo = &ago
	}
	held, err := a.held(ctx)
	if err == nil {
		for _, ip := range held {
			if role := a.declared[ip]; role != nil && role.Mode == topology.RoleExclusive {
				ans.Exclusive = append(ans.Exclusive, ip.String())
			}
		}
	}
	a.mu.Unlock()
	if err != nil {
		// Unsure what it holds: no answer is better than a wrong one.
		a.fail(w, r, fmt.Errorf("list VIPs: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// Failsafe asks host's agent the failsafe question.
func (c *Client) Failsafe(ctx context.Context, host string, req FailsafeRequest) (*FailsafeAnswer, error) {
	var ans FailsafeAnswer
	if err := c.doJSON(ctx, host, http.MethodPost, "/v1/failsafe", req, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

// failsafeOn: this agent may hold an exclusive role on failsafe.
func (a *Agent) failsafeOn() bool {
	return a.cluster.Agent.Failsafe && a.fenceable && a.peers != nil
}

// scheduleFailsafe arms the first confirmation of ls a quarter lease
// before it ends, so that its answer is in before the lease runs out.
// Renewals replace ls long before that while a watch acts. Called with mu
// held.
func (a *Agent) scheduleFailsafe(ls *leaseState) {
	if !a.failsafeOn() {
		return
	}
	at := ls.end - ls.ttl/4 - a.now()
	ls.checkTimer = time.AfterFunc(max(at, 0), func() { a.failsafeCheck(ls) })
}

// failsafeCheck asks every other agent; a confirmation keeps ls's roles
// until the question's time + lease. It re-arms itself every quarter lease
// while ls is the lease and has not expired.
func (a *Agent) failsafeCheck(ls *leaseState) {
	a.mu.Lock()
	if a.lease != ls || ls.expired || !a.holdsExclusive() {
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()

	t0 := a.now()
	err := a.askPeers(ls.epoch, ls.ttl)

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lease != ls || ls.expired {
		return
	}
	next := ls.ttl / 4
	if err == nil {
		if until := t0 + ls.ttl; until > ls.failsafeUntil {
			ls.failsafeUntil = until
		}
		ls.failsafeRefused = ""
	} else {
		if msg := err.Error(); msg != ls.failsafeRefused {
			ls.failsafeRefused = msg
			a.log.Debug("failsafe: not confirmed", "why", msg)
		}
		if a.now() < ls.holdsUntil() {
			next = ls.ttl / 16 // the others' "renewed lately" may lapse any moment now
		}
	}
	ls.checkTimer = time.AfterFunc(next, func() { a.failsafeCheck(ls) })
}

// askPeers asks every other agent of the cluster in parallel; nil when
// every one of them confirms.
func (a *Agent) askPeers(epoch uint64, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), failsafeTimeout(ttl))
	defer cancel()
	req := FailsafeRequest{Cluster: a.cluster.Name, From: a.host.Name, Epoch: epoch}
	var mu sync.Mutex
	var refusals []error
	var wg sync.WaitGroup
	asked := 0
	for _, h := range a.cluster.Hosts {
		if h.Name == a.host.Name {
			continue
		}
		asked++
		wg.Go(func() {
			ans, err := a.peers.Failsafe(ctx, h.Name, req)
			var why string
			switch {
			case err != nil:
				why = fmt.Sprintf("%s did not answer (%v)", h.Name, err)
			case ans.RenewedAgo != nil && time.Duration(*ans.RenewedAgo) < renewedLately(ttl):
				why = fmt.Sprintf("a watch renewed %s %s ago: a watch is acting", h.Name, roundDur(time.Duration(*ans.RenewedAgo)))
			case len(ans.Exclusive) > 0:
				why = fmt.Sprintf("%s holds %s", h.Name, strings.Join(ans.Exclusive, ", "))
			case ans.Epoch > epoch:
				why = fmt.Sprintf("%s accepted epoch %d, newer than this lease's %d", h.Name, ans.Epoch, epoch)
			default:
				return
			}
			mu.Lock()
			refusals = append(refusals, errors.New(why))
			mu.Unlock()
		})
	}
	wg.Wait()
	if asked == 0 {
		return errors.New("no other agent to confirm with")
	}
	return errors.Join(refusals...)
}

// holdsUntil is the lease's effective end: the lease, or the last
// confirmation's. Called with mu held.
func (ls *leaseState) holdsUntil() time.Duration {
	return max(ls.end, ls.failsafeUntil)
}
