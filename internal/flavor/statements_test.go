package flavor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// TestStatementsGolden writes every builder's output for each recorded flavor
// into one golden file per flavor, with secrets redacted.
func TestStatementsGolden(t *testing.T) {
	on, off := true, false
	for dir, version := range recorded {
		f, _ := Parse(version)
		var b strings.Builder
		add := func(label string, stmts ...Stmt) {
			for _, s := range stmts {
				fmt.Fprintf(&b, "%-22s %s\n", label, s.Redacted())
			}
		}
		must := func(s Stmt, err error) Stmt {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		add("CreateUser", must(f.CreateUser("app", "%", "app-secret")))
		add("AlterUserPassword", must(f.AlterUserPassword("o'brien", "198.18.0.%", "pw")))
		add("DropUser", f.DropUser("old", "localhost"))
		add("Grant", must(f.Grant("app", "%", topology.Grant{On: "shop.*", Privileges: []string{"SELECT", "INSERT"}})))
		add("Grant", must(f.Grant("replication", "198.18.0.%", topology.Grant{On: "*.*", Privileges: []string{"REPLICATION SLAVE"}})))
		add("Grant", must(f.Grant("cols", "%", topology.Grant{On: "shop.t", Privileges: []string{"INSERT", "SELECT (a, b)"}, WithGrantOption: true})))
		add("Grant", must(f.Grant("cols", "%", topology.Grant{On: "PROCEDURE shop.p", Privileges: []string{"EXECUTE"}})))
		add("Grant", must(f.Grant("odd", "%", topology.Grant{On: "we`ird.*", Privileges: []string{"SELECT"}})))
		add("Revoke", must(f.Revoke("app", "%", topology.Grant{On: "shop.*", Privileges: []string{"DELETE"}})))
		add("Revoke", must(f.Revoke("app", "%", topology.Grant{On: "shop.*", WithGrantOption: true})))
		add("SetReadOnly(true)", f.SetReadOnly(true)...)
		add("SetReadOnly(false)", f.SetReadOnly(false)...)
		add("SetGlobal", f.SetGlobal("auto_increment_increment", 2), f.SetGlobal("server_id", uint32(11)), f.SetGlobal("log_slave_updates", true))
		add("ChangeSource", must(f.ChangeSource(SourceOptions{
			Host: "198.18.0.11", Port: 3306, User: "replication", Password: "lab-repl-secret", GTID: true,
			ConnectRetry: 10 * time.Second, Heartbeat: 1500 * time.Millisecond,
		})))
		add("ChangeSource(SSL)", must(f.ChangeSource(SourceOptions{
			Host: "198.18.0.12", User: "replication", Password: "x", GTID: true,
			SSL: true, SSLCA: "/etc/mysql/ca.pem", SSLCert: "/etc/mysql/cert.pem", SSLKey: "/etc/mysql/key.pem",
		})))
		add("StartReplica", f.StartReplica())
		add("StopReplica", f.StopReplica())
		add("ResetReplicaAll", f.ResetReplicaAll())
		add("SetSemiSync", f.SetSemiSync(SemiSync{Source: &on, Replica: &off, Timeout: 500 * time.Millisecond})...)
		add("InstallSemiSync", f.InstallSemiSyncPlugins()...)
		if s, err := f.SetGTIDSlavePos("0-1-42"); err == nil {
			add("SetGTIDSlavePos", s)
		} else {
			fmt.Fprintf(&b, "%-22s error: %v\n", "SetGTIDSlavePos", err)
		}
		add("KillConnection", f.KillConnection(1234))
		fmt.Fprintf(&b, "%-22s %s\n", "ShowReplicaStatus", f.ShowReplicaStatus())
		fmt.Fprintf(&b, "%-22s %+v\n", "ReplicaColumns", f.ReplicaColumns())
		fmt.Fprintf(&b, "%-22s %s\n", "InspectVars", strings.Join(f.InspectVars(), " "))
		golden(t, dir+"/statements.golden", []byte(b.String()))
	}
}

func TestStmtSecrets(t *testing.T) {
	f, _ := Parse("8.0.36")
	s, err := f.CreateUser("app", "%", `it's\secret`)
	if err != nil {
		t.Fatal(err)
	}
	if s.Template != "CREATE USER 'app'@'%' IDENTIFIED BY %s" || len(s.Secrets) != 1 {
		t.Errorf("template %q secrets %d", s.Template, len(s.Secrets))
	}
	if got, want := s.SQL(), `CREATE USER 'app'@'%' IDENTIFIED BY 'it''s\\secret'`; got != want {
		t.Errorf("SQL() = %s, want %s", got, want)
	}
	if strings.Contains(s.Redacted(), "secret") {
		t.Errorf("Redacted() shows the secret: %s", s.Redacted())
	}
	c, _ := f.ChangeSource(SourceOptions{Host: "h", User: "u", Password: "pw"})
	if strings.Count(c.Template, "%s") != 1 || !strings.Contains(c.SQL(), "SOURCE_PASSWORD='pw'") {
		t.Errorf("ChangeSource template %q", c.Template)
	}
	if _, err := f.CreateUser("a%sb", "%", "x"); err == nil {
		t.Error("a name with a placeholder accepted into a secret template")
	}
	if _, err := f.Grant("a", "%", topology.Grant{On: "shop", Privileges: []string{"SELECT"}}); err == nil {
		t.Error("grant on a bare name accepted")
	}
	if _, err := f.ChangeSource(SourceOptions{User: "u"}); err == nil {
		t.Error("ChangeSource without host accepted")
	}
}
