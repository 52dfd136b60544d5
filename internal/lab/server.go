package lab

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// myCnf is each server's whole configuration: the lab passes --defaults-file
// first, so nothing from /etc/mysql (Debian's system server) is read.
//
// user=root: the lab runs as root and its data dirs may sit under directories
// the mysql user cannot enter (a test's temp dir), so the server keeps root's
// identity instead of switching to mysql.
func myCnf(h *HostState) string {
	return fmt.Sprintf(`[mariadbd]
user                = root
datadir             = %[1]s/data
# Its own tmpdir: bootstraps running in parallel with a shared /tmp crash
# (signal 11 in Create_tmp_table cleanup, seen with 10.11.19).
tmpdir              = %[1]s/tmp
socket              = %[1]s/mariadb.sock
pid-file            = %[1]s/mariadb.pid
log-error           = %[1]s/error.log
bind-address        = 0.0.0.0
port                = %[2]d
server_id           = %[3]d
log_bin             = %[1]s/data/binlog
log_slave_updates   = ON
gtid_strict_mode    = ON
binlog_format       = ROW
skip-name-resolve
# Fenced by default, as production servers must be: a server that restarts
# (a returning old master, a crashed writer) comes up read-only and takes
# writes only after mmm made it the writer. The lab's own setup runs as root
# over the socket, which read_only does not stop.
read_only           = ON
# Small and quick: a lab server holds test data only.
innodb_buffer_pool_size = 32M
innodb_log_file_size    = 16M
performance_schema      = OFF
`, h.Dir, h.Port, h.ServerID) + sslCnf(h)
}

// installDataDir makes a fresh data directory (the host's namespace must exist). root@localhost gets no password
// (normal authentication, reachable only over the host's socket) so the lab can
// create the admin account without a password on any command line.
func installDataDir(ctx context.Context, h *HostState) error {
	if err := os.RemoveAll(h.Dir); err != nil {
		return fmt.Errorf("remove old data of %s: %w", h.Name, err)
	}
	for _, sub := range []string{"data", "tmp"} {
		if err := os.MkdirAll(filepath.Join(h.Dir, sub), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(h.DefaultsFile, []byte(myCnf(h)), 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "mariadb-install-db",
		"--defaults-file="+h.DefaultsFile,
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--skip-name-resolve",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Inside the host's namespace, so that a teardown after a crash of ours
	// (which sweeps the namespace's processes) also stops a bootstrap in progress.
	err := startInNamespace(h.Namespace, cmd)
	if err == nil {
		err = cmd.Wait()
	}
	_ = os.WriteFile(filepath.Join(h.Dir, "install.log"), out.Bytes(), 0o644)
	if err != nil {
		// Its first lines say what failed; the server's own log says why.
		return fmt.Errorf("mariadb-install-db for %s in %s: %w\n%s\n%s", h.Name, h.Dir, err, head(out.String(), 6), errorLogTail(h))
	}
	return nil
}

// startServer starts mariadbd inside the host's namespace, detached from our
// session (it outlives `mmm lab up` and ignores the terminal's Ctrl-C), with its
// output in a file (so nothing holds our stdout open), and records its pid.
func startServer(h *HostState) error {
	bin, err := findProgram("mariadbd")
	if err != nil {
		return err
	}
	out, err := os.OpenFile(filepath.Join(h.Dir, "mariadbd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(bin, "--defaults-file="+h.DefaultsFile)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := startInNamespace(h.Namespace, cmd); err != nil {
		return fmt.Errorf("start mariadbd for %s: %w", h.Name, err)
	}
	h.PID = cmd.Process.Pid
	// Reap it when it exits, so a stopped server is not a zombie that looks alive.
	go func() { _ = cmd.Wait() }()
	return nil
}

// createAdmin makes the file's admin account, from anywhere on the bridge ('%'),
// with every privilege. The password travels only inside the SQL session.
func createAdmin(ctx context.Context, h *HostState, admin topology.Account) error {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = filepath.Join(h.Dir, "mariadb.sock")
	cfg.Timeout = 5 * time.Second
	cfg.ReadTimeout = 10 * time.Second
	cfg.WriteTimeout = 10 * time.Second
	db, err := openDB(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	account := flavor.Account(admin.User, "%")
	pw := flavor.QuoteString(admin.Password.Value())
	for _, stmt := range []string{
		"CREATE USER IF NOT EXISTS " + account + " IDENTIFIED BY " + pw,
		"ALTER USER " + account + " IDENTIFIED BY " + pw,
		"GRANT ALL PRIVILEGES ON *.* TO " + account + " WITH GRANT OPTION",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			// The statement holds the password: name only what failed.
			return fmt.Errorf("create admin account %s on %s: %w", account, h.Name, err)
		}
	}
	return nil
}

// waitReady waits until the server answers SQL at its address as the admin, the
// way every mmm command will reach it. On timeout the error carries the tail of
// the server's error log.
func waitReady(ctx context.Context, h *HostState, admin topology.Account, timeout time.Duration, viaSocket bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		// Only existence: we started this pid, and until the child has exec'd,
		// /proc/PID/cmdline still shows our own command line, so the
		// --defaults-file check would call a starting server dead.
		if !serverAlive(h.PID, "") {
			return fmt.Errorf("mariadbd for %s (pid %d) exited during start-up; %s", h.Name, h.PID, errorLogTail(h))
		}
		var err error
		if viaSocket {
			_, err = os.Stat(filepath.Join(h.Dir, "mariadb.sock"))
			if err == nil {
				err = pingSocket(ctx, h)
			}
		} else {
			_, err = QueryServerID(ctx, h.Address, h.Port, admin)
		}
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s (%s:%d) did not answer SQL within %s: %v; %s", h.Name, h.Address, h.Port, timeout, last, errorLogTail(h))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func pingSocket(ctx context.Context, h *HostState) error {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = filepath.Join(h.Dir, "mariadb.sock")
	cfg.Timeout = time.Second
	db, err := openDB(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// AdminConfig is the driver configuration to reach addr:port as the admin, with
// timeouts on connect, read and write.
func AdminConfig(address string, port int, admin topology.Account) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User = admin.User
	cfg.Passwd = admin.Password.Value()
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(address, strconv.Itoa(port))
	cfg.Timeout = 2 * time.Second
	cfg.ReadTimeout = 10 * time.Second
	cfg.WriteTimeout = 10 * time.Second
	return cfg
}

// QueryServerID asks a server for its @@server_id over TCP as the admin.
func QueryServerID(ctx context.Context, address string, port int, admin topology.Account) (uint32, error) {
	db, err := openDB(AdminConfig(address, port, admin))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var id uint32
	if err := db.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id); err != nil {
		return 0, err
	}
	return id, nil
}

func openDB(cfg *mysql.Config) (*sql.DB, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	return db, nil
}

func errorLogTail(h *HostState) string {
	b, err := os.ReadFile(filepath.Join(h.Dir, "error.log"))
	if err != nil || len(b) == 0 {
		b, _ = os.ReadFile(filepath.Join(h.Dir, "mariadbd.out"))
	}
	if len(b) == 0 {
		return "its error log is empty"
	}
	return "last lines of " + filepath.Join(h.Dir, "error.log") + ":\n" + tail(string(b), 15)
}

func head(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return "    " + strings.Join(lines, "\n    ")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// findProgram looks in PATH and then in the sbin directories a non-login root
// shell may lack (Debian puts mariadbd in /usr/sbin).
func findProgram(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: install mariadb-server (make deps)", name)
}

var errNotRoot = errors.New("the lab needs root to create network namespaces and bridges: run it as root (sudo)")
