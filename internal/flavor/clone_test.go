package flavor

import (
	"database/sql"
	"strings"
	"testing"
)

func TestCloneInstanceStatement(t *testing.T) {
	tests := []struct {
		user, addr, password string
		port                 int
		sql, redacted        string
	}{
		{"root", "198.18.0.13", "secret", 3306,
			`CLONE INSTANCE FROM 'root'@'198.18.0.13':3306 IDENTIFIED BY 'secret'`,
			`CLONE INSTANCE FROM 'root'@'198.18.0.13':3306 IDENTIFIED BY <redacted>`},
		{"o'brien", "db-2.example", `it's a \ "pass"`, 3307,
			`CLONE INSTANCE FROM 'o''brien'@'db-2.example':3307 IDENTIFIED BY 'it''s a \\ "pass"'`,
			`CLONE INSTANCE FROM 'o''brien'@'db-2.example':3307 IDENTIFIED BY <redacted>`},
		// A password with "%s" or a newline or NUL stays one literal.
		{"admin", "10.0.0.1", "100%s\n\x00;--", 3306,
			`CLONE INSTANCE FROM 'admin'@'10.0.0.1':3306 IDENTIFIED BY '100%s\n\0;--'`,
			`CLONE INSTANCE FROM 'admin'@'10.0.0.1':3306 IDENTIFIED BY <redacted>`},
		{"back`tick", "h", "", 1,
			"CLONE INSTANCE FROM 'back`tick'@'h':1 IDENTIFIED BY ''",
			"CLONE INSTANCE FROM 'back`tick'@'h':1 IDENTIFIED BY <redacted>"},
	}
	for _, tt := range tests {
		s, err := CloneInstanceStatement(tt.user, tt.addr, tt.port, tt.password)
		if err != nil {
			t.Fatalf("%q: %v", tt.user, err)
		}
		if got := s.SQL(); got != tt.sql {
			t.Errorf("SQL:\n got %s\nwant %s", got, tt.sql)
		}
		if got := s.Redacted(); got != tt.redacted {
			t.Errorf("Redacted:\n got %s\nwant %s", got, tt.redacted)
		}
		if tt.password != "" && strings.Contains(s.Redacted(), tt.password) {
			t.Errorf("Redacted shows the password: %s", s.Redacted())
		}
	}
}

