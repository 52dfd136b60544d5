package flavor

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Flavor
	}{
		{"10.11.6-MariaDB-0+deb12u1", Flavor{MariaDB, 10, 11, 6}},
		{"10.11.19-MariaDB-0+deb12u1-log", Flavor{MariaDB, 10, 11, 19}},
		{"5.5.5-10.5.23-MariaDB", Flavor{MariaDB, 10, 5, 23}},
		{"11.4.2-MariaDB-ubu2404", Flavor{MariaDB, 11, 4, 2}},
		{"8.0.36", Flavor{MySQL, 8, 0, 36}},
		{"8.4.0-commercial", Flavor{MySQL, 8, 4, 0}},
		{"8.0.36-28", Flavor{MySQL, 8, 0, 36}},
		{" 8.0.21-log\n", Flavor{MySQL, 8, 0, 21}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "MariaDB", "8.0", "v8.0.1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded, want error", bad)
		}
	}
}

func TestFromName(t *testing.T) {
	for name, vendor := range map[string]Vendor{"mariadb": MariaDB, "MySQL": MySQL} {
		f, err := FromName(name)
		if err != nil || f.Vendor != vendor || f.Supported() != "" {
			t.Errorf("FromName(%q) = %v, %v", name, f, err)
		}
	}
	if _, err := FromName("postgres"); err == nil {
		t.Error("FromName(postgres) succeeded")
	}
}

func TestCapabilities(t *testing.T) {
	m := func(s string) Flavor { f, _ := Parse(s); return f }
	tests := []struct {
		f                                                 Flavor
		replicaKW, changeSource, replicaCols, superRO, ss bool
		semiSrc, logUpdates                               string
	}{
		{m("10.11.6-MariaDB"), true, false, false, false, true, "rpl_semi_sync_master_enabled", "log_slave_updates"},
		{m("10.5.0-MariaDB"), false, false, false, false, true, "rpl_semi_sync_master_enabled", "log_slave_updates"},
		{m("8.0.21"), false, false, false, true, false, "rpl_semi_sync_master_enabled", "log_slave_updates"},
		{m("8.0.22"), true, false, true, true, false, "rpl_semi_sync_master_enabled", "log_slave_updates"},
		{m("8.0.36"), true, true, true, true, false, "rpl_semi_sync_source_enabled", "log_replica_updates"},
		{m("8.4.0"), true, true, true, true, false, "rpl_semi_sync_source_enabled", "log_replica_updates"},
	}
	for _, tt := range tests {
		if got := tt.f.HasReplicaKeyword(); got != tt.replicaKW {
			t.Errorf("%v HasReplicaKeyword = %v", tt.f, got)
		}
		if got := tt.f.HasChangeReplicationSource(); got != tt.changeSource {
			t.Errorf("%v HasChangeReplicationSource = %v", tt.f, got)
		}
		if got := tt.f.HasReplicaColumns(); got != tt.replicaCols {
			t.Errorf("%v HasReplicaColumns = %v", tt.f, got)
		}
		if got := tt.f.HasSuperReadOnly(); got != tt.superRO {
			t.Errorf("%v HasSuperReadOnly = %v", tt.f, got)
		}
		if got := tt.f.SemiSyncBuiltin(); got != tt.ss {
			t.Errorf("%v SemiSyncBuiltin = %v", tt.f, got)
		}
		if got := tt.f.SemiSyncSourceEnabledVar(); got != tt.semiSrc {
			t.Errorf("%v SemiSyncSourceEnabledVar = %v", tt.f, got)
		}
		if got := tt.f.LogReplicaUpdatesVar(); got != tt.logUpdates {
			t.Errorf("%v LogReplicaUpdatesVar = %v", tt.f, got)
		}
	}
	if !m("10.11.6-MariaDB").Min(10, 11, 6) || m("10.11.6-MariaDB").Min(10, 11, 7) || !m("10.11.6-MariaDB").Min(9, 99, 99) {
		t.Error("Min compares versions wrongly")
	}
	if m("8.0.36").MinMariaDB(8, 0, 0) || !m("8.0.36").MinMySQL(8, 0, 36) {
		t.Error("MinMySQL/MinMariaDB ignore the vendor")
	}
	if m("10.4.30-MariaDB").Supported() == "" || m("5.7.44").Supported() == "" {
		t.Error("old servers reported as supported")
	}
}

