package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// healthy says whether the cluster is as a run must find it: the watch
// answers in active mode, every host ONLINE, one writer holding the writer
// VIP, that VIP in the writer's namespace alone, the writer the only
// writable master, and the VIP reaching it, writable, as the application.
func (s *suite) healthy() (string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	st, err := s.api.status(ctx)
	cancel()
	if err != nil {
		return "", "watch: " + err.Error()
	}
	if s.raft {
		// The leader answers, and every node is in raft: a run starts with
		// three nodes, whatever the previous run killed.
		if st.Leader == "" || st.Node != st.Leader {
			return "", fmt.Sprintf("watch nodes: no leader answers (node %s names leader %q)", st.Node, st.Leader)
		}
		for _, n := range st.Nodes {
			if n.State != "Leader" && n.State != "Follower" {
				return "", fmt.Sprintf("watch node %s is %s %s", n.Name, n.State, n.Error)
			}
		}
		if len(st.Nodes) != len(s.nodes) {
			return "", fmt.Sprintf("the leader %s sees %d watch nodes, want %d", st.Leader, len(st.Nodes), len(s.nodes))
		}
	}
	if st.Mode != "active" {
		return "", "watch mode " + st.Mode
	}
	for _, h := range st.Hosts {
		if h.State != "ONLINE" {
			return "", fmt.Sprintf("%s is %s (%s%s)", h.Name, h.State, h.Reason, h.Problem)
		}
	}
	w := st.Writer
	if w == "" || !st.holds(w, s.vip) {
		return "", fmt.Sprintf("writer %q without the writer VIP in the watch's view", w)
	}
	if v := s.vipHolders(); !slices.Equal(v, []string{w}) {
		return "", fmt.Sprintf("writer VIP on %v, writer %s", v, w)
	}
	if wm := s.writableMasters(time.Second); !slices.Equal(wm, []string{w}) {
		return "", fmt.Sprintf("writable masters %v, writer %s", wm, w)
	}
	id, writable, err := s.viaVIP()
	if err != nil {
		return "", "through the writer VIP: " + err.Error()
	}
	if id != s.sid[w] || !writable {
		return "", fmt.Sprintf("the writer VIP reaches server_id %d (writable %v), writer %s is %d", id, writable, w, s.sid[w])
	}
	return w, ""
}

