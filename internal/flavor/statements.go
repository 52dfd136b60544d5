package flavor

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Stmt is a statement whose secrets are kept apart: Template has one "%s" per
// secret, in order, and no other "%s". Package plan turns it into a redacted
// plan.Statement with plan.SQLWithSecret(s.Template, s.Secrets...); SQL gives
// the executable text directly.
type Stmt struct {
	Template string
	Secrets  []string
}

// SQL returns the statement with every secret quoted in place. Do not log it.
func (s Stmt) SQL() string {
	out := s.Template
	for _, secret := range s.Secrets {
		out = strings.Replace(out, "%s", QuoteString(secret), 1)
	}
	return out
}

// Redacted returns the statement with every secret shown as <redacted>.
func (s Stmt) Redacted() string {
	out := s.Template
	for range s.Secrets {
		out = strings.Replace(out, "%s", topology.Redacted, 1)
	}
	return out
}

// plain makes a Stmt without secrets.
func plain(sql string) Stmt { return Stmt{Template: sql} }

// QuoteString quotes s as a MySQL string literal. It is the one string
// quoting of mmm: every statement built from a name, a password or any other
// value goes through it (identifiers through QuoteIdent).
//
// The escaping is exact under any sql_mode without NO_BACKSLASH_ESCAPES,
// which every admin session pins (internal/conn.SQLModePin). It is also safe
// without the pin: a quote is written twice, not backslash-escaped, so
// under NO_BACKSLASH_ESCAPES the literal still ends where it should and the
// worst outcome is a value with extra backslashes, never text outside the
// literal.
func QuoteString(s string) string {
	return string(AppendQuoted(make([]byte, 0, len(s)+2), s))
}

// AppendQuoted appends s quoted as QuoteString does; the logical clone writes
// its rows with it without a string per value.
func AppendQuoted[T string | []byte](buf []byte, s T) []byte {
	buf = append(buf, '\'')
	for i := 0; i < len(s); i++ {
		switch b := s[i]; b {
		case 0:
			buf = append(buf, '\\', '0')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case 0x1a:
			buf = append(buf, '\\', 'Z')
		case '\\':
			buf = append(buf, '\\', '\\')
		case '\'':
			buf = append(buf, '\'', '\'')
		default:
			buf = append(buf, b)
		}
	}
	return append(buf, '\'')
}

// QuoteIdent quotes a schema, table, column or routine name with backticks;
// a backtick inside is doubled (correct under every sql_mode).
func QuoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// Account is 'name'@'host' quoted for statements.
func Account(name, host string) string { return QuoteString(name) + "@" + QuoteString(host) }

// hasPlaceholder guards templates: a "%s" inside an account or object name
// would be taken for a secret placeholder by plan.SQLWithSecret.
func hasPlaceholder(parts ...string) error {
	for _, p := range parts {
		if strings.Contains(p, "%s") {
			return fmt.Errorf("name %q contains %%s, which mmm cannot put into a statement with a secret", p)
		}
	}
	return nil
}

// CreateUser creates an account with a password (the server's default plugin).
func (f Flavor) CreateUser(name, host, password string) (Stmt, error) {
	if err := hasPlaceholder(name, host); err != nil {
		return Stmt{}, err
	}
	return Stmt{Template: "CREATE USER " + Account(name, host) + " IDENTIFIED BY %s", Secrets: []string{password}}, nil
}

// AlterUserPassword sets an account's password.
func (f Flavor) AlterUserPassword(name, host, password string) (Stmt, error) {
	if err := hasPlaceholder(name, host); err != nil {
		return Stmt{}, err
	}
	return Stmt{Template: "ALTER USER " + Account(name, host) + " IDENTIFIED BY %s", Secrets: []string{password}}, nil
}

// DropUser drops an account.
func (f Flavor) DropUser(name, host string) Stmt {
	return plain("DROP USER " + Account(name, host))
}

// Grant grants g's privileges (and grant option) to the account. Column
// privileges "SELECT (a, b)" and routine objects "PROCEDURE db.p" are written
// in MySQL syntax.
func (f Flavor) Grant(name, host string, g topology.Grant) (Stmt, error) {
	on, err := formatObject(g.On)
	if err != nil {
		return Stmt{}, err
	}
	if len(g.Privileges) == 0 && !g.WithGrantOption {
		return Stmt{}, fmt.Errorf("grant on %s has no privileges", g.On)
	}
	privs := formatPrivileges(g.Privileges)
	if privs == "" {
		privs = "USAGE" // grant option alone
	}
	sql := "GRANT " + privs + " ON " + on + " TO " + Account(name, host)
	if g.WithGrantOption {
		sql += " WITH GRANT OPTION"
	}
	return plain(sql), nil
}

