package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// dialect builds the SQL of the steps for one server. It is the seam to the
// per-flavor statement tables: every statement Diff emits comes from here, so
// switching to internal/flavor's builders changes this file only.
type dialect struct {
	mariadb bool
	// mysql84: MySQL 8.4 dropped RESET MASTER for RESET BINARY LOGS AND GTIDS.
	mysql84 bool
}

// dialectFor picks the dialect from the version the server reported, and from
// the declared flavor when the server was not seen.
func dialectFor(flavor string, lh *topology.LiveHost) dialect {
	v := ""
	if lh != nil {
		v = lh.Version
	}
	if v == "" {
		return dialect{mariadb: flavor != "mysql"}
	}
	if strings.Contains(strings.ToLower(v), "mariadb") {
		return dialect{mariadb: true}
	}
	major, minor := leadingVersion(v)
	return dialect{mysql84: major > 8 || (major == 8 && minor >= 4)}
}

// leadingVersion reads "8.4.2-log" as 8, 4.
func leadingVersion(v string) (int, int) {
	parts := strings.SplitN(v, ".", 3)
	num := func(s string) int {
		end := 0
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		n, _ := strconv.Atoi(s[:end])
		return n
	}
	major, minor := 0, 0
	if len(parts) > 0 {
		major = num(parts[0])
	}
	if len(parts) > 1 {
		minor = num(parts[1])
	}
	return major, minor
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

func (d dialect) setGlobal(name, value string) Statement {
	return SQL(fmt.Sprintf("SET GLOBAL %s = %s", name, value))
}

// setReadOnly: on MySQL super_read_only goes with read_only (turning
// super_read_only on implies read_only; turning read_only off implies
// super_read_only off), so one statement each way suffices.
func (d dialect) setReadOnly(on bool) []Statement {
	if d.mariadb {
		return []Statement{d.setGlobal("read_only", onOff(on))}
	}
	if on {
		return []Statement{d.setGlobal("super_read_only", "ON")}
	}
	return []Statement{d.setGlobal("read_only", "OFF")}
}

func (d dialect) semiSyncMasterVar() string {
	if d.mariadb {
		return "rpl_semi_sync_master_enabled"
	}
	return "rpl_semi_sync_source_enabled"
}

func (d dialect) semiSyncSlaveVar() string {
	if d.mariadb {
		return "rpl_semi_sync_slave_enabled"
	}
	return "rpl_semi_sync_replica_enabled"
}

func (d dialect) semiSyncTimeoutVar() string {
	if d.mariadb {
		return "rpl_semi_sync_master_timeout"
	}
	return "rpl_semi_sync_source_timeout"
}

func (d dialect) replicaWord() string {
	if d.mariadb {
		return "SLAVE"
	}
	return "REPLICA"
}

func (d dialect) stopReplica() Statement  { return SQL("STOP " + d.replicaWord()) }
func (d dialect) startReplica() Statement { return SQL("START " + d.replicaWord()) }

// restartIOThread makes a running replica pick up a changed semi-sync setting,
// which the IO thread reads only when it connects.
func (d dialect) restartIOThread() []Statement {
	return []Statement{SQL("STOP " + d.replicaWord() + " IO_THREAD"), SQL("START " + d.replicaWord() + " IO_THREAD")}
}

func (d dialect) resetBinlog() Statement {
	if d.mysql84 {
		return SQL("RESET BINARY LOGS AND GTIDS")
	}
	return SQL("RESET MASTER")
}

// gtidMode is ReplicaStatus.UsingGTID of a channel configured the way mmm wants.
func (d dialect) gtidMode() string {
	if d.mariadb {
		return "Slave_Pos"
	}
	return "Auto_Position"
}

// source is what a replication channel connects to.
type source struct {
	Address   string
	Port      int
	User      string
	Password  topology.Secret
	Retry     time.Duration
	Heartbeat time.Duration
	SSL       bool
	SSLCA     string
	SSLCert   string
	SSLKey    string
}

func (d dialect) changeSource(s source) Statement {
	kw := func(name string) string {
		if d.mariadb {
			return "MASTER_" + name
		}
		return "SOURCE_" + name
	}
	var b strings.Builder
	if d.mariadb {
		b.WriteString("CHANGE MASTER TO ")
	} else {
		b.WriteString("CHANGE REPLICATION SOURCE TO ")
	}
	fmt.Fprintf(&b, "%s=%s, %s=%d, %s=%s, %s=", kw("HOST"), QuoteString(s.Address), kw("PORT"), s.Port, kw("USER"), QuoteString(s.User), kw("PASSWORD"))
	prefix := b.String()
	b.Reset()
	if s.Retry > 0 {
		fmt.Fprintf(&b, ", %s=%d", kw("CONNECT_RETRY"), int(s.Retry.Seconds()))
	}
	if s.Heartbeat > 0 {
		fmt.Fprintf(&b, ", %s=%s", kw("HEARTBEAT_PERIOD"), strconv.FormatFloat(s.Heartbeat.Seconds(), 'f', -1, 64))
	}
	if s.SSL {
		fmt.Fprintf(&b, ", %s=1", kw("SSL"))
		for _, f := range []struct{ name, val string }{{"SSL_CA", s.SSLCA}, {"SSL_CERT", s.SSLCert}, {"SSL_KEY", s.SSLKey}} {
			if f.val != "" {
				fmt.Fprintf(&b, ", %s=%s", kw(f.name), QuoteString(f.val))
			}
		}
	} else {
		fmt.Fprintf(&b, ", %s=0", kw("SSL"))
		if !d.mariadb {
			// caching_sha2_password over a plain connection needs the RSA key.
			b.WriteString(", GET_SOURCE_PUBLIC_KEY=1")
		}
	}
	if d.mariadb {
		b.WriteString(", MASTER_USE_GTID=slave_pos")
	} else {
		b.WriteString(", SOURCE_AUTO_POSITION=1")
	}
	if s.Password.Set {
		return secretSQL(prefix, s.Password.Value(), b.String())
	}
	return SQL(prefix + "''" + b.String())
}

// noBinlog keeps a session's statements out of the binary log. See the
// comment on users in diff.go for why account changes run this way.
func (d dialect) noBinlog() Statement { return SQL("SET SESSION sql_log_bin = 0") }

func account(name, host string) string { return QuoteString(name) + "@" + QuoteString(host) }

func (d dialect) createUser(name, host string, pw topology.Secret) Statement {
	prefix := "CREATE USER " + account(name, host)
	if pw.Set {
		return secretSQL(prefix+" IDENTIFIED BY ", pw.Value(), "")
	}
	return SQL(prefix)
}

func (d dialect) alterPassword(name, host string, pw topology.Secret) Statement {
	return secretSQL("ALTER USER "+account(name, host)+" IDENTIFIED BY ", pw.Value(), "")
}

func (d dialect) dropUser(name, host string) Statement {
	return SQL("DROP USER " + account(name, host))
}

// object quotes a canonical grant object: "*.*", "db.*", "db.tbl".
func object(on string) string {
	if on == "*.*" {
		return on
	}
	db, tbl, ok := strings.Cut(on, ".")
	if !ok {
		return quoteIdent(on)
	}
	if tbl == "*" {
		return quoteIdent(db) + ".*"
	}
	return quoteIdent(db) + "." + quoteIdent(tbl)
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func (d dialect) grant(privs []string, on, name, host string, withGrantOption bool) Statement {
	p := strings.Join(privs, ", ")
	if p == "" {
		p = "USAGE"
	}
	s := "GRANT " + p + " ON " + object(on) + " TO " + account(name, host)
	if withGrantOption {
		s += " WITH GRANT OPTION"
	}
	return SQL(s)
}

func (d dialect) revoke(privs []string, on, name, host string) Statement {
	return SQL("REVOKE " + strings.Join(privs, ", ") + " ON " + object(on) + " FROM " + account(name, host))
}

func (d dialect) revokeGrantOption(on, name, host string) Statement {
	return SQL("REVOKE GRANT OPTION ON " + object(on) + " FROM " + account(name, host))
}
