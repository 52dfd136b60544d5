package agent

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// mysqlDB is the host's own server, reached at its address and port as the
// file's admin account (the agent runs on that host).
type mysqlDB struct {
	flavor string
	addr   string
	cfg    *mysql.Config

	once sync.Once
	db   *sql.DB
	err  error
}

func newMySQL(c *topology.Cluster, h *topology.Host) *mysqlDB {
	cfg := mysql.NewConfig()
	cfg.User = h.Admin.User
	cfg.Passwd = h.Admin.Password.Value()
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
	cfg.Timeout = 3 * time.Second
	cfg.ReadTimeout = 5 * time.Second
	cfg.WriteTimeout = 5 * time.Second
	return &mysqlDB{flavor: c.Flavor, addr: cfg.Addr, cfg: cfg}
}

func (m *mysqlDB) open() (*sql.DB, error) {
	m.once.Do(func() {
		conn, err := mysql.NewConnector(m.cfg)
		if err != nil {
			m.err = err
			return
		}
		m.db = sql.OpenDB(conn)
		m.db.SetMaxOpenConns(2)
		m.db.SetConnMaxIdleTime(time.Minute)
	})
	return m.db, m.err
}

// SetReadOnly fences the server: no more writes from clients without SUPER
// (and, on MySQL, none at all with super_read_only).
func (m *mysqlDB) SetReadOnly(ctx context.Context) error {
	db, err := m.open()
	if err != nil {
		return err
	}
	stmt := "SET GLOBAL read_only = ON"
	if m.flavor == "mysql" {
		stmt = "SET GLOBAL super_read_only = ON" // implies read_only
	}
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s on %s: %w", stmt, m.addr, err)
	}
	return nil
}

func (m *mysqlDB) ReadOnly(ctx context.Context) (bool, error) {
	db, err := m.open()
	if err != nil {
		return false, err
	}
	var ro bool
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&ro); err != nil {
		return false, fmt.Errorf("read read_only on %s: %w", m.addr, err)
	}
	return ro, nil
}
