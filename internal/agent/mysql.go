package agent

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// mysqlDB is the host's own server, reached as the file's admin account over
// its unix socket when the agent knows it (from the server's option file or
// @@socket) and the account may log in there, else at its address and port.
type mysqlDB struct {
	flavor  string
	tcpAddr string
	user    string
	pass    string
	log     *slog.Logger

	mu           sync.Mutex
	socket       string // "" = unknown
	pidFile      string // "" = unknown
	socketDenied bool   // the account cannot log in over the socket: TCP only
	kept         *sql.DB
	keptAddr     string
}

func newMySQL(c *topology.Cluster, h *topology.Host, defaultsFile string, log *slog.Logger) *mysqlDB {
	m := &mysqlDB{
		flavor:  c.Flavor,
		tcpAddr: net.JoinHostPort(h.Address, strconv.Itoa(h.Port)),
		user:    h.Admin.User,
		pass:    h.Admin.Password.Value(),
		log:     log,
	}
	if defaultsFile != "" {
		socket, pidFile, err := readServerOptions(defaultsFile)
		if err != nil {
			log.Warn("cannot read the server's option file; socket and pid file will come from the server", "file", defaultsFile, "err", err)
		}
		m.socket, m.pidFile = socket, pidFile
	}
	return m
}

// readServerOptions reads socket and pid-file from the server sections of an
// option file ([mariadbd], [mysqld], [server], [mariadb]); a relative
// pid-file is relative to datadir. !include directives are not followed.
func readServerOptions(path string) (socket, pidFile string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	var datadir string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '!' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			switch strings.ToLower(strings.TrimSpace(line[1 : len(line)-1])) {
			case "mariadbd", "mysqld", "server", "mariadb":
				in = true
			default:
				in = false
			}
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(k)), "_", "-")
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch k {
		case "socket":
			socket = v
		case "pid-file":
			pidFile = v
		case "datadir":
			datadir = v
		}
	}
	if pidFile != "" && !filepath.IsAbs(pidFile) && datadir != "" {
		pidFile = filepath.Join(datadir, pidFile)
	}
	return socket, pidFile, sc.Err()
}

// config is a driver configuration for one address ("/…" = unix socket).
func (m *mysqlDB) config(addr string, timeout time.Duration) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = m.user, m.pass
	cfg.Net, cfg.Addr = "tcp", addr
	if strings.HasPrefix(addr, "/") {
		cfg.Net = "unix"
	}
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = timeout, timeout, timeout
	return cfg
}

// sqlAddr is where SQL goes: the socket unless unknown or denied.
func (m *mysqlDB) sqlAddr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.socket != "" && !m.socketDenied {
		return m.socket
	}
	return m.tcpAddr
}

// probeAddr is where the greeting probe goes: the socket when known.
func (m *mysqlDB) probeAddr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.socket != "" {
		return m.socket
	}
	return m.tcpAddr
}

func (m *mysqlDB) Probe(ctx context.Context, timeout time.Duration) (string, string) {
	return ProbeServer(ctx, m.probeAddr(), timeout)
}

// fresh opens a new connection (never one from a pool: a connection to a
// server that hung or restarted may be dead). An access denied over the
// socket switches to TCP for good, within the same deadline.
func (m *mysqlDB) fresh(ctx context.Context) (*sql.Conn, func(), error) {
	addr := m.sqlAddr()
	conn, closeFn, err := m.dial(ctx, addr)
	if err != nil && strings.HasPrefix(addr, "/") && isAccessDenied(err) {
		m.denySocket(err)
		conn, closeFn, err = m.dial(ctx, m.tcpAddr)
	}
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			err = fmt.Errorf("%w (%s: %v)", ErrServerDown, addr, err)
		}
		return nil, nil, &ConnectError{Err: err}
	}
	return conn, closeFn, nil
}

// ConnectError is a LocalDB error of the connection, before any statement
// ran: a server that does not greet or log in in time.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

func (m *mysqlDB) dial(ctx context.Context, addr string) (*sql.Conn, func(), error) {
	timeout := time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	connector, err := mysql.NewConnector(m.config(addr, timeout))
	if err != nil {
		return nil, nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxIdleConns(0)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return conn, func() { conn.Close(); db.Close() }, nil
}

func isAccessDenied(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1045 || me.Number == 1698)
}

