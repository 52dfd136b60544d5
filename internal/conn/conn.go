// Package conn opens connections to a cluster's servers with the host's admin
// account and explains connection failures in one sentence with a fix. Both
// inspect (reading) and apply (changing) use it, so timeouts and error
// messages are the same everywhere.
package conn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Timeouts bound every network call to a server.
type Timeouts struct {
	Connect time.Duration // TCP connect and login; default 2s
	Query   time.Duration // one statement; default 5s
}

// DefaultTimeouts are used for zero fields.
var DefaultTimeouts = Timeouts{Connect: 2 * time.Second, Query: 5 * time.Second}

// WithDefaults fills zero fields from DefaultTimeouts.
func (t Timeouts) WithDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = DefaultTimeouts.Connect
	}
	if t.Query <= 0 {
		t.Query = DefaultTimeouts.Query
	}
	return t
}

// Addr is host:port of a host.
func Addr(h *topology.Host) string {
	port := h.Port
	if port == 0 {
		port = 3306
	}
	return net.JoinHostPort(h.Address, strconv.Itoa(port))
}

// Config is the driver configuration for a host's admin account. It carries
// the password: never print it (mysql.Config.FormatDSN would).
func Config(h *topology.Host, t Timeouts) *mysql.Config {
	t = t.WithDefaults()
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = Addr(h)
	cfg.User = h.Admin.User
	cfg.Passwd = h.Admin.Password.Value()
	cfg.Timeout = t.Connect
	// Read/write deadlines stop a half-dead server from hanging a query even
	// when a caller forgot its context deadline.
	cfg.ReadTimeout = t.Query
	cfg.WriteTimeout = t.Query
	cfg.AllowNativePasswords = true
	cfg.TLS = adminTLS(h) // admin.tls (tls.go)
	PinSQLMode(cfg)
	return cfg
}

// SQLModePin is the sql_mode every admin session sets when it connects: the
// server's own mode without NO_BACKSLASH_ESCAPES. flavor.QuoteString escapes
// with backslashes, which that mode would turn into literal characters (a
// password with a backslash would be stored wrong). The other modes are the
// server's: a fixed list would have to name modes that exist on every MariaDB
// and MySQL version, and would make mmm's DDL stricter or looser than the
// application's. The set is wrapped in commas so that only the whole mode
// name is removed.
const SQLModePin = "TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))"

// PinSQLMode makes the driver set SQLModePin on every new connection of cfg
// (the driver runs "SET sql_mode = ..." right after login, also when the pool
// reconnects).
func PinSQLMode(cfg *mysql.Config) {
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["sql_mode"] = SQLModePin
}

// Open connects to a host with its admin account and pings it within the
// connect timeout. The pool holds at most one connection: mmm sends statements
// to a server one after another, and session settings (sql_log_bin) must
// stay on the connection that set them.
func Open(ctx context.Context, h *topology.Host, t Timeouts) (*sql.DB, error) {
	return OpenConfig(ctx, h, t, Config(h, t))
}

// OpenConfig is Open with a driver configuration made by Config and then
// adjusted by the caller (the watch's reader sends its two statements in one
// round trip: MultiStatements).
func OpenConfig(ctx context.Context, h *topology.Host, t Timeouts, cfg *mysql.Config) (*sql.DB, error) {
	t = t.WithDefaults()
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, &Error{Host: h.Name, Addr: Addr(h), Err: err}
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, t.Connect)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, &Error{Host: h.Name, Addr: Addr(h), Err: err, Timeout: t.Connect}
	}
	return db, nil
}

// Error is a failure talking to one host, with the likely cause and fix.
type Error struct {
	Op      string // "inspect", "apply"; "" prints as "connect"
	Host    string
	Addr    string
	Err     error
	Timeout time.Duration // the timeout in force, for the message
}

func (e *Error) Error() string {
	op := e.Op
	if op == "" {
		op = "connect"
	}
	msg := fmt.Sprintf("%s %s (%s): %s", op, e.Host, e.Addr, errorText(e.Err))
	if cause := Cause(e.Err, e.Timeout); cause != "" {
		msg += " (" + cause + ")"
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// WithOp returns err with its operation set when it is an *Error, otherwise
// wraps it naming the host.
func WithOp(op string, h *topology.Host, err error) error {
	var ce *Error
	if errors.As(err, &ce) {
		c := *ce
		c.Op = op
		return &c
	}
	return &Error{Op: op, Host: h.Name, Addr: Addr(h), Err: err}
}

// errorText prints driver errors without the "Error 1045 (28000): " prefix,
// keeping the context wrapped around them ("read replica status: ...").
func errorText(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return strings.Replace(err.Error(), me.Error(), me.Message, 1)
	}
	return err.Error()
}

// MySQL error numbers mmm explains.
const (
	erAccessDenied      = 1045
	erHostNotPrivileged = 1130
	erHostBlocked       = 1129
	erTooManyConns      = 1040
	erSpecificAccess    = 1227
	erTableAccess       = 1142
	erDBAccessDenied    = 1044
)

// Cause explains a connection or query failure in one sentence with a fix,
// or "" when there is nothing to add to the error itself.
func Cause(err error, timeout time.Duration) string {
	if err == nil {
		return ""
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case erAccessDenied:
			return "check the admin user and password: defaults.admin or the host's admin block"
		case erHostNotPrivileged:
			return "the admin account may not log in from this machine's address; create it for this address on the server"
		case erHostBlocked:
			return "the server blocked this machine after connection errors; run FLUSH HOSTS on it"
		case erTooManyConns:
			return "the server has no free connections; raise max_connections or find the client holding them"
		case erSpecificAccess, erTableAccess, erDBAccessDenied:
			return "the admin account lacks a privilege mmm needs; grant it ALL PRIVILEGES ON *.* WITH GRANT OPTION"
		}
		return ""
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "nothing listens there; is the server running and is the port right?"
	}
	if errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return "no route to the address; check the address and the network"
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		if timeout > 0 {
			return fmt.Sprintf("no answer within %s; check that the host is up and the address and firewall are right", timeout)
		}
		return "no answer in time; check that the host is up and the address and firewall are right"
	}
	if strings.Contains(err.Error(), "invalid connection") || errors.Is(err, mysql.ErrInvalidConn) {
		return "the server closed the connection; check its error log"
	}
	return ""
}
