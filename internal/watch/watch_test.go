package watch

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/gtid"
	"github.com/mysql-mmm/mmm/internal/topology"
)

func testCluster() *topology.Cluster {
	return &topology.Cluster{
		Name: "t", ActiveMasterRole: "writer",
		Hosts: []*topology.Host{
			{Name: "master1", Address: "10.0.0.11", Port: 3306, Mode: topology.ModeMaster, Peer: "master2"},
			{Name: "master2", Address: "10.0.0.12", Port: 3306, Mode: topology.ModeMaster, Peer: "master1"},
			{Name: "slave1", Address: "10.0.0.13", Port: 3306, Mode: topology.ModeSlave},
			{Name: "slave2", Address: "10.0.0.14", Port: 3306, Mode: topology.ModeSlave},
		},
		Roles: []*topology.Role{
			{Name: "writer", Mode: topology.RoleExclusive, Hosts: []string{"master1", "master2"}, IPs: []string{"10.0.0.100"}, Prefer: "master1"},
			{Name: "reader", Mode: topology.RoleBalanced, Hosts: []string{"slave1", "slave2"}, IPs: []string{"10.0.0.101", "10.0.0.102"}},
		},
		Monitor: topology.Monitor{CheckPeriod: time.Second, TrapPeriod: 5 * time.Second, AutoSetOnline: time.Minute, FlapCount: 3, FlapDuration: time.Hour},
	}
}

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func healthy() Input {
	return Input{Ping: true, MySQL: true, RepThreads: true, RepBacklog: true, Custom: true, Uptime: time.Hour}
}

func TestTrapPeriod(t *testing.T) {
	c := testCluster()
	c.Checks = []*topology.Check{{Name: "ping", TrapPeriod: 3 * time.Second}}
	tr := NewTracker(c)
	steps := []struct {
		at     time.Duration
		ok     bool
		failed bool
	}{
		{0, true, false},
		{1 * time.Second, false, false},
		{2 * time.Second, false, false},
		{4 * time.Second, false, true}, // failing since 1s, 3s trap
		{5 * time.Second, true, false},
		{6 * time.Second, false, false}, // trap starts again
		{8 * time.Second, false, false},
		{9 * time.Second, false, true},
	}
	for _, s := range steps {
		st := tr.Record("master1", "ping", Result{OK: s.ok, At: t0.Add(s.at)})
		if st.Failed != s.failed || tr.OK("master1", "ping") == s.failed {
			t.Errorf("at %s (ok=%v): failed=%v, want %v", s.at, s.ok, st.Failed, s.failed)
		}
	}
	tr.Reset("ping")
	if !tr.OK("master1", "ping") {
		t.Error("Reset did not clear the failing streak")
	}
	if st := tr.Record("master1", "ping", Result{OK: false, At: t0.Add(10 * time.Second)}); st.Failed {
		t.Error("after Reset a new streak must build up for the trap period")
	}
	if !tr.OK("slave1", "ping") {
		t.Error("a check never run must count as passing")
	}
	if got := tr.Check("rep_backlog").MaxBacklog; got != DefaultMaxBacklog {
		t.Errorf("default max_backlog = %d", got)
	}
	if got := tr.Check("mysql").TrapPeriod; got != 5*time.Second {
		t.Errorf("trap_period default from monitor = %s", got)
	}
}

func TestEvalMySQL(t *testing.T) {
	tests := []struct {
		err error
		ok  bool
	}{
		{nil, true},
		{&mysql.MySQLError{Number: 1040, Message: "Too many connections"}, true},
		{fmt.Errorf("wrapped: %w", &mysql.MySQLError{Number: 1040}), true},
		{&mysql.MySQLError{Number: 1045, Message: "Access denied"}, false},
		{errors.New("dial tcp: i/o timeout"), false},
	}
	for _, tt := range tests {
		if ok, detail := EvalMySQL(tt.err); ok != tt.ok {
			t.Errorf("EvalMySQL(%v) = %v (%s), want %v", tt.err, ok, detail, tt.ok)
		}
	}
}

