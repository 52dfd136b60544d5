package apply

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-multierror"
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
}

// LockName is the named lock for a cluster (GET_LOCK names are at most 64 chars).
func LockName(cluster string) string {
	n := "mmm.apply." + cluster
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// AcquireLock takes the lock on every host in order, waiting up to wait for
// each. On failure it releases what it took.
func AcquireLock(ctx context.Context, dbs Databases, hosts []string, cluster string, wait time.Duration) (*Lock, error) {
	l := &Lock{name: LockName(cluster)}
	for _, h := range hosts {
		if err := l.take(ctx, dbs, h, wait); err != nil {
			l.Release()
			return nil, err
		}
	}
	return l, nil
}

func (l *Lock) take(ctx context.Context, dbs Databases, host string, wait time.Duration) error {
	db, err := dbs.DB(ctx, host)
	if err != nil {
		return fmt.Errorf("lock on %s: %w", host, err)
	}
	qctx, cancel := context.WithTimeout(ctx, wait+10*time.Second)
	defer cancel()
	c, err := db.Conn(qctx)
	if err != nil {
		return fmt.Errorf("lock on %s: %w", host, err)
	}
	var got sql.NullInt64
	secs := int(wait.Round(time.Second) / time.Second)
	if err := c.QueryRowContext(qctx, "SELECT GET_LOCK(?, ?)", l.name, secs).Scan(&got); err != nil {
		c.Close()
		return fmt.Errorf("lock on %s: %w", host, err)
	}
	if !got.Valid || got.Int64 != 1 {
		holder := lockHolder(qctx, c, l.name)
		c.Close()
		return fmt.Errorf("%w: lock %q on %s is held%s (waited %s); wait for it to finish or use --lock-timeout",
			ErrLocked, l.name, host, holder, wait)
	}
	l.conns = append(l.conns, c)
	return nil
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
	return merr.ErrorOrNil()
}
