package plan

import (
	"fmt"
	"time"

	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// dialect turns internal/flavor's statement builders into plan Statements
// (secrets redacted) for one server. A builder error (a name mmm cannot put
// into a statement) becomes an error Problem through onErr, so the plan is
// refused rather than carrying a broken statement.
type dialect struct {
	f     flavor.Flavor
	onErr func(error)
}

// flavorFor is the server's parsed version, or the declared flavor's default
// when the server was not seen (or reported a version flavor cannot read).
func flavorFor(declared string, lh *topology.LiveHost) flavor.Flavor {
	if lh != nil && lh.Version != "" {
		if f, err := flavor.Parse(lh.Version); err == nil {
			return f
		}
	}
	if f, err := flavor.FromName(declared); err == nil {
		return f
	}
	f, _ := flavor.FromName("mariadb")
	return f
}

func (d dialect) mariadb() bool { return d.f.IsMariaDB() }

func (d dialect) stmt(s flavor.Stmt, err error) Statement {
	if err != nil {
		d.onErr(err)
		return SQL("-- " + err.Error())
	}
	return SQLWithSecret(s.Template, s.Secrets...)
}

func (d dialect) stmts(in []flavor.Stmt) []Statement {
	out := make([]Statement, len(in))
	for i, s := range in {
		out[i] = d.stmt(s, nil)
	}
	return out
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

func (d dialect) setGlobal(name string, value any) Statement {
	return d.stmt(d.f.SetGlobal(name, value), nil)
}

func (d dialect) setReadOnly(on bool) []Statement { return d.stmts(d.f.SetReadOnly(on)) }

func (d dialect) semiSyncMasterVar() string  { return d.f.SemiSyncSourceEnabledVar() }
func (d dialect) semiSyncSlaveVar() string   { return d.f.SemiSyncReplicaEnabledVar() }
func (d dialect) semiSyncTimeoutVar() string { return d.f.SemiSyncTimeoutVar() }

func (d dialect) replicaWord() string {
	if d.f.HasReplicaKeyword() {
		return "REPLICA"
	}
	return "SLAVE"
}

func (d dialect) stopReplica() Statement  { return d.stmt(d.f.StopReplica(), nil) }
func (d dialect) startReplica() Statement { return d.stmt(d.f.StartReplica(), nil) }

// restartIOThread makes a running replica pick up a changed semi-sync setting,
// which the IO thread reads only when it connects.
func (d dialect) restartIOThread() []Statement {
	return []Statement{SQL("STOP " + d.replicaWord() + " IO_THREAD"), SQL("START " + d.replicaWord() + " IO_THREAD")}
}

// resetBinlog: MySQL 8.4 replaced RESET MASTER with RESET BINARY LOGS AND GTIDS.
func (d dialect) resetBinlog() Statement {
	if d.f.MinMySQL(8, 4, 0) {
		return SQL("RESET BINARY LOGS AND GTIDS")
	}
	return SQL("RESET MASTER")
}

// gtidMode is ReplicaStatus.UsingGTID of a channel configured the way mmm wants.
func (d dialect) gtidMode() string {
	if d.mariadb() {
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
	return d.stmt(d.f.ChangeSource(flavor.SourceOptions{
		Host: s.Address, Port: s.Port, User: s.User, Password: s.Password.Value(), GTID: true,
		ConnectRetry: s.Retry, Heartbeat: s.Heartbeat,
		SSL: s.SSL, SSLCA: s.SSLCA, SSLCert: s.SSLCert, SSLKey: s.SSLKey,
	}))
}

// noBinlog keeps a session's statements out of the binary log. See the
// comment on users in users.go for why account changes run this way.
func (d dialect) noBinlog() Statement { return SQL("SET SESSION sql_log_bin = 0") }

func (d dialect) createUser(name, host string, pw topology.Secret) Statement {
	if !pw.Set {
		return SQL("CREATE USER " + flavor.Account(name, host))
	}
	return d.stmt(d.f.CreateUser(name, host, pw.Value()))
}

func (d dialect) alterPassword(name, host string, pw topology.Secret) Statement {
	return d.stmt(d.f.AlterUserPassword(name, host, pw.Value()))
}

func (d dialect) dropUser(name, host string) Statement { return d.stmt(d.f.DropUser(name, host), nil) }

func (d dialect) grant(privs []string, on, name, host string, withGrantOption bool) Statement {
	return d.stmt(d.f.Grant(name, host, topology.Grant{On: on, Privileges: privs, WithGrantOption: withGrantOption}))
}

// revoke takes privileges and/or the grant option away.
func (d dialect) revoke(privs []string, on, name, host string, grantOption bool) Statement {
	return d.stmt(d.f.Revoke(name, host, topology.Grant{On: on, Privileges: privs, WithGrantOption: grantOption}))
}

func (d *differ) dialect(h *topology.Host) dialect {
	return dialect{f: flavorFor(d.c.Flavor, d.liveHost(h.Name)), onErr: func(err error) {
		d.problem(Problem{Severity: SeverityError, Host: h.Name, Summary: fmt.Sprintf("cannot build a statement for %s: %v", h.Name, err)})
	}}
}