// settle waits until the cluster is healthy and returns the writer. On the
// way it does what an operator does without thinking: starts a server, an
// agent or the watch that is not running, sets a flapping host online. With
// repair it also rebuilds, from the writer, a host that stays out of ONLINE
// (errant GTIDs, a replica ahead of the writer), and at last re-runs mmm
// apply. Each such action is returned in the notes of the run via s.note.
func (s *suite) settle(repair bool, timeout time.Duration) (string, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	repaired := map[string]bool{}
	applied := false
	var lastWhy string
	var lastAction time.Time
	badSince := map[string]time.Time{}
	var keptOutSince time.Time
	for {
		w, why := s.healthy()
		if why == "" {
			return w, nil
		}
		// A host kept out for errant transactions, or a replica left ahead
		// of the new writer, waits for an operator: without repairs there
		// is nothing more to wait for.
		if kept := strings.Contains(why, "errant") || strings.Contains(why, "ahead of"); !kept {
			keptOutSince = time.Time{}
		} else if keptOutSince.IsZero() {
			keptOutSince = time.Now()
		} else if !repair && time.Since(keptOutSince) > 10*time.Second {
			return "", fmt.Errorf("%w: kept out for an operator: %s", errUnhealthy, why)
		}
		if why != lastWhy {
			s.logf("settle: %s", why)
			lastWhy = why
		}
		if time.Now().After(deadline) {
			st := "(no status)"
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if r, err := s.api.status(ctx); err == nil {
				st = r.render()
			}
			cancel()
			return "", fmt.Errorf("%w after %s: %s\n%s", errUnhealthy, timeout, why, st)
		}
		if time.Since(lastAction) > 2*time.Second {
			lastAction = time.Now()
			s.settleActions(repair, start, badSince, repaired, &applied)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (s *suite) settleActions(repair bool, start time.Time, badSince map[string]time.Time, repaired map[string]bool, applied *bool) {
	switch {
	case s.raft:
		var gone []string
		for _, n := range s.nodes {
			if !s.nodeAlive(n) {
				gone = append(gone, n)
			}
		}
		if len(gone) > 0 {
			s.note(fmt.Sprintf("watch nodes %v were not running: restarted", gone))
			if err := s.startNodes(gone...); err != nil {
				s.logf("settle: %v", err)
			}
		}
	case !s.watchAlive():
		s.note("the watch process was gone: restarted")
		s.startWatch()
	}
	for _, h := range s.hosts {
		if !s.serverAlive(h) {
			s.note(fmt.Sprintf("mariadbd of %s was not running: restarted", h))
			if err := s.restartServer(h); err != nil {
				s.logf("settle: %v", err)
			}
		}
		if s.agentPID(h) == 0 {
			s.note(fmt.Sprintf("agent of %s was not running: restarted", h))
			if err := s.restartAgent(h); err != nil {
				s.logf("settle: %v", err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	st, err := s.api.status(ctx)
	cancel()
	if err != nil {
		return
	}
	for _, h := range st.Hosts {
		if h.State == "ONLINE" {
			delete(badSince, h.Name)
			continue
		}
		if badSince[h.Name].IsZero() {
			badSince[h.Name] = time.Now()
		}
		if h.State == "AWAITING_RECOVERY" && strings.Contains(h.Reason, "flap") {
			s.note("set-online " + h.Name + " (flapping)")
			_ = s.api.command("set-online", map[string]string{"host": h.Name})
		}
		if h.State == "ADMIN_OFFLINE" {
			s.note("set-online " + h.Name + " (ADMIN_OFFLINE)")
			_ = s.api.command("set-online", map[string]string{"host": h.Name})
		}
		if !repair || repaired[h.Name] || h.Name == st.Writer || time.Since(badSince[h.Name]) < 20*time.Second {
			continue
		}
		writer := st.Writer
		if writer == "" {
			if wm := s.writableMasters(time.Second); len(wm) == 1 {
				writer = wm[0]
			}
		}
		if writer == "" {
			continue
		}
		repaired[h.Name] = true
		s.note(fmt.Sprintf("REPAIR: %s stayed %s for 20s (%s%s): rebuilt from %s", h.Name, h.State, h.Reason, h.Problem, writer))
		if err := s.rebuild(h.Name, writer); err != nil {
			s.note(fmt.Sprintf("rebuild of %s failed: %v", h.Name, err))
		}
	}
	if repair && !*applied && time.Since(start) > 90*time.Second {
		*applied = true
		out, err := s.mmm(3*time.Minute, "apply", "--auto-approve")
		s.note(fmt.Sprintf("REPAIR: mmm apply --auto-approve: %v %s", err, lastLines(out, 3)))
	}
}

// rebuild makes host an exact copy of writer's shop.chaos and GTID state and
// points it at writer, the way an operator rebuilds a replica that is ahead
// of the writer or holds errant transactions (a clone, cut short: the lab's
// load writes nothing else). Nothing of it is binlogged on host; its own
// binary log is reset to the writer's GTID state, so it can serve the others
// as a source again.
func (s *suite) rebuild(host, writer string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wdb := s.root(writer)
	// A writer that replicates from host (its master-master peer) must not
	// read host's binary log while it is reset.
	srcOfWriter, _ := s.sourceOf(writer)
	if srcOfWriter == s.c.Host(host).Address {
		if _, err := wdb.ExecContext(ctx, "STOP SLAVE"); err != nil {
			return fmt.Errorf("STOP SLAVE on %s: %w", writer, err)
		}
	}
	var state, pos string
	if err := wdb.QueryRowContext(ctx, "SELECT @@global.gtid_binlog_state, @@global.gtid_binlog_pos").Scan(&state, &pos); err != nil {
		return err
	}
	if srcOfWriter == s.c.Host(host).Address {
		// host's binary log starts afresh at the writer's state: the writer
		// asks it for what comes after its own position, nothing older.
		defer func() {
			for _, q := range []string{"SET GLOBAL gtid_slave_pos = '" + pos + "'", "START SLAVE"} {
				if _, err := wdb.ExecContext(context.Background(), q); err != nil {
					s.note(fmt.Sprintf("rebuild of %s: %s on %s: %v", host, q, writer, err))
				}
			}
		}()
	}
	rows, err := wdb.QueryContext(ctx, "SELECT n, DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f') FROM shop.chaos ORDER BY n")
	if err != nil {
		return err
	}
	var values []string
	for rows.Next() {
		var n int
		var at string
		if err := rows.Scan(&n, &at); err != nil {
			rows.Close()
			return err
		}
		values = append(values, fmt.Sprintf("(%d,'%s')", n, at))
	}
	rows.Close()
	conn, err := s.root(host).Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	exec := func(q string) error {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s on %s: %w", trunc(q, 80), host, err)
		}
		return nil
	}
	for _, q := range []string{"STOP SLAVE", "SET GLOBAL read_only = ON", "SET SESSION sql_log_bin = 0", "DELETE FROM shop.chaos"} {
		if err := exec(q); err != nil {
			return err
		}
	}
	for len(values) > 0 {
		k := min(len(values), 2000)
		if err := exec("INSERT INTO shop.chaos (n, at) VALUES " + strings.Join(values[:k], ",")); err != nil {
			return err
		}
		values = values[k:]
	}
	w := s.c.Host(writer)
	repl := s.c.ReplicationUser()
	for _, q := range []string{
		"SET SESSION sql_log_bin = 1",
		"RESET MASTER",
		"SET GLOBAL gtid_binlog_state = '" + state + "'",
		"SET GLOBAL gtid_slave_pos = '" + pos + "'",
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos",
			w.Address, w.Port, repl.Name, strings.ReplaceAll(repl.Password.Value(), "'", "''")),
		"START SLAVE",
	} {
		if err := exec(q); err != nil {
			return err
		}
	}
	return nil
}

// sourceOf is the Master_Host host replicates from ("" when none).
func (s *suite) sourceOf(host string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := s.root(host).QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return "", rows.Err()
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", err
	}
	for i, c := range cols {
		if c == "Master_Host" {
			if b, ok := vals[i].([]byte); ok {
				return string(b), nil
			}
		}
	}
	return "", nil
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// note records a harness action in the current run (or the suite's log).
func (s *suite) note(msg string) {
	s.t.Helper()
	s.logf("%s", msg)
	if r := s.current; r != nil {
		r.addNote(msg)
	}
}

func (s *suite) logf(format string, args ...any) {
	s.t.Helper()
	s.t.Logf("chaos: "+format, args...)
}
