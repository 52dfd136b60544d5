package plan

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// replication plans the channels: the standby master and every slave from
// the writer, then the writer from the standby.
//
// Initial GTID positions. A server that has never replicated (no channel, an
// empty gtid_slave_pos) and holds no data gets the writer's position as its
// starting point, copied into the plan, rather than an empty one: a fresh
// server's binary log may hold transactions of its own provisioning (the
// admin account, timezone tables), and replaying the writer's would stop the
// replica (CREATE USER of an account that exists). So, on such a host:
//
//   - its own binary log is discarded (RESET MASTER) unless it is the writer:
//     those transactions exist nowhere else and would make its GTID history
//     disagree with the writer's (gtid_strict_mode refuses that, and a later
//     failover to it would see them as errant);
//   - MariaDB: gtid_slave_pos = the writer's gtid_binlog_pos at plan time,
//     on every fresh host including the writer itself (for its channel from
//     the standby, whose binary log then starts where the writer's was);
//   - MySQL: gtid_purged = the writer's gtid_executed after the reset.
//
// Because that position is copied into the plan, a saved plan pins the
// writer's GTID (Fingerprint: any movement makes the plan stale).
//
// A host that never replicated but holds data, or is empty while the writer
// holds data, is not pointed anywhere: it needs a copy first (bootstrap).
func (d *differ) replication() {
	repl := d.c.ReplicationUser()
	if repl == nil {
		d.problem(Problem{Severity: SeverityError,
			Summary: fmt.Sprintf("replication.user %q names no declared user", d.c.Replication.User),
			Detail:  "Declare the account replicas connect with; no replication steps are planned."})
		return
	}
	w := d.c.Host(d.writer)
	if w == nil {
		return
	}
	for _, h := range d.c.Hosts {
		if h.Name != d.writer {
			d.channel(h, repl)
		}
	}
	d.channel(w, repl)
}