// recorded lists the flavors with recorded server output under testdata.
var recorded = map[string]string{
	"mariadb-10.11": "10.11.19-MariaDB-0+deb12u1-log",
	"mysql-8.0.21":  "8.0.21",
	"mysql-8.0":     "8.0.36",
	"mysql-8.4":     "8.4.0",
}

// readVertical reads the mysql client's \G output of one row into a map.
// NULL becomes an invalid NullString; a line without "Name: " continues the
// previous value (MySQL prints GTID sets over several lines).
func readVertical(t *testing.T, path string) map[string]sql.NullString {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	row := map[string]sql.NullString{}
	field := regexp.MustCompile(`^\s*([A-Za-z_]+): ?(.*)$`)
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "****") {
			continue
		}
		if m := field.FindStringSubmatch(line); m != nil {
			last = m[1]
			row[last] = sql.NullString{String: m[2], Valid: m[2] != "NULL"}
			continue
		}
		if last != "" {
			v := row[last]
			v.String += "\n" + line
			row[last] = v
		}
	}
	return row
}

func TestParseReplicaStatus(t *testing.T) {
	for dir, version := range recorded {
		f, err := Parse(version)
		if err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "replica", "*.txt"))
		if len(files) == 0 {
			t.Fatalf("no recorded replica status for %s", dir)
		}
		for _, file := range files {
			name := strings.TrimSuffix(filepath.Base(file), ".txt")
			t.Run(dir+"/"+name, func(t *testing.T) {
				r, err := ParseReplicaStatus(f, readVertical(t, file))
				if err != nil {
					t.Fatal(err)
				}
				if r == nil {
					t.Fatal("nil status for a configured replica")
				}
				out, _ := json.MarshalIndent(r, "", "  ")
				golden(t, filepath.Join(dir, "replica", name+".golden.json"), append(out, '\n'))
			})
		}
	}
}

func TestParseReplicaStatusSemantics(t *testing.T) {
	maria, _ := Parse(recorded["mariadb-10.11"])
	my, _ := Parse(recorded["mysql-8.0"])
	my21, _ := Parse(recorded["mysql-8.0.21"])

	if r, err := ParseReplicaStatus(maria, nil); r != nil || err != nil {
		t.Errorf("no row: got %v, %v; want nil, nil", r, err)
	}
	r, _ := ParseReplicaStatus(maria, readVertical(t, "testdata/mariadb-10.11/replica/io_error.txt"))
	if r.SecondsBehind != nil || r.IORunning != "Connecting" || r.LastIOErrno != 1045 || !UsesGTID(r) {
		t.Errorf("mariadb io_error parsed as %+v", r)
	}
	r, _ = ParseReplicaStatus(maria, readVertical(t, "testdata/mariadb-10.11/replica/lagging.txt"))
	if r.SecondsBehind == nil || *r.SecondsBehind != 4 || !r.Running() {
		t.Errorf("mariadb lagging parsed as %+v", r)
	}
	r, _ = ParseReplicaStatus(my, readVertical(t, "testdata/mysql-8.0/replica/lagging.txt"))
	if want := "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-2456,4c2b9a6e-2f1d-11ef-8b8f-0242c612000c:1-4"; r.ExecutedGTIDSet != want {
		t.Errorf("mysql executed set = %q, want %q", r.ExecutedGTIDSet, want)
	}
	if r.UsingGTID != "Auto_Position" || *r.SecondsBehind != 127 {
		t.Errorf("mysql lagging parsed as %+v", r)
	}
	// MySQL 8.0.21 answers with Master_* names; 8.0.36 flavor reading a SHOW
	// SLAVE STATUS row must parse it too.
	for _, f := range []Flavor{my21, my} {
		r, _ = ParseReplicaStatus(f, readVertical(t, "testdata/mysql-8.0.21/replica/running.txt"))
		if r.SourceHost != "198.18.0.11" || r.IORunning != "Yes" || r.UsingGTID != "No" {
			t.Errorf("%v: old-name row parsed as %+v", f, r)
		}
	}
	if _, err := ParseReplicaStatus(maria, map[string]sql.NullString{"Master_Port": {String: "x", Valid: true}}); err == nil {
		t.Error("non-numeric port accepted")
	}
}
