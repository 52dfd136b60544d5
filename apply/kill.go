package apply

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"

	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// killRunner carries out kill_clients on a writer being demoted: after its
// read_only step, it kills the client connections that could still hold an
// open transaction or retry a write on it. It spares replication (dump
// threads feeding the new writer, its own replica threads), the server's
// system threads, and connections of mmm's admin account (this apply's own
// sessions and its lock among them).
type killRunner struct {
	dbs     Databases
	cluster *topology.Cluster
}

func (k *killRunner) RunStep(ctx context.Context, s plan.Step) error {
	if s.Kind != plan.KindKillClients {
		return ErrNotHandled
	}
	h := k.cluster.Host(s.Host)
	if h == nil {
		return fmt.Errorf("host %q is not declared", s.Host)
	}
	db, err := k.dbs.DB(ctx, s.Host)
	if err != nil {
		return fmt.Errorf("connect %s: %w", s.Host, err)
	}
	rows, err := db.QueryContext(ctx,
		`SELECT ID, USER, COMMAND FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()`)
	if err != nil {
		return fmt.Errorf("list connections on %s: %w", s.Host, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var user, command sql.NullString
		if err := rows.Scan(&id, &user, &command); err != nil {
			rows.Close()
			return fmt.Errorf("list connections on %s: %w", s.Host, err)
		}
		if spared(user.String, command.String, h.Admin.User) {
			continue
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list connections on %s: %w", s.Host, err)
	}
	var merr *multierror.Error
	for _, id := range ids {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err != nil && !isNoSuchThread(err) {
			merr = multierror.Append(merr, fmt.Errorf("kill connection %d on %s: %w", id, s.Host, err))
		}
	}
	return merr.ErrorOrNil()
}

func spared(user, command, admin string) bool {
	switch {
	case user == admin:
		return true
	case user == "system user" || user == "event_scheduler" || user == "":
		return true
	case strings.HasPrefix(command, "Binlog Dump"): // a replica reading our binlog
		return true
	case command == "Daemon":
		return true
	}
	return false
}

// isNoSuchThread: the connection ended by itself meanwhile (error 1094).
func isNoSuchThread(err error) bool {
	return strings.Contains(err.Error(), "1094") || strings.Contains(strings.ToLower(err.Error()), "unknown thread id")
}
