package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/consensus"
)

// Several watch nodes (docs/watch.md, "Several watch nodes"): every node
// runs the probes, the checks and the state machine, but only raft's leader
// acts — renews leases, moves roles, fails over, fences, commits state. A
// node starts acting only after it (1) applied every entry its predecessors
// committed (Barrier), (2) took their state, (3) committed an epoch above
// every epoch committed before and every epoch an agent saw, and (4)
// assumed that every lease a predecessor granted holds one more lease from
// now; and it grants a host nothing until that host's agent said, asked
// after the takeover, what it holds. It stops acting the moment raft says it is no longer leader; an
// isolated leader steps down after raft's leader lease timeout, and the
// grants it may still send carry an epoch the agents saw surpassed.

// Replicator is the raft member of a watch node (internal/consensus).
type Replicator interface {
	Name() string
	Leading() bool
	Leader() (name, listen string)
	Barrier(ctx context.Context) error
	State() []byte
	Epoch() uint64
	SaveState(ctx context.Context, state []byte) error
	BumpEpoch(ctx context.Context, atLeast uint64) (uint64, error)
	Info() consensus.Info
	ControlAddress(node string) string
}

// Intent is a failover or switchover in progress, committed before its
// first step and at each phase, so that a new leader knows what its
// predecessor left half-done.
type Intent struct {
	Kind    string    `json:"kind"` // "failover" or "switchover"
	From    string    `json:"from"`
	To      string    `json:"to"`
	Phase   string    `json:"phase"` // "fenced", "promoting", "promoted" (failover); "started" (switchover)
	Epoch   uint64    `json:"epoch"`
	Started time.Time `json:"started"`
}

// Intent phases.
const (
	PhaseFenced    = "fenced"
	PhasePromoting = "promoting"
	PhaseStarted   = "started"
)

// actingNow says whether this watch may change anything: always for a
// single watch; for a node, while it leads and finished its takeover.
func (w *Watch) actingNow() bool {
	if w.cfg.Raft == nil {
		return true
	}
	return w.acting.Load() && w.cfg.Raft.Leading()
}

// Acting says whether this watch acts now (a single watch always; a node
// while it leads).
func (w *Watch) Acting() bool { return w.actingNow() }

// setIntent records what the watch is in the middle of and commits it
// (called with mu held).
func (w *Watch) setIntent(in *Intent) {
	if in != nil {
		in.Epoch = w.epochNow()
		if in.Started.IsZero() {
			in.Started = w.cfg.Now()
		}
	}
	w.intent = in
	w.save()
}

// leadLoop follows raft's leadership: takes over when this node becomes
// leader, stops acting the moment it is not.
func (w *Watch) leadLoop(ctx context.Context) {
	if w.cfg.Raft == nil {
		return
	}
	every(ctx, 20*time.Millisecond, nil, func() {
		leading := w.cfg.Raft.Leading()
		switch {
		case leading && !w.acting.Load():
			w.takeover(ctx)
		case !leading && w.acting.Load():
			w.acting.Store(false)
			name, _ := w.cfg.Raft.Leader()
			w.log.Warn("no longer the leader: this watch node stops acting", "node", w.cfg.Raft.Name(), "leader", orNone(name))
			w.mu.Lock()
			w.event("%s stepped down (leader now %s)", w.cfg.Raft.Name(), orNone(name))
			w.mu.Unlock()
		}
	})
}