// Revoke revokes g's privileges from the account; WithGrantOption revokes the
// grant option too.
func (f Flavor) Revoke(name, host string, g topology.Grant) (Stmt, error) {
	on, err := formatObject(g.On)
	if err != nil {
		return Stmt{}, err
	}
	privs := g.Privileges
	if g.WithGrantOption {
		privs = append(append([]string(nil), privs...), "GRANT OPTION")
	}
	if len(privs) == 0 {
		return Stmt{}, fmt.Errorf("revoke on %s has no privileges", g.On)
	}
	return plain("REVOKE " + formatPrivileges(privs) + " ON " + on + " FROM " + Account(name, host)), nil
}

// formatPrivileges writes privileges with column lists quoted: "SELECT (`a`, `b`)".
func formatPrivileges(privs []string) string {
	out := make([]string, 0, len(privs))
	for _, p := range privs {
		name, cols := splitColumns(p)
		if len(cols) == 0 {
			out = append(out, name)
			continue
		}
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = QuoteIdent(c)
		}
		out = append(out, name+" ("+strings.Join(quoted, ", ")+")")
	}
	return strings.Join(out, ", ")
}

// splitColumns splits "SELECT (a, b)" into "SELECT" and [a b].
func splitColumns(p string) (string, []string) {
	i := strings.Index(p, "(")
	if i < 0 || !strings.HasSuffix(p, ")") {
		return strings.TrimSpace(p), nil
	}
	var cols []string
	for _, c := range splitOutside(p[i+1:len(p)-1], ',') {
		if c = unquoteIdent(strings.TrimSpace(c)); c != "" {
			cols = append(cols, c)
		}
	}
	return strings.TrimSpace(p[:i]), cols
}

// formatObject quotes a canonical object: "*.*", "db.*", "db.tbl",
// "PROCEDURE db.p", "FUNCTION db.f".
func formatObject(on string) (string, error) {
	kind, obj := "", on
	for _, k := range []string{"PROCEDURE ", "FUNCTION "} {
		if strings.HasPrefix(on, k) {
			kind, obj = k, strings.TrimPrefix(on, k)
		}
	}
	if obj == "*.*" || obj == "*" {
		if kind != "" {
			return "", fmt.Errorf("grant on %q: a routine grant needs db.name", on)
		}
		return "*.*", nil
	}
	db, tbl, ok := strings.Cut(obj, ".")
	if !ok || db == "" || tbl == "" {
		return "", fmt.Errorf("grant on %q: want *.*, db.* or db.table", on)
	}
	q := QuoteIdent(db) + "."
	if tbl == "*" {
		if kind != "" {
			return "", fmt.Errorf("grant on %q: a routine grant needs db.name", on)
		}
		q += "*"
	} else {
		q += QuoteIdent(tbl)
	}
	return kind + q, nil
}

// SetReadOnly makes the server read-only or writable. On MySQL super_read_only
// also keeps out SUPER users; it is set after read_only when turning on and
// cleared before read_only when turning off, the order the server requires.
func (f Flavor) SetReadOnly(on bool) []Stmt {
	if !f.HasSuperReadOnly() {
		return []Stmt{plain("SET GLOBAL read_only = " + onOff(on))}
	}
	if on {
		return []Stmt{plain("SET GLOBAL read_only = ON"), plain("SET GLOBAL super_read_only = ON")}
	}
	return []Stmt{plain("SET GLOBAL super_read_only = OFF"), plain("SET GLOBAL read_only = OFF")}
}

// SetGlobal sets a global variable to a literal value: an integer, ON/OFF, or
// a string (quoted).
func (f Flavor) SetGlobal(name string, value any) Stmt {
	var v string
	switch x := value.(type) {
	case bool:
		v = onOff(x)
	case int:
		v = strconv.Itoa(x)
	case int64:
		v = strconv.FormatInt(x, 10)
	case uint32:
		v = strconv.FormatUint(uint64(x), 10)
	case string:
		v = QuoteString(x)
	default:
		v = QuoteString(fmt.Sprint(x))
	}
	return plain("SET GLOBAL " + name + " = " + v)
}

func onOff(on bool) string {
	if on {
		return "ON"
	}
	return "OFF"
}

// SourceOptions says where a replica connects.
type SourceOptions struct {
	Host     string
	Port     int
	User     string
	Password string
	// GTID: MariaDB MASTER_USE_GTID=slave_pos, MySQL SOURCE_AUTO_POSITION=1.
	// mmm always replicates with GTIDs; false is for tests and bootstrap only.
	GTID         bool
	ConnectRetry time.Duration // 0 = server default
	Heartbeat    time.Duration // 0 = server default
	SSL          bool
	SSLCA        string
	SSLCert      string
	SSLKey       string
}