func (d *differ) channel(h *topology.Host, repl *topology.User) {
	lh := d.reachable(h)
	src := d.sourceOf(h)
	if lh == nil || src == nil {
		return
	}
	if h.Name == d.writer && d.replBlocked[src.Name] {
		return // the standby does not follow the writer yet; neither way then
	}
	sql := d.dialect(h)
	rs := lh.Replica
	subject := hostSubject(h)
	var hostSteps []string
	add := func(s Step) string {
		s.Host, s.Subject = h.Name, subject
		s.DependsOn = append(nonEmpty(lastOf(hostSteps)), s.DependsOn...)
		id := d.add(s)
		hostSteps = append(hostSteps, id)
		d.replPlanned[h.Name] = true
		return id
	}

	mismatch := d.channelMismatch(rs, src, repl, sql)
	if contains(d.replPasswordChanged, src.Name) {
		mismatch = append(mismatch, "password of "+repl.Key()+" changes on "+src.Name)
	} else if rs != nil && rs.LastIOErrno == 1045 {
		mismatch = append(mismatch, "access denied for "+repl.Key()+" (stored password is stale)")
	}
	if rs != nil && len(mismatch) == 0 {
		if rs.Running() || (rs.IORunning == "Connecting" && rs.SQLRunning == "Yes") {
			return
		}
		why := fmt.Sprintf("replication threads stopped (IO %s, SQL %s)", orDefault(rs.IORunning, "No"), orDefault(rs.SQLRunning, "No"))
		if rs.LastSQLErrno != 0 {
			d.problem(Problem{Severity: SeverityWarning, Host: h.Name,
				Summary: fmt.Sprintf("%s stopped replicating on SQL error %d: %s", h.Name, rs.LastSQLErrno, rs.LastSQLError),
				Detail:  "The plan starts the replica again; it stops again unless the cause is fixed."})
			why += fmt.Sprintf("; last SQL error %d", rs.LastSQLErrno)
		}
		if rs.LastIOErrno != 0 {
			why += fmt.Sprintf("; last IO error %d", rs.LastIOErrno)
		}
		add(Step{ID: stepID(h.Name, KindStartReplica, "replica"), Kind: KindStartReplica, Symbol: Update,
			Change: "replication threads stopped -> running", Why: why,
			Statements: []Statement{sql.startReplica()}, DependsOn: nonEmpty(d.switchWait)})
		return
	}

	block := func(summary, detail string) {
		d.replBlocked[h.Name] = true
		d.problem(Problem{Severity: SeverityWarning, Host: h.Name, Summary: summary, Detail: detail})
	}
	ls := d.reachable(src)
	if ls == nil {
		block(fmt.Sprintf("cannot point %s at %s: %s is unreachable", h.Name, src.Name, src.Name), "")
		return
	}
	fresh := rs == nil && lh.GTIDSlavePos == ""
	lw := d.reachable(d.c.Host(d.writer))
	var clone *Step // bootstrap.go: a copy of the data comes first
	if fresh && h.Name != d.writer {
		var handled bool
		if clone, handled = d.bootstrap(h, lh, lw); handled && clone == nil {
			return
		}
	}
	if fresh && h.Name != d.writer && clone == nil {
		if len(lh.UserSchemas) > 0 {
			block(fmt.Sprintf("%s holds data (%s) but never replicated", h.Name, strings.Join(lh.UserSchemas, ", ")),
				"Pointing it at "+d.writer+" would mix two histories. Give it a copy of the writer's data (bootstrap) or empty it; no replication steps are planned for it.")
			return
		}
		if lw != nil && len(lw.UserSchemas) > 0 {
			block(fmt.Sprintf("%s is empty and %s holds data (%s)", h.Name, d.writer, strings.Join(lw.UserSchemas, ", ")),
				"It needs a copy of the data first (a bootstrap block); no replication steps are planned for it.")
			return
		}
	}

	if rs != nil && (rs.IORunning != "No" || rs.SQLRunning != "No") {
		add(Step{ID: stepID(h.Name, KindStopReplica, "replica"), Kind: KindStopReplica, Symbol: Update,
			Change: "stop replication to change its source", Statements: []Statement{sql.stopReplica()},
			DependsOn: nonEmpty(d.switchWait)})
	}
	if fresh && h.Name != d.writer && lh.GTIDBinlogPos != "" {
		add(Step{ID: stepID(h.Name, KindResetBinlog, "binlog"), Kind: KindResetBinlog, Symbol: Update,
			Change:     fmt.Sprintf("binary log %s -> empty", lh.GTIDBinlogPos),
			Why:        "It never replicated and holds no data: drop its local transactions (provisioning) so its GTID history is the writer's.",
			Statements: []Statement{sql.resetBinlog()}})
	}
	if clone != nil {
		add(*clone)
	} else if fresh && lw != nil {
		if sql.mariadb() && lh.GTIDSlavePos != lw.GTIDBinlogPos {
			d.pinned[d.writer] = true
			d.gtidSteps[h.Name] = add(Step{ID: stepID(h.Name, KindSetVariable, "gtid_slave_pos"), Kind: KindSetVariable, Symbol: Update,
				Change:     fmt.Sprintf("gtid_slave_pos = %s -> %s", shownOrEmpty(lh.GTIDSlavePos), shownOrEmpty(lw.GTIDBinlogPos)),
				Why:        "Start after what " + d.writer + " holds now (its gtid_binlog_pos), not at its provisioning.",
				Statements: []Statement{sql.setGlobal("gtid_slave_pos", lw.GTIDBinlogPos)}})
		}
		if !sql.mariadb() && h.Name != d.writer && lw.GTIDExecuted != "" {
			d.pinned[d.writer] = true
			add(Step{ID: stepID(h.Name, KindSetVariable, "gtid_purged"), Kind: KindSetVariable, Symbol: Update,
				Change:     fmt.Sprintf("gtid_purged = '' -> %s", shownOrEmpty(lw.GTIDExecuted)),
				Why:        "Start after what " + d.writer + " holds now (its gtid_executed), not at its provisioning.",
				Statements: []Statement{sql.setGlobal("gtid_purged", lw.GTIDExecuted)}})
		}
	}

	deps := append([]string{}, d.replUserSteps[src.Name]...)
	if d.ids[stepID(h.Name, KindSetVariable, "server_id")] {
		deps = append(deps, stepID(h.Name, KindSetVariable, "server_id"))
	}
	if h.Name == d.writer {
		deps = append(deps, d.replSteps[src.Name]...)
	} else if d.switchWait != "" {
		deps = append(deps, d.switchWait)
	}
	r := d.c.Replication
	port := src.Port
	if port == 0 {
		port = 3306
	}
	from := "none"
	sym := Create
	if rs != nil {
		from, sym = d.sourceName(rs), Update
	}
	change := fmt.Sprintf("source = %s -> %s", from, src.Name)
	why := "The standby master and every slave replicate from the writer."
	if h.Name == d.writer {
		why = "The writer replicates from the standby master (master-master); its own events coming back are skipped by server_id."
	}
	if rs != nil {
		why = strings.Join(mismatch, "; ")
	}
	if clone != nil {
		why += " It starts at the GTID position the clone ends with (gtid_slave_pos, set by the clone)."
	}
	add(Step{ID: stepID(h.Name, KindChangeSource, "replica"), Kind: KindChangeSource, Symbol: sym,
		Change: change, Why: why, DependsOn: deps,
		Statements: []Statement{sql.changeSource(source{
			Address: src.Address, Port: port, User: repl.Name, Password: repl.Password,
			Retry: r.ConnectRetry, Heartbeat: r.Heartbeat, SSL: r.SSL, SSLCA: r.SSLCA, SSLCert: r.SSLCert, SSLKey: r.SSLKey,
		})}})
	add(Step{ID: stepID(h.Name, KindStartReplica, "replica"), Kind: KindStartReplica, Symbol: Update,
		Change: "replication threads -> running", Statements: []Statement{sql.startReplica()}})
	d.replSteps[h.Name] = hostSteps
}