func TestEvalReplication(t *testing.T) {
	i := func(n int64) *int64 { return &n }
	tests := []struct {
		name            string
		lh              *topology.LiveHost
		threads, backlg bool
	}{
		{"no channel", &topology.LiveHost{Reachable: true}, true, true},
		{"running", &topology.LiveHost{Reachable: true, Replica: &topology.ReplicaStatus{IORunning: "Yes", SQLRunning: "Yes", SecondsBehind: i(3)}}, true, true},
		{"behind", &topology.LiveHost{Reachable: true, Replica: &topology.ReplicaStatus{IORunning: "Yes", SQLRunning: "Yes", SecondsBehind: i(61)}}, true, false},
		{"sql stopped, null lag", &topology.LiveHost{Reachable: true, Replica: &topology.ReplicaStatus{IORunning: "Yes", SQLRunning: "No"}}, false, true},
		{"io connecting", &topology.LiveHost{Reachable: true, Replica: &topology.ReplicaStatus{IORunning: "Connecting", SQLRunning: "Yes", LastIOErrno: 2003}}, false, true},
		{"unreachable", &topology.LiveHost{}, false, false},
	}
	for _, tt := range tests {
		th, _ := EvalRepThreads(tt.lh)
		bl, _ := EvalRepBacklog(tt.lh, 60)
		if th != tt.threads || bl != tt.backlg {
			t.Errorf("%s: threads=%v backlog=%v, want %v %v", tt.name, th, bl, tt.threads, tt.backlg)
		}
	}
}

// step: one round for one host, with the states the others are in.
type step struct {
	at     time.Duration
	in     Input
	want   State
	reason string // substring of the reason, when set
}