// SetReadOnly fences the server on a fresh connection: no more writes from
// clients without SUPER / READ_ONLY ADMIN (and, on MySQL, none at all with
// super_read_only).
func (m *mysqlDB) SetReadOnly(ctx context.Context) error {
	conn, closeFn, err := m.fresh(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	stmt := "SET GLOBAL read_only = ON"
	if m.flavor == "mysql" {
		stmt = "SET GLOBAL super_read_only = ON" // implies read_only
	}
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// KillClientSessions kills every session but: its own, the binlog dump
// threads of the replicas, the replica threads of this server and other
// system threads ('system user', event scheduler, daemons). Two passes, for
// a client that connected while the first ran.
func (m *mysqlDB) KillClientSessions(ctx context.Context) (int, error) {
	conn, closeFn, err := m.fresh(ctx)
	if err != nil {
		return 0, err
	}
	defer closeFn()
	killed := 0
	for range 2 {
		rows, err := conn.QueryContext(ctx, "SELECT ID, COALESCE(USER, ''), COALESCE(COMMAND, ''), CONNECTION_ID() FROM information_schema.PROCESSLIST")
		if err != nil {
			return killed, fmt.Errorf("list sessions: %w", err)
		}
		var ids []uint64
		for rows.Next() {
			var id, self uint64
			var user, command string
			if err := rows.Scan(&id, &user, &command, &self); err != nil {
				rows.Close()
				return killed, err
			}
			if id == self || keepSession(user, command) {
				continue
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return killed, err
		}
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			if _, err := conn.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatUint(id, 10)); err != nil {
				var me *mysql.MySQLError
				if errors.As(err, &me) && me.Number == 1094 { // gone meanwhile
					continue
				}
				return killed, fmt.Errorf("kill session %d: %w", id, err)
			}
			killed++
		}
	}
	return killed, nil
}

// keepSession: replication and system threads survive the fence.
func keepSession(user, command string) bool {
	switch user {
	case "system user", "event_scheduler":
		return true
	}
	switch command {
	case "Binlog Dump", "Binlog Dump GTID", "Daemon", "Slave_IO", "Slave_SQL", "Slave_worker", "Killed":
		return true
	}
	return false
}

// Vars reads read_only and Uptime on a kept connection (and, the first time,
// @@socket and @@pid_file when the option file did not say).
func (m *mysqlDB) Vars(ctx context.Context) (ServerVars, error) {
	v, err := m.vars(ctx)
	if err != nil && isAccessDenied(err) && m.denySocket(err) {
		v, err = m.vars(ctx)
	}
	return v, err
}

// denySocket switches SQL to TCP after an access denied over the socket
// (the admin account is not allowed from localhost); false when SQL did not
// go over the socket.
func (m *mysqlDB) denySocket(err error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.socket == "" || m.socketDenied {
		return false
	}
	m.socketDenied = true
	m.log.Warn("the admin account cannot log in over the server's socket; using TCP", "socket", m.socket, "err", err)
	return true
}

func (m *mysqlDB) vars(ctx context.Context) (ServerVars, error) {
	db, err := m.keptDB()
	if err != nil {
		return ServerVars{}, err
	}
	var v ServerVars
	var socket, pidFile sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only, @@GLOBAL.socket, @@GLOBAL.pid_file").Scan(&v.ReadOnly, &socket, &pidFile); err != nil {
		return ServerVars{}, fmt.Errorf("read read_only: %w", err)
	}
	var name string
	var secs int64
	if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Uptime'").Scan(&name, &secs); err != nil {
		return ServerVars{}, fmt.Errorf("read Uptime: %w", err)
	}
	v.Uptime = time.Duration(secs) * time.Second
	m.mu.Lock()
	if m.socket == "" && socket.String != "" {
		if _, err := os.Stat(socket.String); err == nil { // the same filesystem as the server
			m.socket = socket.String
		}
	}
	if m.pidFile == "" && pidFile.String != "" {
		m.pidFile = pidFile.String
	}
	m.mu.Unlock()
	return v, nil
}

// keptDB is a pool of one connection to sqlAddr, rebuilt when it changes.
func (m *mysqlDB) keptDB() (*sql.DB, error) {
	addr := m.sqlAddr()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kept != nil && m.keptAddr == addr {
		return m.kept, nil
	}
	if m.kept != nil {
		m.kept.Close()
	}
	connector, err := mysql.NewConnector(m.config(addr, time.Second))
	if err != nil {
		return nil, err
	}
	m.kept, m.keptAddr = sql.OpenDB(connector), addr
	m.kept.SetMaxOpenConns(1)
	m.kept.SetConnMaxIdleTime(time.Minute)
	return m.kept, nil
}

// KillServer sends SIGKILL to the process in the server's pid file, if it
// is a MySQL/MariaDB server, and waits until it is gone.
func (m *mysqlDB) KillServer(ctx context.Context) error {
	m.mu.Lock()
	pidFile := m.pidFile
	m.mu.Unlock()
	if pidFile == "" {
		return errors.New("the server's pid file is unknown (set --server-defaults-file, or the agent never read @@pid_file)")
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("pid file %s holds %q, not a pid", pidFile, strings.TrimSpace(string(b)))
	}
	return killProcess(ctx, pid)
}

// killProcess SIGKILLs pid, if it is a mysqld/mariadbd, and waits until it
// is gone (or a zombie).
func killProcess(ctx context.Context, pid int) error {
	if !processAlive(pid) {
		return nil // already gone: down
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
		name := strings.TrimSpace(string(comm))
		if !strings.Contains(name, "mysqld") && !strings.Contains(name, "mariadbd") {
			return fmt.Errorf("pid %d is %q, not the server: not killed", pid, name)
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGKILL %d: %w", pid, err)
	}
	for processAlive(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("pid %d still there after SIGKILL: %w", pid, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// processAlive: pid exists and is not a zombie.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if _, perr := os.Stat("/proc/self/stat"); perr != nil {
			return true // no /proc here: kill(pid, 0) said it exists
		}
		return false
	}
	// The state follows the command name in parentheses.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		switch b[i+2] {
		case 'Z', 'X':
			return false
		}
	}
	return true
}
