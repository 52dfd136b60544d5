package agent

// Grants: the nonces the agent hands out in its answers, the epoch it
// persists, and the checks a lease or fence request must pass
// (docs/agent.md, "Grants").

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

var processStart = time.Now()

// monoClock is Go's monotonic clock, as a duration since the process started.
func monoClock() time.Duration { return time.Since(processStart) }

// Nonce store bounds: a nonce older than MaxLease can never be accepted, and
// at most maxNonces are remembered (the oldest go first; a watch echoes the
// nonce of its latest answer, so only a flood of status calls within one
// lease could push out the nonce it holds).
const maxNonces = 4096

type nonceEntry struct {
	id     string
	issued time.Duration // on the agent's clock
}

// nonces is the set of nonces issued and not yet used, oldest first. Not
// safe for concurrent use: the agent's mu guards it.
type nonces struct {
	order []nonceEntry
	live  map[string]time.Duration // unused nonces
	used  map[string]time.Duration // used ones still young enough to name in a refusal
}

func newNonces() *nonces {
	return &nonces{live: map[string]time.Duration{}, used: map[string]time.Duration{}}
}

func newNonceID() string {
	var b [16]byte // 128 bits
	if _, err := rand.Read(b[:]); err != nil {
		panic("agent: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// issue mints a nonce at now.
func (n *nonces) issue(now time.Duration) string {
	n.prune(now)
	id := newNonceID()
	n.order = append(n.order, nonceEntry{id, now})
	n.live[id] = now
	return id
}

func (n *nonces) prune(now time.Duration) {
	drop := 0
	for drop < len(n.order) && (now-n.order[drop].issued > MaxLease || len(n.order)-drop >= maxNonces) {
		delete(n.live, n.order[drop].id)
		delete(n.used, n.order[drop].id)
		drop++
	}
	if drop > 0 {
		n.order = append(n.order[:0:0], n.order[drop:]...)
	}
}

// lookup says when id was issued: live (unused), used, or unknown.
func (n *nonces) lookup(id string) (issued time.Duration, state string) {
	if t, ok := n.live[id]; ok {
		return t, "live"
	}
	if t, ok := n.used[id]; ok {
		return t, "used"
	}
	return 0, "unknown"
}

// consume marks id used and drops every nonce issued before it: a grant
// accepted with id makes every older grant in flight stale.
func (n *nonces) consume(id string) {
	t, ok := n.live[id]
	if !ok {
		return
	}
	for _, e := range n.order {
		if e.issued <= t {
			if _, live := n.live[e.id]; live {
				delete(n.live, e.id)
				n.used[e.id] = e.issued
			}
		}
	}
}

// clear drops every nonce (a fence): none issued so far is ever accepted.
func (n *nonces) clear() {
	n.order = nil
	n.live = map[string]time.Duration{}
	n.used = map[string]time.Duration{}
}

// grantError is a refused grant: 409 and why.
func staleGrant(format string, args ...any) *requestError {
	return &requestError{http.StatusConflict, "stale grant: " + fmt.Sprintf(format, args...)}
}

// checkGrant applies the grant rules to (epoch, nonce) with maxAge as the
// nonce's age limit (the lease TTL). It changes nothing; the caller consumes
// the nonce once the request is accepted. Called with mu held.
func (a *Agent) checkGrant(epoch uint64, nonce string, maxAge time.Duration) (issued time.Duration, rerr *requestError) {
	if a.fencing > 0 {
		return 0, &requestError{http.StatusConflict, "stale grant: a fence is in progress; ask for a new nonce when it is done"}
	}
	if epoch < a.epoch {
		return 0, staleGrant("epoch %d < %d accepted", epoch, a.epoch)
	}
	if nonce == "" {
		return 0, staleGrant("no nonce: a grant must echo a nonce from one of this agent's answers (GET /v1/status)")
	}
	now := a.now()
	issued, state := a.nonces.lookup(nonce)
	switch state {
	case "used":
		return 0, staleGrant("nonce already used (issued %s ago): every grant needs a fresh one", roundDur(now-issued))
	case "unknown":
		if a.lastFence != nil {
			return 0, staleGrant("nonce unknown (issued before this agent's fence at %s or restart at %s, or never issued)",
				a.lastFence.At.Format(time.RFC3339Nano), a.started.Format(time.RFC3339))
		}
		return 0, staleGrant("nonce unknown (issued before this agent's restart at %s, or never issued)", a.started.Format(time.RFC3339))
	}
	if age := now - issued; age >= maxAge {
		return 0, staleGrant("nonce issued %s ago, lease is %s", roundDur(age), maxAge)
	}
	return issued, nil
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d
}

// stateFile is the agent's persisted state: <state dir>/agent-state.json.
const stateFile = "agent-state.json"

// persisted is what survives the agent: the highest epoch it accepted and
// the mode it was in. Nonces do not survive (a restarted agent accepts no
// grant issued before it).
type persisted struct {
	Epoch   uint64    `json:"epoch"`
	Mode    Mode      `json:"mode"`
	Holder  string    `json:"holder,omitempty"`
	Updated time.Time `json:"updated"`
}

// loadState reads dir's state file; a missing file is the zero state and
// found=false (first start).
func loadState(dir string) (st persisted, found bool, err error) {
	if dir == "" {
		return persisted{}, false, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return persisted{}, false, nil
	}
	if err != nil {
		return persisted{}, false, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return persisted{}, false, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return st, true, nil
}

// saveState writes the state file durably: a temporary file, fsynced,
// renamed over the old one, and the directory fsynced.
func saveState(dir string, st persisted) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, stateFile+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