func TestStateMachine(t *testing.T) {
	down := Input{Ping: false, MySQL: false, Custom: true}
	noThreads := healthy()
	noThreads.RepThreads = false
	lag := healthy()
	lag.RepBacklog = false
	errant := healthy()
	errant.Problem = "errant transactions 0-1-105"
	restarted := healthy()
	restarted.Uptime = time.Second

	tests := []struct {
		name   string
		host   string
		active string // active master
		start  State
		steps  []step
	}{
		{"start-up healthy", "slave1", "master1", Unknown, []step{{0, healthy(), Online, "start-up"}}},
		{"start-up down", "slave1", "master1", Unknown, []step{{0, down, HardOffline, "ping: ERROR"}}},
		{"start-up errant", "master2", "master1", Unknown, []step{{0, errant, AwaitingRecovery, "errant"}}},
		{"online to hard offline and back after auto_set_online", "slave1", "master1", Online, []step{
			{0, down, HardOffline, ""},
			{time.Second, restarted, AwaitingRecovery, "reachable"},
			{30 * time.Second, restarted, AwaitingRecovery, ""},
			{61 * time.Second, restarted, Online, "auto_set_online"},
		}},
		{"the writer back after a restart, nobody took over: ONLINE at once", "master1", "master1", Online, []step{
			{0, down, HardOffline, ""},
			{time.Second, noThreads, AwaitingRecovery, "reachable"},
			{2 * time.Second, noThreads, Online, "no other host took over"},
		}},
		{"quick return without restart", "slave1", "master1", Online, []step{
			{0, healthy(), Online, ""}, // uptime 1h
			{time.Second, down, HardOffline, ""},
			{2 * time.Second, Input{Ping: true, MySQL: true, RepThreads: true, RepBacklog: true, Custom: true, Uptime: time.Hour + 2*time.Second}, AwaitingRecovery, ""},
			{3 * time.Second, Input{Ping: true, MySQL: true, RepThreads: true, RepBacklog: true, Custom: true, Uptime: time.Hour + 3*time.Second}, Online, "without a restart"},
		}},
		{"a young server restarted is no quick return", "slave1", "master1", Online, []step{
			{0, Input{Ping: true, MySQL: true, RepThreads: true, RepBacklog: true, Custom: true, Uptime: 3 * time.Second}, Online, ""},
			{time.Second, down, HardOffline, ""},
			{10 * time.Second, Input{Ping: true, MySQL: true, RepThreads: true, RepBacklog: true, Custom: true, Uptime: 4 * time.Second}, AwaitingRecovery, ""},
			{11 * time.Second, Input{Ping: true, MySQL: true, RepThreads: true, RepBacklog: true, Custom: true, Uptime: 5 * time.Second}, AwaitingRecovery, ""},
		}},
		{"replication fail and recover", "slave1", "master1", Online, []step{
			{0, noThreads, ReplicationFail, "threads"},
			{time.Second, lag, ReplicationDelay, "backlog"},
			{2 * time.Second, noThreads, ReplicationFail, ""},
			{3 * time.Second, healthy(), Online, "healthy again"},
		}},
		{"delay", "slave1", "master1", Online, []step{{0, lag, ReplicationDelay, ""}, {time.Second, down, HardOffline, ""}}},
		{"active master keeps its role whatever its replication", "master1", "master1", Online, []step{
			{0, noThreads, Online, ""}, {time.Second, lag, Online, ""}, {2 * time.Second, errant, Online, ""},
		}},
		{"admin offline stays", "slave1", "master1", AdminOffline, []step{{0, healthy(), AdminOffline, ""}, {time.Second, down, AdminOffline, ""}}},
		{"errant keeps out of online", "master2", "master1", AwaitingRecovery, []step{{2 * time.Minute, errant, AwaitingRecovery, "errant"}}},
		{"slave's replication not judged while the active master is down", "slave1", "master2", Online, []step{{0, noThreads, Online, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(testCluster(), t0)
			for _, h := range m.Hosts {
				h.State = Online
			}
			if tt.active == "master2" {
				m.Hosts["master2"].State = HardOffline
			}
			m.Hosts[tt.host].State = tt.start
			for _, s := range tt.steps {
				m.Step(t0.Add(s.at), map[string]Input{tt.host: s.in}, tt.active)
				hs := m.Hosts[tt.host]
				if hs.State != s.want {
					t.Fatalf("at %s: %s (%s), want %s", s.at, hs.State, hs.Reason, s.want)
				}
				if s.reason != "" && !strings.Contains(hs.Reason, s.reason) {
					t.Fatalf("at %s: reason %q, want it to mention %q", s.at, hs.Reason, s.reason)
				}
			}
		})
	}
}

// A slave keeps its roles while the writer's checks fail (within their trap
// period): its IO thread lost the writer, which is the writer's failure.
func TestSourceFailingSparesReplicas(t *testing.T) {
	m := NewMachine(testCluster(), t0)
	for _, h := range m.Hosts {
		h.State = Online
	}
	noThreads := healthy()
	noThreads.RepThreads = false
	failing := healthy()
	failing.Failing = true
	m.Step(t0, map[string]Input{"master1": failing, "slave1": noThreads, "master2": noThreads}, "master1")
	for _, h := range []string{"slave1", "master2"} {
		if st := m.Hosts[h].State; st != Online {
			t.Errorf("%s: %s, want ONLINE while its source fails", h, st)
		}
	}
	m.Step(t0.Add(time.Second), map[string]Input{"master1": healthy(), "slave1": noThreads}, "master1")
	if st := m.Hosts["slave1"].State; st != ReplicationFail {
		t.Errorf("slave1: %s, want REPLICATION_FAIL once its source is healthy", st)
	}
}

func TestFlapping(t *testing.T) {
	m := NewMachine(testCluster(), t0)
	down := Input{Custom: true}
	at := t0
	for i := 0; i < 3; i++ {
		m.Hosts["slave1"].State = Online
		m.Step(at, map[string]Input{"slave1": down}, "master1")
		at = at.Add(time.Second)
		m.Step(at, map[string]Input{"slave1": healthy()}, "master1") // awaiting recovery (restarted: uptime constant)
		at = at.Add(2 * time.Minute)
	}
	// Three departures within flap_duration: healthy past auto_set_online, still waiting.
	m.Hosts["slave1"].LastUptime = 0
	m.Step(at, map[string]Input{"slave1": healthy()}, "master1")
	if hs := m.Hosts["slave1"]; hs.State != AwaitingRecovery || !strings.Contains(hs.Reason, "flapping") {
		t.Fatalf("flapping host: %s (%s)", hs.State, hs.Reason)
	}
	// The operator may still set it online.
	if _, err := m.SetOnline("slave1", healthy(), at); err != nil || m.Hosts["slave1"].State != Online {
		t.Fatalf("set online: %v, %s", err, m.Hosts["slave1"].State)
	}
	// An hour later the flaps are forgotten.
	if m.Flapping("slave1", at.Add(2*time.Hour)) {
		t.Error("flaps older than flap_duration still count")
	}
}

func TestSetOnlineOffline(t *testing.T) {
	m := NewMachine(testCluster(), t0)
	m.Hosts["slave1"].State = Online
	if _, err := m.SetOffline("slave1", t0); err != nil || m.Hosts["slave1"].State != AdminOffline {
		t.Fatalf("set offline: %v", err)
	}
	if n := len(m.Hosts["slave1"].Flaps); n != 0 {
		t.Errorf("set offline by the operator counted as %d flap(s), want none", n)
	}
	bad := healthy()
	bad.Problem = "errant transactions 0-3-9"
	if _, err := m.SetOnline("slave1", bad, t0); err == nil {
		t.Error("set online with errant transactions succeeded")
	}
	if _, err := m.SetOnline("slave1", Input{}, t0); err == nil {
		t.Error("set online of an unreachable host succeeded")
	}
	if _, err := m.SetOnline("slave1", healthy(), t0); err != nil || m.Hosts["slave1"].State != Online {
		t.Fatalf("set online: %v", err)
	}
	m.Hosts["slave2"].State = HardOffline
	if _, err := m.SetOffline("slave2", t0); err == nil {
		t.Error("set offline of a HARD_OFFLINE host succeeded")
	}
}

func TestPlace(t *testing.T) {
	c := testCluster()
	c.Roles[1].IPs = []string{"10.0.0.101", "10.0.0.102", "10.0.0.103"}
	set := func(hosts ...string) func(string) bool {
		return func(h string) bool { return contains(hosts, h) }
	}
	tests := []struct {
		name    string
		online  func(string) bool
		current Placement
		writer  string
		want    string
	}{
		{"fresh: prefer gets the writer, readers spread", set("master1", "master2", "slave1", "slave2"), nil, "",
			"10.0.0.100=master1 10.0.0.101=slave1 10.0.0.102=slave2 10.0.0.103=slave1"},
		{"sticky writer", set("master1", "master2", "slave1", "slave2"), nil, "master2",
			"10.0.0.100=master2 10.0.0.101=slave1 10.0.0.102=slave2 10.0.0.103=slave1"},
		{"writer not online: nobody (failover decides)", set("master1", "slave1", "slave2"), nil, "master2",
			"10.0.0.100= 10.0.0.101=slave1 10.0.0.102=slave2 10.0.0.103=slave1"},
		{"prefer offline on a fresh cluster", set("master2", "slave1"), nil, "",
			"10.0.0.100=master2 10.0.0.101=slave1 10.0.0.102=slave1 10.0.0.103=slave1"},
		{"stable placement kept", set("master1", "slave1", "slave2"),
			Placement{"10.0.0.101": "slave2", "10.0.0.102": "slave1", "10.0.0.103": "slave2"}, "master1",
			"10.0.0.100=master1 10.0.0.101=slave2 10.0.0.102=slave1 10.0.0.103=slave2"},
		{"a slave leaves: its IPs move", set("master1", "slave2"),
			Placement{"10.0.0.101": "slave1", "10.0.0.102": "slave2", "10.0.0.103": "slave1"}, "master1",
			"10.0.0.100=master1 10.0.0.101=slave2 10.0.0.102=slave2 10.0.0.103=slave2"},
		{"a slave returns: rebalanced", set("master1", "slave1", "slave2"),
			Placement{"10.0.0.101": "slave2", "10.0.0.102": "slave2", "10.0.0.103": "slave2"}, "master1",
			"10.0.0.100=master1 10.0.0.101=slave2 10.0.0.102=slave2 10.0.0.103=slave1"},
		{"nobody online", set(), nil, "master1",
			"10.0.0.100= 10.0.0.101= 10.0.0.102= 10.0.0.103="},
	}
	for _, tt := range tests {
		got := Place(c, tt.online, tt.current, tt.writer)
		var parts []string
		for _, ip := range []string{"10.0.0.100", "10.0.0.101", "10.0.0.102", "10.0.0.103"} {
			parts = append(parts, ip+"="+got[ip])
		}
		if s := strings.Join(parts, " "); s != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, s, tt.want)
		}
	}
}