// takeover makes this node the acting watch (see the package comment at
// the top of this file). A failed step is tried again on the next poll.
func (w *Watch) takeover(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t0 := time.Now()
	bctx, cancel := context.WithTimeout(ctx, w.lease())
	defer cancel()
	if err := w.cfg.Raft.Barrier(bctx); err != nil {
		w.log.Warn("leader takeover: raft barrier", "error", err)
		return
	}
	st, err := w.replicated()
	if err != nil {
		w.log.Error("leader takeover: the replicated state is unreadable; starting from the live cluster", "error", err)
	}
	if st == nil && err == nil {
		// The first leader ever: a single watch that ran on this machine
		// before leaves its operator decisions in its state file.
		if path := w.stateFile(); path != "" {
			if old, lerr := loadState(path); lerr == nil && old != nil {
				w.log.Warn("leader takeover: nothing replicated yet; taking the single watch's state file", "file", path, "mode", old.Mode, "writer", old.Writer)
				st = old
			}
		}
	}
	if st != nil {
		w.restore(st)
	}
	// A predecessor may have renewed any lease up to its last moment as
	// leader: count every host as granted now.
	w.leases.AssumeGranted(w.hostNames(), time.Now())
	if err := w.adopt(ctx, "leader "+w.cfg.Raft.Name(), true); err != nil {
		w.log.Error("leader takeover failed; trying again", "error", err)
		return
	}
	// What each agent holds is read afresh before anything is granted to
	// it: this node's view of the roles may predate its predecessor's last
	// VIP move. The agent loops ask at once; each host's renewals start with
	// its answer (a round trip).
	w.leases.SetUnknown(w.hostNames(), time.Now())
	w.acting.Store(true)
	for _, h := range w.c.Hosts {
		signal(w.facts.suspect[h.Name])
	}
	w.log.Warn("leading: this watch node acts", "node", w.cfg.Raft.Name(), "epoch", w.epochNow(), "took", time.Since(t0).Round(time.Millisecond))
	w.event("%s leads (epoch %d), took over in %s", w.cfg.Raft.Name(), w.epochNow(), time.Since(t0).Round(time.Millisecond))
	w.resumeIntent()
	w.save() // what this leader adopted, for the next one
	signal(w.facts.kick)
	for _, ch := range w.renewKick {
		signal(ch)
	}
}

// resumeIntent finishes or undoes what a predecessor left half-done. Reality
// (read by adopt) decides: a candidate that is writable while the old writer
// is not took over; otherwise the old writer still holds the role (fenced:
// the checks see it dead and fail it over anew, or alive and the reconcile
// makes it writable again). Two writable masters made adopt go passive.
func (w *Watch) resumeIntent() {
	in := w.intent
	if in == nil {
		return
	}
	outcome := fmt.Sprintf("the writer is %s", orNone(w.writer))
	if w.writer == in.To {
		outcome += ": finished"
		w.leases.SetFenced(in.From, in.Kind == "failover")
	} else if w.writer == in.From || w.writer == "" {
		outcome += ": not done; the checks decide again"
	}
	w.log.Warn("a half-done "+in.Kind+" from the previous leader", "from", in.From, "to", in.To, "phase", in.Phase, "epoch", in.Epoch, "outcome", outcome)
	w.event("%s of %s to %s left at phase %q by the previous leader (epoch %d): %s", in.Kind, in.From, in.To, in.Phase, in.Epoch, outcome)
	w.intent = nil
	w.save()
}

// replicated parses the state committed in raft (nil: none yet).
func (w *Watch) replicated() (*savedState, error) {
	b := w.cfg.Raft.State()
	if len(b) == 0 {
		return nil, nil
	}
	var st savedState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// follow mirrors the leader's decisions on a follower (called with mu
// held): mode, writer, ADMIN_OFFLINE, failover positions, so that `mmm
// show` on any node tells the same story; host states otherwise stay this
// node's own view.
func (w *Watch) follow() {
	b := w.cfg.Raft.State()
	if len(b) == 0 || string(b) == string(w.followed) {
		return
	}
	w.followed = b
	var st savedState
	if err := json.Unmarshal(b, &st); err != nil {
		return
	}
	if st.Mode != "" {
		w.mode, w.modeReason = st.Mode, st.ModeReason
	}
	w.setWriter(st.Writer)
	if st.Epoch > w.epoch.Load() {
		w.epoch.Store(st.Epoch)
	}
	now := w.cfg.Now()
	for n, hs := range w.machine.Hosts {
		saved := st.Hosts[n]
		switch {
		case saved != nil && saved.State == AdminOffline && hs.State != AdminOffline:
			hs.State, hs.Since, hs.Reason = AdminOffline, saved.Since, saved.Reason
		case (saved == nil || saved.State != AdminOffline) && hs.State == AdminOffline:
			hs.State, hs.Since, hs.Reason = Unknown, now, "set online on the leader"
		}
	}
	w.failoverPos = map[string]string{}
	for k, v := range st.FailoverPos {
		w.failoverPos[k] = v
	}
	w.intent = st.Intent
}

// saveReplicated commits st through raft (called by save on the leader).
func (w *Watch) saveReplicated(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), max(w.lease()/2, 500*time.Millisecond))
	defer cancel()
	return w.cfg.Raft.SaveState(ctx, b)
}

