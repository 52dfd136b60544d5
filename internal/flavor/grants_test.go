package flavor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

var hashRE = regexp.MustCompile(`\*[0-9A-F]{40}`)

func TestParseGrantsGolden(t *testing.T) {
	for dir, version := range recorded {
		f, _ := Parse(version)
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "grants", "*.txt"))
		for _, file := range files {
			name := strings.TrimSuffix(filepath.Base(file), ".txt")
			t.Run(dir+"/"+name, func(t *testing.T) {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				grants, err := ParseGrants(f, strings.Split(string(data), "\n"))
				if err != nil {
					t.Fatal(err)
				}
				out, _ := json.MarshalIndent(grants, "", "  ")
				if hashRE.Match(out) || strings.Contains(string(out), "IDENTIFIED") {
					t.Fatal("a password hash leaked into parsed grants")
				}
				golden(t, filepath.Join(dir, "grants", name+".golden.json"), append(out, '\n'))
			})
		}
	}
}

func readGrants(t *testing.T, f Flavor, path string) []topology.Grant {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseGrants(f, strings.Split(string(data), "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// What the server shows must compare equal with what a topology file
// declares, once the declared grant is normalised.
func TestParsedGrantsMatchDeclared(t *testing.T) {
	maria, _ := Parse(recorded["mariadb-10.11"])
	my, _ := Parse(recorded["mysql-8.0"])
	tests := []struct {
		f        Flavor
		file     string
		declared []topology.Grant
	}{
		{maria, "mariadb-10.11/grants/app.txt", []topology.Grant{{On: "shop.*", Privileges: []string{"select", "INSERT", "UPDATE", "DELETE"}}}},
		{maria, "mariadb-10.11/grants/mon.txt", []topology.Grant{{On: "*.*", Privileges: []string{"REPLICATION CLIENT"}}}},
		{maria, "mariadb-10.11/grants/repl.txt", []topology.Grant{{On: "*.*", Privileges: []string{"REPLICATION SLAVE"}}}},
		{maria, "mariadb-10.11/grants/all.txt", []topology.Grant{
			{On: "*.*", Privileges: []string{"ALL"}},
			{On: "`shop`.*", Privileges: []string{"ALL PRIVILEGES", "GRANT OPTION"}},
		}},
		{maria, "mariadb-10.11/grants/cols.txt", []topology.Grant{
			{On: "FUNCTION shop.f", Privileges: []string{"EXECUTE", "ALTER ROUTINE"}},
			{On: "PROCEDURE shop.p", Privileges: []string{"EXECUTE"}},
			{On: "shop.t", Privileges: []string{"SELECT (b, a)", "INSERT", "UPDATE (c)"}},
		}},
		{maria, "mariadb-10.11/grants/lim.txt", []topology.Grant{{On: "shop.*", Privileges: []string{"SELECT"}, WithGrantOption: true}}},
		{maria, "mariadb-10.11/grants/nopw.txt", nil},
		{maria, "mariadb-10.11/grants/odd.txt", []topology.Grant{
			{On: "shop.t", Privileges: []string{"ALL"}},
			{On: "we-ird.*", Privileges: []string{"SELECT", "SHOW VIEW"}},
		}},
		{my, "mysql-8.0/grants/app.txt", []topology.Grant{{On: "shop.*", Privileges: []string{"SELECT", "INSERT", "UPDATE", "DELETE"}}}},
		{my, "mysql-8.0/grants/mon.txt", []topology.Grant{{On: "*.*", Privileges: []string{"REPLICATION CLIENT", "PROCESS", "RELOAD", "BACKUP_ADMIN", "replication_slave_admin"}}}},
		{my, "mysql-8.0/grants/all.txt", []topology.Grant{
			{On: "shop.*", Privileges: []string{"ALL"}, WithGrantOption: true},
			{On: "shop.orders", Privileges: []string{"ALL"}},
			{On: "we-ird`db.*", Privileges: []string{"SELECT"}},
		}},
		{my, "mysql-8.0/grants/roles.txt", []topology.Grant{{On: "shop.*", Privileges: []string{"SELECT"}, WithGrantOption: true}}},
		{my, "mysql-8.0/grants/root.txt", []topology.Grant{{On: "*.*", Privileges: []string{"ALL"}, WithGrantOption: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := readGrants(t, tt.f, filepath.Join("testdata", tt.file))
			var want []topology.Grant
			for _, g := range tt.declared {
				want = append(want, NormalizeGrant(tt.f, g))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("parsed %+v\nwant   %+v", got, want)
			}
		})
	}
}

func TestParseGrantsErrorsHideHash(t *testing.T) {
	maria, _ := Parse(recorded["mariadb-10.11"])
	_, err := ParseGrants(maria, []string{"GRANT SELECT ON x IDENTIFIED BY PASSWORD '*6C7A370C07660BC788681B3238D93E08BD74303C'"})
	if err == nil {
		t.Fatal("grant without TO accepted")
	}
	if strings.Contains(err.Error(), "6C7A") {
		t.Errorf("error shows the hash: %v", err)
	}
}

func TestPrivileges(t *testing.T) {
	maria, _ := Parse(recorded["mariadb-10.11"])
	my80, _ := Parse(recorded["mysql-8.0"])
	my84, _ := Parse(recorded["mysql-8.4"])
	tests := []struct {
		f     Flavor
		name  string
		valid bool
	}{
		{maria, "replication client", true},
		{maria, "SLAVE MONITOR", true},
		{maria, "BINLOG_ADMIN", false},
		{maria, "SELECT (a)", true},
		{my80, "BINLOG_ADMIN", true},
		{my80, "BINLOG MONITOR", false},
		{my80, "SET_USER_ID", true},
		{my84, "SET_USER_ID", false},
		{my84, "FLUSH_PRIVILEGES", true},
		{my80, "FLUSH_PRIVILEGES", false},
		{my80, "ALL", true},
		{my80, "DROP DATABASE", false},
	}
	for _, tt := range tests {
		if got := ValidPrivilege(tt.f, tt.name); got != tt.valid {
			t.Errorf("%v ValidPrivilege(%q) = %v, want %v", tt.f, tt.name, got, tt.valid)
		}
	}
	if ValidAt(my80, LevelDatabase, "REPLICATION SLAVE") || !ValidAt(my80, LevelGlobal, "REPLICATION SLAVE") {
		t.Error("REPLICATION SLAVE allowed on a database or refused globally")
	}
	if !ValidAt(maria, LevelTable, "SELECT (a, b)") || ValidAt(maria, LevelDatabase, "SELECT (a)") {
		t.Error("column privileges allowed outside tables")
	}
	if !ValidAt(maria, LevelRoutine, "EXECUTE") || ValidAt(maria, LevelRoutine, "SELECT") {
		t.Error("routine level wrong")
	}
	if got := CanonicalPrivilege(maria, "replication  client"); got != "BINLOG MONITOR" {
		t.Errorf("CanonicalPrivilege = %q", got)
	}
	if got := CanonicalPrivilege(my80, "replication client"); got != "REPLICATION CLIENT" {
		t.Errorf("CanonicalPrivilege = %q", got)
	}
	if got := CanonicalObject("PROCEDURE `shop`.`p`"); got != "PROCEDURE shop.p" {
		t.Errorf("CanonicalObject = %q", got)
	}
}
