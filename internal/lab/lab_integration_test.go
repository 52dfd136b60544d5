package lab_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// This package's lab: the example topology moved to 198.18.4.0/24.
func TestMain(m *testing.M) {
	labtest.Main(m, "../../examples/lab/mmm.hcl", labtest.Subnet("198.18.4"))
}

func TestServersAnswerOverTCP(t *testing.T) {
	l := labtest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids := map[uint32]string{}
	for _, h := range l.Cluster().Hosts {
		if !strings.HasPrefix(h.Address, "198.18.4.") {
			t.Fatalf("host %s has address %s, want one in 198.18.4.0/24 (labtest.Subnet)", h.Name, h.Address)
		}
		db, err := l.DB(h.Name)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var (
			id                      uint32
			logBin, logSlaveUpdates int
			strict                  int
			format, bindAddress     string
			readOnly                int
		)
		err = db.QueryRowContext(ctx, "SELECT @@server_id, @@log_bin, @@log_slave_updates, @@gtid_strict_mode, @@binlog_format, @@bind_address, @@read_only").
			Scan(&id, &logBin, &logSlaveUpdates, &strict, &format, &bindAddress, &readOnly)
		if err != nil {
			t.Fatalf("%s at %s:%d as admin: %v", h.Name, h.Address, h.Port, err)
		}
		if other, dup := ids[id]; dup {
			t.Errorf("%s and %s both have server_id %d", h.Name, other, id)
		}
		ids[id] = h.Name
		if id != l.Cluster().ServerIDFor(h) {
			t.Errorf("%s: server_id %d, want %d", h.Name, id, l.Cluster().ServerIDFor(h))
		}
		if logBin != 1 || logSlaveUpdates != 1 || strict != 1 || format != "ROW" {
			t.Errorf("%s: log_bin=%d log_slave_updates=%d gtid_strict_mode=%d binlog_format=%s, want 1 1 1 ROW", h.Name, logBin, logSlaveUpdates, strict, format)
		}
		if bindAddress != "0.0.0.0" {
			t.Errorf("%s: bind_address=%s, want 0.0.0.0 so a VIP added later answers", h.Name, bindAddress)
		}
		if readOnly != 1 {
			t.Errorf("%s: read_only=%d: a server must start fenced (read_only = ON in its option file); mmm apply makes the writer writable", h.Name, readOnly)
		}
		var grants string
		if err := db.QueryRowContext(ctx, "SHOW GRANTS FOR CURRENT_USER()").Scan(&grants); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(grants, "ALL PRIVILEGES ON *.*") || !strings.Contains(grants, "WITH GRANT OPTION") || !strings.Contains(grants, "@`%`") {
			t.Errorf("%s: admin grants %q, want ALL PRIVILEGES ON *.* ... @'%%' WITH GRANT OPTION", h.Name, grants)
		}
	}
	if len(ids) != len(l.Cluster().Hosts) {
		t.Errorf("%d distinct server_ids for %d hosts", len(ids), len(l.Cluster().Hosts))
	}
}

func TestWrongPasswordIsRefused(t *testing.T) {
	l := labtest.Get(t)
	h := l.Cluster().Hosts[0]
	wrong := topology.Account{User: h.Admin.User, Password: topology.NewSecret("not-the-password", "test")}
	_, err := lab.QueryServerID(context.Background(), h.Address, h.Port, wrong)
	if err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Fatalf("login with a wrong password: err = %v, want Access denied", err)
	}
}

func TestUpIsIdempotent(t *testing.T) {
	l := labtest.Get(t)
	before := pids(t, l)
	results, err := l.Up(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.Kept {
			t.Errorf("%s was rebuilt by a second Up, want kept", r.Name)
		}
		if before[r.Name] != r.PID {
			t.Errorf("%s: pid %d after the second Up, was %d", r.Name, r.PID, before[r.Name])
		}
	}
}

func TestUpRepairsACrashedHost(t *testing.T) {
	l := labtest.Get(t)
	before := pids(t, l)
	victim := l.Cluster().Hosts[1].Name
	if err := syscall.Kill(before[victim], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, before[victim])
	results, err := l.Up(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Name == victim {
			if r.Kept || r.PID == before[victim] {
				t.Errorf("crashed %s was not restarted: kept=%v pid=%d", r.Name, r.Kept, r.PID)
			}
		} else if !r.Kept {
			t.Errorf("healthy %s was rebuilt, want kept", r.Name)
		}
	}
	assertAllAnswer(t, l)
}

// TestDownLeavesNothing runs Down, checks with the system's own tools that no
// namespace, link or server of the lab is left, and brings the lab back up.
func TestDownLeavesNothing(t *testing.T) {
	l := labtest.Get(t)
	before := pids(t, l)
	if err := l.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := l.Up(context.Background()); err != nil {
			t.Errorf("Up after Down: %v", err)
		}
	})
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), l.ID()+"-") {
		t.Errorf("namespaces left after Down:\n%s", out)
	}
	out, err = exec.Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, " "+l.ID()+":") || strings.Contains(line, " "+l.ID()+"v") {
			t.Errorf("link left after Down: %s", line)
		}
	}
	for name, pid := range before {
		if cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && strings.Contains(string(cmdline), "mariadbd") {
			t.Errorf("mariadbd of %s (pid %d) still runs after Down", name, pid)
		}
	}
	if _, err := os.Stat(l.Dir()); !os.IsNotExist(err) {
		t.Errorf("state dir %s still there after Down (err=%v)", l.Dir(), err)
	}
}

func pids(t *testing.T, l *lab.Lab) map[string]int {
	t.Helper()
	hosts, err := l.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, h := range hosts {
		if !h.Answers || h.PID == 0 {
			t.Fatalf("%s does not answer: %s", h.Name, h.Error)
		}
		out[h.Name] = h.PID
	}
	return out
}

func assertAllAnswer(t *testing.T, l *lab.Lab) {
	t.Helper()
	hosts, err := l.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if !h.Answers {
			t.Errorf("%s does not answer: %s", h.Name, h.Error)
		}
	}
}

func waitExit(t *testing.T, pid int) {
	t.Helper()
	for range 200 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("pid %d did not exit after SIGKILL", pid)
}