func replica(src, io string, ioErr int, sql string) *topology.ReplicaStatus {
	return &topology.ReplicaStatus{SourceHost: src, SourcePort: 3306, IORunning: io, LastIOErrno: ioErr, SQLRunning: sql}
}

func TestJudgeWriter(t *testing.T) {
	c := testCluster()
	live := func(reps map[string]*topology.ReplicaStatus) *topology.Live {
		l := &topology.Live{Hosts: map[string]*topology.LiveHost{}}
		for n, r := range reps {
			l.Hosts[n] = &topology.LiveHost{Name: n, Reachable: r != nil, Replica: r}
		}
		return l
	}
	tests := []struct {
		name        string
		monitorLost bool
		reps        map[string]*topology.ReplicaStatus
		want        Verdict
	}{
		{"monitor sees it", false, nil, WriterAlive},
		{"monitor only", true, map[string]*topology.ReplicaStatus{
			"master2": replica("10.0.0.11", "Yes", 0, "Yes"), "slave1": replica("10.0.0.11", "Yes", 0, "Yes"),
		}, WriterUnreachable},
		{"one replica still sees it", true, map[string]*topology.ReplicaStatus{
			"master2": replica("10.0.0.11", "Connecting", 2003, "Yes"), "slave1": replica("10.0.0.11", "Yes", 0, "Yes"),
		}, WriterUnreachable},
		{"all replicas lost it", true, map[string]*topology.ReplicaStatus{
			"master2": replica("10.0.0.11", "Connecting", 2003, "Yes"), "slave1": replica("10.0.0.11", "Yes", 2013, "Yes"),
			"slave2": nil, // unreachable: cannot vote
		}, WriterDead},
		{"no replica to ask", true, map[string]*topology.ReplicaStatus{"slave1": nil}, WriterUnreachable},
		{"replicas of another source do not vote", true, map[string]*topology.ReplicaStatus{
			"master2": replica("10.0.0.11", "Connecting", 2003, "Yes"), "slave1": replica("10.0.0.12", "Yes", 0, "Yes"),
		}, WriterDead},
	}
	for _, tt := range tests {
		got, why := JudgeWriter(c, "master1", tt.monitorLost, live(tt.reps))
		if got != tt.want {
			t.Errorf("%s: %s (%s), want %s", tt.name, got, why, tt.want)
		}
	}
}

