package apply

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/mysql-mmm/mmm/internal/conn"
)

// ErrLocked means another mmm apply holds the cluster lock.
var ErrLocked = errors.New("another mmm apply is running on this cluster")

// Lock is the cluster-wide apply lock: a named MySQL lock (GET_LOCK) held on a
// dedicated connection to every reachable host. Config management may run
// `mmm apply` from several machines at once; a lock in the servers is the one
// place they all see. Hosts are locked in name order, so two appliers
// cannot deadlock, and any two appliers that share one reachable host
// serialise. The lock dies with its connections, so a killed apply never
// leaves it behind.
type Lock struct {
	name  string
	conns []*sql.Conn
	pool  *Pool // closed by Release when the lock opened it (Applier.LockCluster)
}

// LockName is the named lock for a cluster (GET_LOCK names are at most 64 chars).
func LockName(cluster string) string {
	n := "mmm.apply." + cluster
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// Waiting is told, once per host, that another apply holds the lock there
// and this one waits for it (up to wait); holder says who holds it, or "".
type Waiting func(host, holder string, wait time.Duration)

// AcquireLock takes the lock on every host in order, waiting up to wait in
// all. waiting (may be nil) is told when a host's lock is held by someone
// else, before the wait. On failure it releases what it took. The
// connections of dbs must allow a statement to run for wait: GET_LOCK
// blocks while it waits (LockTimeouts).
func AcquireLock(ctx context.Context, dbs Databases, hosts []string, cluster string, wait time.Duration, waiting Waiting) (*Lock, error) {
	l := &Lock{name: LockName(cluster)}
	deadline := time.Now().Add(wait)
	for _, h := range hosts {
		if err := l.take(ctx, dbs, h, wait, time.Until(deadline), waiting); err != nil {
			l.Release()
			return nil, err
		}
	}
	return l, nil
}

// LockTimeouts are the timeouts of the lock's connections: the statement
// timeout covers a GET_LOCK that waits up to wait.
func LockTimeouts(t conn.Timeouts, wait time.Duration) conn.Timeouts {
	t = t.WithDefaults()
	t.Query = wait + t.Query
	return t
}

func (l *Lock) take(ctx context.Context, dbs Databases, host string, wait, left time.Duration, waiting Waiting) error {
	db, err := dbs.DB(ctx, host)
	if err != nil {
		return fmt.Errorf("lock on %s: %w", host, err)
	}
	qctx, cancel := context.WithTimeout(ctx, max(left, 0)+10*time.Second)
	defer cancel()
	c, err := db.Conn(qctx)
	if err != nil {
		return fmt.Errorf("lock on %s: %w", host, err)
	}
	// Try without waiting first, so that a wait can be announced: a queued
	// apply that says nothing for a minute looks hung.
	got, err := getLock(qctx, c, l.name, 0)
	if err == nil && !got && left > 0 {
		if waiting != nil {
			waiting(host, lockHolder(qctx, c, l.name), left.Round(time.Second))
		}
		got, err = getLock(qctx, c, l.name, left)
	}
	if err != nil {
		c.Close()
		return fmt.Errorf("lock on %s: %w", host, err)
	}
	if !got {
		holder := lockHolder(qctx, c, l.name)
		c.Close()
		return fmt.Errorf("%w: lock %q on %s is held%s (waited %s); wait for it to finish or raise --lock-timeout",
			ErrLocked, l.name, host, holder, wait)
	}
	l.conns = append(l.conns, c)
	return nil
}

// getLock runs GET_LOCK with a timeout in seconds (fractions allowed).
func getLock(ctx context.Context, c *sql.Conn, name string, wait time.Duration) (bool, error) {
	var got sql.NullInt64
	if err := c.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, wait.Seconds()).Scan(&got); err != nil {
		return false, err
	}
	return got.Valid && got.Int64 == 1, nil
}

// lockHolder describes who holds the lock, for the error message.
func lockHolder(ctx context.Context, c *sql.Conn, name string) string {
	var id sql.NullInt64
	if err := c.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", name).Scan(&id); err != nil || !id.Valid {
		return ""
	}
	var from sql.NullString
	_ = c.QueryRowContext(ctx, "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = ?", id.Int64).Scan(&from)
	if from.Valid {
		return fmt.Sprintf(" by connection %d from %s", id.Int64, from.String)
	}
	return fmt.Sprintf(" by connection %d", id.Int64)
}

// Release frees the lock everywhere.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	var merr *multierror.Error
	for _, c := range l.conns {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := c.ExecContext(ctx, "DO RELEASE_LOCK(?)", l.name); err != nil {
			merr = multierror.Append(merr, err)
		}
		cancel()
		c.Close()
	}
	l.conns = nil
	if l.pool != nil {
		l.pool.Close()
	}
	return merr.ErrorOrNil()
}