// ChangeSource points the replica at a source. The replica must be stopped.
// The password is a secret (Stmt.Secrets).
func (f Flavor) ChangeSource(o SourceOptions) (Stmt, error) {
	if o.Host == "" || o.User == "" {
		return Stmt{}, fmt.Errorf("change source: host and user are required")
	}
	if err := hasPlaceholder(o.Host, o.User, o.SSLCA, o.SSLCert, o.SSLKey); err != nil {
		return Stmt{}, err
	}
	verb, p := "CHANGE MASTER TO ", "MASTER_"
	if f.HasChangeReplicationSource() {
		verb, p = "CHANGE REPLICATION SOURCE TO ", "SOURCE_"
	}
	port := o.Port
	if port == 0 {
		port = 3306
	}
	opts := []string{
		p + "HOST=" + QuoteString(o.Host),
		p + "PORT=" + strconv.Itoa(port),
		p + "USER=" + QuoteString(o.User),
		p + "PASSWORD=%s",
	}
	if o.GTID {
		if f.IsMariaDB() {
			opts = append(opts, "MASTER_USE_GTID=slave_pos")
		} else {
			opts = append(opts, p+"AUTO_POSITION=1")
		}
	}
	if o.ConnectRetry > 0 {
		opts = append(opts, p+"CONNECT_RETRY="+strconv.Itoa(int(o.ConnectRetry.Round(time.Second)/time.Second)))
	}
	if o.Heartbeat > 0 {
		opts = append(opts, p+"HEARTBEAT_PERIOD="+strconv.FormatFloat(o.Heartbeat.Seconds(), 'f', -1, 64))
	}
	if o.SSL {
		opts = append(opts, p+"SSL=1")
		for _, kv := range [][2]string{{"SSL_CA", o.SSLCA}, {"SSL_CERT", o.SSLCert}, {"SSL_KEY", o.SSLKey}} {
			if kv[1] != "" {
				opts = append(opts, p+kv[0]+"="+QuoteString(kv[1]))
			}
		}
	} else if f.IsMySQL() {
		// caching_sha2_password (MySQL 8's default) needs TLS or the source's
		// RSA key to log in the replication user; without TLS, fetch the key.
		opts = append(opts, "GET_"+p+"PUBLIC_KEY=1")
	}
	return Stmt{Template: verb + strings.Join(opts, ", "), Secrets: []string{o.Password}}, nil
}

func (f Flavor) replicaWord() string {
	if f.HasReplicaKeyword() {
		return "REPLICA"
	}
	return "SLAVE"
}

// StartReplica starts both replication threads.
func (f Flavor) StartReplica() Stmt { return plain("START " + f.replicaWord()) }

// StopReplica stops both replication threads.
func (f Flavor) StopReplica() Stmt { return plain("STOP " + f.replicaWord()) }

// ResetReplicaAll forgets the replication source entirely.
func (f Flavor) ResetReplicaAll() Stmt { return plain("RESET " + f.replicaWord() + " ALL") }

// ShowReplicaStatus reads the replication channel. MariaDB keeps SHOW SLAVE
// STATUS (its columns are the same under either keyword); MySQL 8.4 removed it.
func (f Flavor) ShowReplicaStatus() string {
	if f.HasReplicaColumns() {
		return "SHOW REPLICA STATUS"
	}
	return "SHOW SLAVE STATUS"
}

// SemiSync is the semi-sync state to set; nil fields are left alone.
type SemiSync struct {
	Source  *bool
	Replica *bool
	Timeout time.Duration // 0 = leave alone
}

// SetSemiSync sets semi-sync variables. A replica picks up a change of its
// replica setting only when its IO thread restarts; plan adds that step.
func (f Flavor) SetSemiSync(s SemiSync) []Stmt {
	var out []Stmt
	if s.Source != nil {
		out = append(out, f.SetGlobal(f.SemiSyncSourceEnabledVar(), *s.Source))
	}
	if s.Timeout > 0 {
		out = append(out, f.SetGlobal(f.SemiSyncTimeoutVar(), int(s.Timeout.Milliseconds())))
	}
	if s.Replica != nil {
		out = append(out, f.SetGlobal(f.SemiSyncReplicaEnabledVar(), *s.Replica))
	}
	return out
}

// InstallSemiSyncPlugins loads the semi-sync plugins on MySQL; nothing on
// MariaDB, where semi-sync is built in. INSTALL PLUGIN fails when the plugin is
// already there, so plan emits it only when the variables are missing.
func (f Flavor) InstallSemiSyncPlugins() []Stmt {
	src, rep, ok := f.SemiSyncPlugins()
	if !ok {
		return nil
	}
	return []Stmt{
		plain("INSTALL PLUGIN " + src.Name + " SONAME " + QuoteString(src.Soname)),
		plain("INSTALL PLUGIN " + rep.Name + " SONAME " + QuoteString(rep.Soname)),
	}
}

// SetGTIDSlavePos sets where a MariaDB replica starts (bootstrap from a copy).
// MySQL has no equivalent statement (it uses gtid_purged on an empty
// gtid_executed), so it is an error there.
func (f Flavor) SetGTIDSlavePos(pos string) (Stmt, error) {
	if !f.IsMariaDB() {
		return Stmt{}, fmt.Errorf("%s has no gtid_slave_pos: set gtid_purged instead", f)
	}
	return f.SetGlobal(VarGTIDSlavePos, pos), nil
}

// KillConnection ends a client connection (fencing an old writer).
func (f Flavor) KillConnection(id uint64) Stmt {
	return plain("KILL CONNECTION " + strconv.FormatUint(id, 10))
}