func TestChooseCandidate(t *testing.T) {
	c := testCluster()
	c.Roles[0].Hosts = []string{"master1", "master2", "master3"}
	c.Hosts = append(c.Hosts, &topology.Host{Name: "master3", Address: "10.0.0.15", Mode: topology.ModeMaster})
	host := func(executed, binlog, slave string, sqlRunning string) *topology.LiveHost {
		return &topology.LiveHost{Reachable: true, GTIDExecuted: executed, GTIDBinlogPos: binlog, GTIDSlavePos: slave,
			Replica: &topology.ReplicaStatus{IORunning: "Connecting", SQLRunning: sqlRunning, LastIOErrno: 2003}}
	}
	writerPos := gtid.MustParse("0-1-100")
	tests := []struct {
		name   string
		hosts  map[string]*topology.LiveHost
		states map[string]State
		want   string
	}{
		{"most advanced wins over prefer", map[string]*topology.LiveHost{
			"master2": host("0-1-99", "0-1-99", "0-1-99", "Yes"),
			"master3": host("0-1-100", "0-1-100", "0-1-100", "Yes"),
		}, nil, "master3"},
		{"equal: prefer breaks the tie", map[string]*topology.LiveHost{
			"master2": host("0-1-100", "0-1-100", "0-1-100", "Yes"),
			"master3": host("0-1-100", "0-1-100", "0-1-100", "Yes"),
		}, nil, "master2"},
		{"errant transactions refused", map[string]*topology.LiveHost{
			"master2": host("0-2-101", "0-2-101", "0-1-100", "Yes"),
			"master3": host("0-1-98", "0-1-98", "0-1-98", "Yes"),
		}, nil, "master3"},
		{"admin offline refused", map[string]*topology.LiveHost{
			"master2": host("0-1-100", "0-1-100", "0-1-100", "Yes"),
			"master3": host("0-1-90", "0-1-90", "0-1-90", "Yes"),
		}, map[string]State{"master2": AdminOffline}, "master3"},
		{"SQL thread stopped with relay log unapplied refused", map[string]*topology.LiveHost{
			"master2": func() *topology.LiveHost {
				h := host("0-1-99", "0-1-99", "0-1-99", "No")
				h.Replica.RetrievedGTIDSet = "0-1-100"
				return h
			}(),
		}, nil, ""},
		{"SQL thread stopped cleanly, all applied: eligible", map[string]*topology.LiveHost{
			"master2": host("0-1-100", "0-1-100", "0-1-100", "No"),
		}, nil, "master2"},
		{"SQL error refused", map[string]*topology.LiveHost{
			"master2": func() *topology.LiveHost {
				h := host("0-1-100", "0-1-100", "0-1-100", "No")
				h.Replica.LastSQLErrno = 1062
				return h
			}(),
		}, nil, ""},
		{"received but not applied counts", map[string]*topology.LiveHost{
			"master2": func() *topology.LiveHost {
				h := host("0-1-90", "0-1-90", "0-1-90", "Yes")
				h.Replica.RetrievedGTIDSet = "0-1-100"
				return h
			}(),
			"master3": host("0-1-95", "0-1-95", "0-1-95", "Yes"),
		}, nil, "master2"},
	}
	prefer := *c.Roles[0]
	prefer.Prefer = "master2"
	c.Roles[0] = &prefer
	for _, tt := range tests {
		live := &topology.Live{Hosts: tt.hosts}
		ch := ChooseCandidate(c, "master1", tt.states, live, writerPos)
		if ch.Host != tt.want {
			t.Errorf("%s: chose %q, want %q (%s)", tt.name, ch.Host, tt.want, ch.Explain())
		}
	}
}