// channelMismatch says how rs differs from a channel to src; nil when it is
// configured as wanted (or when there is no channel at all).
func (d *differ) channelMismatch(rs *topology.ReplicaStatus, src *topology.Host, repl *topology.User, sql dialect) []string {
	if rs == nil {
		return nil
	}
	var out []string
	port := src.Port
	if port == 0 {
		port = 3306
	}
	if (rs.SourceHost != src.Address && rs.SourceHost != src.Name) || rs.SourcePort != port {
		out = append(out, fmt.Sprintf("replicates from %s, want %s", d.sourceName(rs), src.Name))
	}
	if rs.SourceUser != repl.Name {
		out = append(out, fmt.Sprintf("user %s, want %s", shownOrEmpty(rs.SourceUser), repl.Name))
	}
	if !strings.EqualFold(rs.UsingGTID, sql.gtidMode()) {
		out = append(out, fmt.Sprintf("GTID mode %s, want %s", orDefault(rs.UsingGTID, "No"), sql.gtidMode()))
	}
	r := d.c.Replication
	if r.ConnectRetry > 0 && rs.ConnectRetry != int(r.ConnectRetry.Seconds()) {
		out = append(out, fmt.Sprintf("connect retry %ds, want %s", rs.ConnectRetry, r.ConnectRetry))
	}
	if r.Heartbeat > 0 && math.Abs(rs.HeartbeatPeriod-r.Heartbeat.Seconds()) > 0.001 {
		out = append(out, fmt.Sprintf("heartbeat %ss, want %s", strconv.FormatFloat(rs.HeartbeatPeriod, 'f', -1, 64), r.Heartbeat))
	}
	if rs.SSL != r.SSL {
		out = append(out, fmt.Sprintf("SSL %t, want %t", rs.SSL, r.SSL))
	}
	return out
}

// shownOrEmpty is for plan text only, not SQL: an empty value is shown as
// a pair of single quotes.
func shownOrEmpty(s string) string {
	if s == "" {
		return "''"
	}
	return s
}

func lastOf(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[len(ids)-1]
}