func TestCloneInstanceStatementRefuses(t *testing.T) {
	tests := []struct {
		name, user, addr string
		port             int
		want             string
	}{
		{"ipv6", "root", "fd00::1", 3306, "IPv6"},
		{"no address", "root", "", 3306, "no address"},
		{"port 0", "root", "h", 0, "out of range"},
		{"port too big", "root", "h", 70000, "out of range"},
		{"placeholder in user", "a%sb", "h", 3306, "%s"},
		{"placeholder in addr", "root", "h%s", 3306, "%s"},
		{"no user", "", "h", 3306, "user name"},
	}
	for _, tt := range tests {
		_, err := CloneInstanceStatement(tt.user, tt.addr, tt.port, "pw")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

func TestSetCloneValidDonorList(t *testing.T) {
	s, err := SetCloneValidDonorList("198.18.0.13", 3306)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.SQL(), "SET GLOBAL clone_valid_donor_list = '198.18.0.13:3306'"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := SetCloneValidDonorList("::1", 3306); err == nil {
		t.Error("an IPv6 donor was accepted")
	}
	if got, want := InstallClonePlugin().SQL(), "INSTALL PLUGIN clone SONAME 'mysql_clone.so'"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestClonePluginNeedsInstall(t *testing.T) {
	tests := []struct {
		found   bool
		status  string
		install bool
		err     string
	}{
		{false, "", true, ""},
		{true, "ACTIVE", false, ""},
		{true, "DISABLED", false, "db3 is DISABLED"},
		{true, "INACTIVE", false, "clone=ON"},
	}
	for _, tt := range tests {
		install, err := ClonePluginNeedsInstall("db3", tt.found, tt.status)
		if install != tt.install {
			t.Errorf("%v %q: install = %v, want %v", tt.found, tt.status, install, tt.install)
		}
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%v %q: err = %v, want %q", tt.found, tt.status, err, tt.err)
		}
	}
}

func TestCheckCloneCompatible(t *testing.T) {
	linux := func(v string) CloneServer { return CloneServer{Version: v, OS: "Linux", Machine: "x86_64"} }
	tests := []struct {
		name             string
		donor, recipient CloneServer
		err              string // "" = compatible
	}{
		{"same", linux("8.0.36"), linux("8.0.36"), ""},
		{"suffixes ignored", linux("8.0.36-log"), linux("8.0.36"), ""},
		{"8.0 point releases before 8.0.37", linux("8.0.36"), linux("8.0.40"), "same point release"},
		{"8.0 point releases from 8.0.37", linux("8.0.37"), linux("8.0.42"), ""},
		{"8.4 series", linux("8.4.0"), linux("8.4.3"), ""},
		{"across series", linux("8.0.40"), linux("8.4.0"), "same release series"},
		{"too old", linux("8.0.16"), linux("8.0.16"), "8.0.17 or later"},
		{"mariadb", linux("10.11.6-MariaDB"), linux("8.0.36"), "MariaDB"},
		{"platform", linux("8.0.36"), CloneServer{Version: "8.0.36", OS: "Win64", Machine: "x86_64"}, "same platform"},
		{"machine", linux("8.0.36"), CloneServer{Version: "8.0.36", OS: "Linux", Machine: "aarch64"}, "same platform"},
		{"unreadable", linux("eight"), linux("8.0.36"), "donor"},
	}
	for _, tt := range tests {
		err := CheckCloneCompatible(tt.donor, tt.recipient)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
		}
	}
}

// ns builds a row; "NULL" is SQL NULL.
func ns(cols ...string) []sql.NullString {
	row := make([]sql.NullString, len(cols))
	for i, c := range cols {
		if c != "NULL" {
			row[i] = sql.NullString{String: c, Valid: true}
		}
	}
	return row
}

func TestParseCloneStatus(t *testing.T) {
	tests := []struct {
		name string
		row  []sql.NullString
		want CloneStatus
		err  string // of Err("db5")
	}{
		{"completed",
			ns("1", "Completed", "2024-03-01 10:00:00.123", "0", "", "binlog.000007", "4711",
				"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-77,\n4F11FA47-71CA-11E1-9E33-C80AA9429562:1-5"),
			CloneStatus{ID: 1, State: CloneCompleted, BeginTime: "2024-03-01 10:00:00.123", BinlogFile: "binlog.000007", BinlogPosition: 4711,
				GTIDExecuted: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-77,4F11FA47-71CA-11E1-9E33-C80AA9429562:1-5"},
			""},
		{"failed",
			ns("2", "Failed", "2024-03-01 10:00:00", "3862", "Clone Donor Error: 3862 : Clone Donor MySQL version: 8.0.36 is different from Recipient MySQL version 8.0.35.", "", "0", ""),
			CloneStatus{ID: 2, State: CloneFailed, BeginTime: "2024-03-01 10:00:00", ErrorNo: 3862,
				ErrorMessage: "Clone Donor Error: 3862 : Clone Donor MySQL version: 8.0.36 is different from Recipient MySQL version 8.0.35."},
			"the clone on db5 failed: error 3862: Clone Donor Error"},
		{"failed without message",
			ns("3", "Failed", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"),
			CloneStatus{ID: 3, State: CloneFailed},
			"error 0: no message"},
		{"in progress",
			ns("4", "In Progress", "2024-03-01 10:00:00", "0", "", "", "NULL", ""),
			CloneStatus{ID: 4, State: CloneInProgress, BeginTime: "2024-03-01 10:00:00"},
			`"In Progress", not Completed`},
		{"not started",
			ns("5", "Not Started", "NULL", "0", "", "", "0", ""),
			CloneStatus{ID: 5, State: CloneNotStarted},
			`"Not Started", not Completed`},
	}
	for _, tt := range tests {
		got, err := ParseCloneStatus(tt.row)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
		err = got.Err("db5")
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: Err = %v, want %q", tt.name, err, tt.err)
		}
	}
}

func TestParseCloneStatusRefuses(t *testing.T) {
	tests := map[string][]sql.NullString{
		"columns":         ns("1", "Completed"),
		"state":           ns("1", "Done", "", "0", "", "", "0", ""),
		"error number":    ns("1", "Failed", "", "x", "", "", "0", ""),
		"binlog position": ns("1", "Completed", "", "0", "", "f", "4-5", ""),
		"id":              ns("one", "Completed", "", "0", "", "", "0", ""),
	}
	for name, row := range tests {
		if _, err := ParseCloneStatus(row); err == nil {
			t.Errorf("%s: accepted %v", name, row)
		}
	}
}

func TestParseCloneProgress(t *testing.T) {
	const mib = 1 << 20
	stages := func(rows ...[]string) [][]sql.NullString {
		var out [][]sql.NullString
		for _, r := range rows {
			out = append(out, ns(r...))
		}
		return out
	}
	tests := []struct {
		name string
		rows [][]sql.NullString
		want CloneProgress
	}{
		{"empty table", nil, CloneProgress{}},
		{"dropping data", stages(
			[]string{"DROP DATA", "In Progress", "0", "0"},
			[]string{"FILE COPY", "Not Started", "0", "0"},
			[]string{"PAGE_COPY", "Not Started", "0", "0"},
			[]string{"REDO_COPY", "Not Started", "0", "0"},
			[]string{"FILE_SYNC", "Not Started", "0", "0"},
			[]string{"RESTART", "Not Started", "0", "0"},
			[]string{"RECOVERY", "Not Started", "0", "0"},
		), CloneProgress{Stage: "DROP DATA"}},
		{"copying files", stages(
			[]string{"DROP DATA", "Completed", "0", "0"},
			[]string{"FILE COPY", "In Progress", "1000", "250"},
			[]string{"PAGE_COPY", "Not Started", "0", "0"},
			[]string{"REDO_COPY", "Not Started", "NULL", "NULL"},
		), CloneProgress{Stage: "FILE COPY", Done: 250, Total: 1000}},
		{"estimate below what was copied", stages(
			[]string{"FILE COPY", "In Progress", "1000", "1200"},
		), CloneProgress{Stage: "FILE COPY", Done: 1200, Total: 1200}},
		{"a done stage counts what it copied", stages(
			[]string{"DROP DATA", "Completed", "0", "0"},
			[]string{"FILE COPY", "Completed", "1000000000", "900000000"},
			[]string{"PAGE_COPY", "In Progress", "2097152", "1048576"},
			[]string{"REDO_COPY", "Not Started", "0", "0"},
		), CloneProgress{Stage: "PAGE_COPY", Done: 900000000 + mib, Total: 900000000 + 2*mib}},
		{"restarting", stages(
			[]string{"DROP DATA", "Completed", "0", "0"},
			[]string{"FILE COPY", "Completed", "5000", "5100"},
			[]string{"PAGE_COPY", "Completed", "300", "280"},
			[]string{"REDO_COPY", "Completed", "40", "40"},
			[]string{"FILE_SYNC", "Completed", "0", "0"},
			[]string{"RESTART", "In Progress", "0", "0"},
			[]string{"RECOVERY", "Not Started", "0", "0"},
		), CloneProgress{Stage: "RESTART", Done: 5420, Total: 5420}},
		// Other stages' numbers are not bytes copied.
		{"other stages ignored", stages(
			[]string{"FILE_SYNC", "In Progress", "77", "7"},
		), CloneProgress{Stage: "FILE_SYNC"}},
	}
	for _, tt := range tests {
		got, err := ParseCloneProgress(tt.rows)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
	if _, err := ParseCloneProgress([][]sql.NullString{ns("FILE COPY", "In Progress", "lots", "0")}); err == nil {
		t.Error("a non-numeric ESTIMATE was accepted")
	}
	if _, err := ParseCloneProgress([][]sql.NullString{ns("FILE COPY")}); err == nil {
		t.Error("a short row was accepted")
	}
}

func TestNormalizeGTIDSet(t *testing.T) {
	if got, want := NormalizeGTIDSet(" a:1-3,\n b:1-2\n"), "a:1-3,b:1-2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
