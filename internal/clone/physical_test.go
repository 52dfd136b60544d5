package clone

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

func TestParseBinlogInfo(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "binlog.000001\t101113826\t0-1-8\n", want: "0-1-8"},
		{in: "binlog.000003\t4567\t0-1-8,1-2-30", want: "0-1-8,1-2-30"},
		{in: "binlog.000001\t329", want: ""}, // a donor that never wrote a transaction
		{in: "binlog.000001\t329\t0-x-1", err: "binary log position of the backup"},
		{in: "garbage", err: "want file, position and GTID"},
	}
	for _, tt := range tests {
		got, err := parseBinlogInfo(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseBinlogInfo(%q) = %q, %v; want error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseBinlogInfo(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestOptionValue(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:         `"plain"`,
		`with "quotes"`: `"with \"quotes\""`,
		`back\slash`:    `"back\\slash"`,
		"new\nline#;":   `"new\nline#;"`,
	} {
		if got := optionValue(in); got != want {
			t.Errorf("optionValue(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestOutsideDatadir(t *testing.T) {
	in := &serverInfo{datadir: "/var/lib/mysql", innodbDirs: map[string]string{
		"innodb_log_group_home_dir": "./",
		"innodb_data_home_dir":      "",
		"innodb_undo_directory":     "/var/lib/mysql/undo",
	}}
	if out := in.outsideDatadir(); len(out) != 0 {
		t.Errorf("inside the data directory, got %v", out)
	}
	in.innodbDirs["innodb_log_group_home_dir"] = "/srv/redo"
	if out := in.outsideDatadir(); len(out) != 1 || out[0] != "innodb_log_group_home_dir = /srv/redo" {
		t.Errorf("got %v, want the redo log directory named", out)
	}
	in.innodbDirs["innodb_log_group_home_dir"] = "/var/lib/mysql-other"
	if out := in.outsideDatadir(); len(out) != 1 {
		t.Errorf("a sibling with the data directory's name as prefix is outside; got %v", out)
	}
}

// The option file mariabackup reads carries the password: its owner only,
// the server's own file included, gone after use.
func TestWriteDefaults(t *testing.T) {
	dir := t.TempDir()
	s := &LocalServer{
		Host:         &topology.Host{Name: "slave3", Address: "198.18.8.15", Port: 3306, Admin: topology.Account{User: "root", Password: topology.NewSecret(`p"w\x`, "test")}},
		DefaultsFile: "/etc/mmm-test/my.cnf",
		StateDir:     dir,
	}
	path, cleanup, err := s.writeDefaults()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("option file %s: mode %v, %v; want 0600", path, fi.Mode().Perm(), err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{"!include /etc/mmm-test/my.cnf\n", "[mariabackup]\n", `password = "p\"w\\x"`, "host = 198.18.8.15", "port = 3306"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("option file lacks %q:\n%s", want, b)
		}
	}
	cleanup()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("option file still there after cleanup: %v", err)
	}
}

func TestTail(t *testing.T) {
	tl := newTail(2)
	_, _ = tl.Write([]byte("one\ntwo\nthr"))
	_, _ = tl.Write([]byte("ee\nfour"))
	if got := tl.String(); got != "    three\n    four" {
		t.Errorf("tail = %q", got)
	}
}

// An agent killed between stopping its server and starting it again, in
// the middle of moving the copy in: the next one moves the copy's files back
// out, puts the server's own files back and runs the start command.
func TestRecoverPutsTheDataBack(t *testing.T) {
	datadir := t.TempDir()
	work, old := filepath.Join(datadir, workDir), filepath.Join(datadir, oldDir)
	for _, dir := range []string{filepath.Join(old, "mysql"), work, filepath.Join(datadir, "lost+found")} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	// Part of the copy already moved in.
	if err := os.WriteFile(filepath.Join(datadir, "ibdata1"), []byte("copy"), 0o640); err != nil {
		t.Fatal(err)
	}
	started := filepath.Join(t.TempDir(), "started")
	s := &LocalServer{
		// Nothing listens on port 1: the server "does not answer", so the
		// start command runs and the wait for SQL gives up quickly.
		Host:         &topology.Host{Name: "slave3", Address: "127.0.0.1", Port: 1, Admin: topology.Account{User: "root", Password: topology.NewSecret("x", "test")}},
		StartCommand: "touch " + started,
		StopCommand:  "true",
		StateDir:     filepath.Join(t.TempDir(), "state"),
		StartTimeout: 300 * time.Millisecond,
	}
	if err := s.writeJournal(&journal{Datadir: datadir, Work: work, Old: old, Started: time.Now(), Phase: "in"}); err != nil {
		t.Fatal(err)
	}
	err := s.Recover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not answer SQL") {
		t.Errorf("Recover = %v, want the server not answering", err)
	}
	for path, want := range map[string]bool{
		filepath.Join(datadir, "mysql"):      true,  // the server's own files are back
		filepath.Join(datadir, "ibdata1"):    false, // the copy's are out
		filepath.Join(work, "ibdata1"):       true,
		filepath.Join(datadir, "lost+found"): true,
		started:                              true, // the start command ran
	} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", path, err == nil, want)
		}
	}
	// The journal stays until the server runs, so the next start tries again.
	if _, err := os.Stat(filepath.Join(s.StateDir, journalFile)); err != nil {
		t.Errorf("journal gone although the server did not come back: %v", err)
	}
	if err := (&LocalServer{StateDir: t.TempDir()}).Recover(context.Background()); err != nil {
		t.Errorf("Recover without a journal: %v", err)
	}
}
