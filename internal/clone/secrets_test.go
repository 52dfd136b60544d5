package clone

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// The option file sits in a private directory (0700, even when it existed
// with a looser mode), and the files an agent killed during a backup left
// (there, or in the state dir itself as older agents wrote them) are gone
// after the next start's Recover.
func TestOptionFilesPrivateAndStaleOnesRemoved(t *testing.T) {
	state := t.TempDir()
	if err := os.Mkdir(filepath.Join(state, optionDir), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &LocalServer{
		Host:     &topology.Host{Name: "slave3", Address: "198.18.8.15", Port: 3306, Admin: topology.Account{User: "root", Password: topology.NewSecret("pw", "test")}},
		StateDir: state,
	}
	path, cleanup, err := s.writeDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != filepath.Join(state, optionDir) {
		t.Errorf("option file %s, want it in %s", path, filepath.Join(state, optionDir))
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("option dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	// The agent is killed here: cleanup never runs. An older agent's file too.
	_ = cleanup
	older := filepath.Join(state, "mariabackup-123.cnf")
	if err := os.WriteFile(older, []byte("[mariabackup]\npassword = pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, older} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s survived the restart: %v", f, err)
		}
	}
}

// The option directory must be the agent's own: a symbolic link (someone
// else's directory in a shared /tmp) is refused.
func TestOptionDirNotALink(t *testing.T) {
	state := t.TempDir()
	if err := os.Symlink(t.TempDir(), filepath.Join(state, optionDir)); err != nil {
		t.Fatal(err)
	}
	s := &LocalServer{Host: &topology.Host{Name: "slave3", Admin: topology.Account{User: "root", Password: topology.NewSecret("pw", "test")}}, StateDir: state}
	if _, _, err := s.writeDefaults(); err == nil {
		t.Error("option file written through a symbolic link")
	}
}

// The journal is written whole (and synced) and removed again.
func TestJournalWriteRemove(t *testing.T) {
	s := &LocalServer{StateDir: t.TempDir()}
	if err := s.writeJournal(&journal{Datadir: "/var/lib/mysql", Phase: "out"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.StateDir, journalFile))
	if err != nil || len(b) == 0 {
		t.Fatalf("journal: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(s.StateDir, journalFile+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary journal left: %v", err)
	}
	if err := s.removeJournal(); err != nil {
		t.Fatal(err)
	}
	if err := s.removeJournal(); err != nil {
		t.Errorf("removing an absent journal: %v", err)
	}
}