func (w *Watch) hostNames() []string {
	out := make([]string, 0, len(w.c.Hosts))
	for _, h := range w.c.Hosts {
		out = append(out, h.Name)
	}
	return out
}

// NodeReport is one watch node in `mmm show`.
type NodeReport struct {
	consensus.Info
	Listen string `json:"listen"`
	// Error: the node did not answer this node's question.
	Error string `json:"error,omitempty"`
}

// Nodes describes every watch node: this one from its raft member, the
// others as they answer GET /v1/node within a short timeout.
func (w *Watch) Nodes(ctx context.Context) []NodeReport {
	if w.cfg.Raft == nil {
		return nil
	}
	var mu sync.Mutex
	var out []NodeReport
	var wg sync.WaitGroup
	for _, n := range w.c.Monitor.Nodes {
		if n.Name == w.cfg.Raft.Name() {
			out = append(out, NodeReport{Info: w.cfg.Raft.Info(), Listen: n.Listen})
			continue
		}
		wg.Go(func() {
			r := NodeReport{Info: consensus.Info{Name: n.Name, Raft: n.Raft, State: "unreachable"}, Listen: n.Listen}
			c, err := w.peerClient(n.Listen)
			if err == nil {
				qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				var in consensus.Info
				err = c.do(qctx, http.MethodGet, "/v1/node", nil, &in)
				cancel()
				if err == nil {
					r.Info = in
				}
			}
			if err != nil {
				r.Error = err.Error()
			}
			mu.Lock()
			out = append(out, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// peerClient is a client of another node's control API: with a tls block,
// as the monitor identity (which the control API accepts from the nodes).
func (w *Watch) peerClient(listen string) (*Client, error) {
	if w.peerHTTP == nil {
		return &Client{Base: "http://" + listen, Token: w.c.Monitor.Token.Value()}, nil
	}
	return &Client{Base: "https://" + listen, Token: w.c.Monitor.Token.Value(), HTTP: w.peerHTTP}, nil
}

// forward sends a command that arrived at a follower on to the leader,
// unchanged (the caller's token and body), and relays its answer.
func (w *Watch) forward(next http.Handler) http.Handler {
	if w.cfg.Raft == nil {
		return next
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || w.actingNow() {
			next.ServeHTTP(rw, r)
			return
		}
		name, listen := w.cfg.Raft.Leader()
		if listen == "" || name == w.cfg.Raft.Name() {
			writeJSON(rw, http.StatusServiceUnavailable, errorBody{fmt.Sprintf("watch node %s is not the leader and knows no leader now (an election is under way, or no majority of the %d nodes answers): try again in a moment", w.cfg.Raft.Name(), len(w.c.Monitor.Nodes))})
			return
		}
		scheme := "http"
		if w.peerHTTP != nil {
			scheme = "https"
		}
		target := &url.URL{Scheme: scheme, Host: listen}
		proxy := httputil.NewSingleHostReverseProxy(target)
		if w.peerHTTP != nil {
			proxy.Transport = w.peerHTTP.Transport
		} else {
			proxy.Transport = noProxy.Transport
		}
		proxy.ErrorHandler = func(rw http.ResponseWriter, _ *http.Request, err error) {
			writeJSON(rw, http.StatusBadGateway, errorBody{fmt.Sprintf("watch node %s forwarded the command to the leader %s (%s), which did not answer: %v", w.cfg.Raft.Name(), name, listen, err)})
		}
		w.log.Info("control command forwarded to the leader", "path", r.URL.Path, "leader", name, "remote", r.RemoteAddr)
		proxy.ServeHTTP(rw, r)
	})
}
