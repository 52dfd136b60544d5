package chaos

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is one look at the masters and the VIP (every 100 ms).
type sample struct {
	At       time.Time
	Writable map[string]int8 // per master: 1 writable, 0 read-only, -1 no answer in time
	VIPOn    []string        // namespaces carrying the writer VIP
}

func (sm sample) split() bool {
	n := 0
	for _, w := range sm.Writable {
		if w == 1 {
			n++
		}
	}
	return n > 1 || len(sm.VIPOn) > 1
}

func (sm sample) String() string {
	var parts []string
	keys := make([]string, 0, len(sm.Writable))
	for k := range sm.Writable {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, m := range keys {
		v := map[int8]string{1: "writable", 0: "read_only", -1: "?"}[sm.Writable[m]]
		parts = append(parts, m+"="+v)
	}
	return strings.Join(parts, " ") + " vip=" + strings.Join(sm.VIPOn, "+")
}

// gtidPoll is gtid_binlog_state of every host (every 500 ms).
type gtidPoll struct {
	At    time.Time
	State map[string]gtidState // missing: no answer
}

// statusPoll is the watch's view (every 200 ms).
type statusPoll struct {
	At     time.Time
	Err    string
	Writer string
	States map[string]string
	VIPOn  string // who holds the writer VIP in the watch's view
	// Several watch nodes: the node that answered and the leader it names.
	Node, Leader string
}

// observer runs the samplers of one run.
type observer struct {
	s      *suite
	stopCh chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	samples []sample
	gtids   []gtidPoll
	status  []statusPoll

	dbs map[string]*sql.DB // its own socket connections, apart from the checks'
}

func (s *suite) observe() *observer {
	o := &observer{s: s, stopCh: make(chan struct{}), dbs: map[string]*sql.DB{}}
	for _, h := range s.hosts {
		o.dbs[h] = socketDB(s.socket(h), 3)
	}
	o.wg.Add(3)
	go o.loop(100*time.Millisecond, o.sampleOnce)
	go o.loop(500*time.Millisecond, o.gtidOnce)
	go o.loop(200*time.Millisecond, o.statusOnce)
	return o
}

func (o *observer) stop() {
	select {
	case <-o.stopCh:
	default:
		close(o.stopCh)
	}
	o.wg.Wait()
	for _, db := range o.dbs {
		db.Close()
	}
}

func (o *observer) loop(every time.Duration, f func()) {
	defer o.wg.Done()
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		f()
		select {
		case <-o.stopCh:
			return
		case <-tk.C:
		}
	}
}

func (o *observer) query(host string, timeout time.Duration, q string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var v sql.NullString
	err := o.dbs[host].QueryRowContext(ctx, q).Scan(&v)
	return v.String, err
}

func (o *observer) sampleOnce() {
	sm := sample{At: time.Now(), Writable: map[string]int8{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range o.s.masters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := int8(-1)
			if v, err := o.query(m, 300*time.Millisecond, "SELECT @@global.read_only"); err == nil {
				w = map[bool]int8{true: 1, false: 0}[v == "0"]
			}
			mu.Lock()
			sm.Writable[m] = w
			mu.Unlock()
		}()
	}
	sm.VIPOn = o.s.vipHolders()
	wg.Wait()
	o.mu.Lock()
	o.samples = append(o.samples, sm)
	o.mu.Unlock()
}

func (o *observer) gtidOnce() {
	p := gtidPoll{At: time.Now(), State: map[string]gtidState{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range o.s.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := o.query(h, 300*time.Millisecond, "SELECT @@global.gtid_binlog_state")
			if err != nil {
				return
			}
			st, err := parseGTIDState(v)
			if err != nil {
				return
			}
			mu.Lock()
			p.State[h] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	o.mu.Lock()
	o.gtids = append(o.gtids, p)
	o.mu.Unlock()
}

func (o *observer) statusOnce() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	st, err := o.s.api.status(ctx)
	cancel()
	p := statusPoll{At: time.Now()}
	if err != nil {
		p.Err = "watch API: " + shortErr(err)
	} else {
		p.At = st.receivedAt
		p.Writer, p.Node, p.Leader = st.Writer, st.Node, st.Leader
		p.States = map[string]string{}
		for _, h := range st.Hosts {
			p.States[h.Name] = h.State
			if st.holds(h.Name, o.s.vip) {
				p.VIPOn = h.Name
			}
		}
	}
	o.mu.Lock()
	o.status = append(o.status, p)
	o.mu.Unlock()
}

func (o *observer) snapshot() ([]sample, []gtidPoll, []statusPoll) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]sample(nil), o.samples...), append([]gtidPoll(nil), o.gtids...), append([]statusPoll(nil), o.status...)
}

// --- GTID states ------------------------------------------------------------

// gtidKey is a (domain, server_id) pair of a MariaDB GTID.
type gtidKey struct{ domain, server uint32 }

// gtidState is a parsed gtid_binlog_state: the last sequence number of each
// (domain, server_id) in the binary log.
type gtidState map[gtidKey]uint64

func parseGTIDState(s string) (gtidState, error) {
	st := gtidState{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, "-")
		if len(f) != 3 {
			return nil, fmt.Errorf("GTID %q", part)
		}
		d, err1 := strconv.ParseUint(f[0], 10, 32)
		sv, err2 := strconv.ParseUint(f[1], 10, 32)
		n, err3 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("GTID %q", part)
		}
		k := gtidKey{uint32(d), uint32(sv)}
		st[k] = max(st[k], n)
	}
	return st, nil
}

func (st gtidState) String() string {
	var parts []string
	for k, n := range st {
		parts = append(parts, fmt.Sprintf("%d-%d-%d", k.domain, k.server, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// beyond lists the GTIDs of st that ref lacks, as "domain-server-from..to",
// limited to server (0 = any server).
func (st gtidState) beyond(ref gtidState, server uint32) []string {
	var out []string
	for k, n := range st {
		if server != 0 && k.server != server {
			continue
		}
		if n > ref[k] {
			out = append(out, fmt.Sprintf("%d-%d-%d..%d", k.domain, k.server, ref[k]+1, n))
		}
	}
	sort.Strings(out)
	return out
}

// covers: st holds every GTID of ref (a replica caught up with its source).
func (st gtidState) covers(ref gtidState) bool {
	for k, n := range ref {
		if st[k] < n {
			return false
		}
	}
	return true
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s) > 100 {
		s = s[i+2:]
	}
	return trunc(s, 100)
}