func TestErrant(t *testing.T) {
	lh := &topology.LiveHost{ServerID: 1, GTIDBinlogPos: "0-1-105", GTIDSlavePos: "0-2-100"}
	if e := Errant(lh, gtid.MustParse("0-2-104")); e.String() != "0-1-105" {
		t.Errorf("errant = %q", e)
	}
	// Another server's GTID in its binary log came by replication, even
	// when gtid_slave_pos (read a moment apart) lags.
	if e := Errant(&topology.LiveHost{ServerID: 2, GTIDBinlogPos: "0-1-590", GTIDSlavePos: "0-1-589"}, gtid.MustParse("0-1-580")); !e.Empty() {
		t.Errorf("replicated GTID counted as errant: %q", e)
	}
	if e := Errant(lh, gtid.MustParse("0-1-105")); !e.Empty() {
		t.Errorf("no errant expected, got %q", e)
	}
	const u = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	my := &topology.LiveHost{GTIDExecuted: u + ":1-10", Replica: &topology.ReplicaStatus{RetrievedGTIDSet: u + ":1-8"}}
	if e := Errant(my, gtid.Set{}); e.String() != u+":9-10" {
		t.Errorf("mysql errant = %q", e)
	}
}

// The watch's periodic loops wake on the multiples of their period, so
// loops with one period wake together; the wait is never zero (a loop
// woken on the tick waits a whole period) nor longer than a period, also
// after the wall clock stepped.
func TestUntilTick(t *testing.T) {
	p := 250 * time.Millisecond
	base := time.Unix(1_800_000_000, 0) // a multiple of 250ms
	for _, tt := range []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, p},
		{time.Nanosecond, p - time.Nanosecond},
		{100 * time.Millisecond, 150 * time.Millisecond},
		{249 * time.Millisecond, time.Millisecond},
		{250 * time.Millisecond, p},
		{-time.Hour - 10*time.Millisecond, 10 * time.Millisecond},
	} {
		if got := untilTick(p, base.Add(tt.at)); got != tt.want {
			t.Errorf("untilTick(%s, base%+v) = %s, want %s", p, tt.at, got, tt.want)
		}
	}
}
