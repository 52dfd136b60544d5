package clone

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/gtid"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// Verification is what VerifyReplicas compared.
type Verification struct {
	Reference  string        // the host compared with
	Position   string        // the GTID position both were at
	Tables     int           // tables compared
	Mismatches []string      // schema.table whose checksums differ, or missing on the target
	Paused     time.Duration // how long the replicas' threads were stopped
}

// VerifyReplicas checks a physical copy the way the logical one checks its
// chunks, by table checksums, once the copy replicates: target and
// reference (the donor, or another healthy replica of the same source) are
// stopped at the same GTID position (the one behind is let run UNTIL the
// other's position), every base table of the user schemas is summed with
// CHECKSUM TABLE on both, and both resume, also on an error. MariaDB only.
// The reference lags for the time of the checksums; the writer is never
// stopped (it is no reference).
func VerifyReplicas(ctx context.Context, reference, target *topology.Host, catchUp time.Duration) (*Verification, error) {
	v := &Verification{Reference: reference.Name}
	ref, err := openDB(ctx, reference, 2)
	if err != nil {
		return nil, err
	}
	defer ref.Close()
	tgt, err := openDB(ctx, target, 2)
	if err != nil {
		return nil, err
	}
	defer tgt.Close()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("verify the copy of %s against %s: %s", target.Name, reference.Name, fmt.Sprintf(format, args...))
	}

	t0 := time.Now()
	for _, db := range []*sql.DB{tgt, ref} {
		if _, err := db.ExecContext(ctx, "STOP SLAVE"); err != nil {
			return nil, fail("stop replication: %v", err)
		}
	}
	defer func() {
		// Resume whatever happened (a fresh context: the caller's may be done).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, db := range []*sql.DB{tgt, ref} {
			_, _ = db.ExecContext(rctx, "START SLAVE")
		}
		v.Paused = time.Since(t0)
	}()
	pos := func(db *sql.DB) (string, gtid.Set, error) {
		var s string
		if err := db.QueryRowContext(ctx, "SELECT @@global.gtid_slave_pos").Scan(&s); err != nil {
			return "", gtid.Set{}, err
		}
		set, err := gtid.Parse(s)
		return s, set, err
	}
	ts, tset, err := pos(tgt)
	if err != nil {
		return nil, fail("read %s's position: %v", target.Name, err)
	}
	rs, rset, err := pos(ref)
	if err != nil {
		return nil, fail("read %s's position: %v", reference.Name, err)
	}
	switch {
	case tset.Equal(rset):
	case rset.Contains(tset):
		err = runUntil(ctx, tgt, rs, catchUp)
	case tset.Contains(rset):
		err = runUntil(ctx, ref, ts, catchUp)
	default:
		return nil, fail("their positions diverge (%s at %s, %s at %s)", target.Name, ts, reference.Name, rs)
	}
	if err != nil {
		return nil, fail("%v", err)
	}
	v.Position = ts
	if rset.Contains(tset) {
		v.Position = rs
	}

	tables, err := queryStrings(ctx, ref, "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND "+notSystem("TABLE_SCHEMA"))
	if err != nil {
		return nil, fail("list tables: %v", err)
	}
	sort.Strings(tables)
	sums := make([]map[string]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, db := range []*sql.DB{ref, tgt} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], errs[i] = checksumTables(ctx, db, tables)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fail("%v", err)
	}
	v.Tables = len(tables)
	for _, t := range tables {
		if sums[0][t] != sums[1][t] {
			v.Mismatches = append(v.Mismatches, t)
		}
	}
	return v, nil
}

// runUntil lets a stopped replica run up to pos and waits until it stopped there.
func runUntil(ctx context.Context, db *sql.DB, pos string, timeout time.Duration) error {
	// Not a prepared statement (START SLAVE takes no placeholders): the
	// position is inlined once it parsed as one (digits, dashes and commas).
	set, err := gtid.Parse(pos)
	if err != nil {
		return err
	}
	pos = set.String()
	if _, err := db.ExecContext(ctx, "START SLAVE UNTIL master_gtid_pos = '"+pos+"'"); err != nil {
		return fmt.Errorf("START SLAVE UNTIL master_gtid_pos = '%s': %w", pos, err)
	}
	var rc sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos, timeout.Seconds()).Scan(&rc); err != nil {
		return fmt.Errorf("wait for %s: %w", pos, err)
	}
	if !rc.Valid || rc.Int64 != 0 {
		return fmt.Errorf("did not reach %s within %s", pos, timeout)
	}
	return nil
}

// checksumTables runs CHECKSUM TABLE on each table; a missing table sums to "".
func checksumTables(ctx context.Context, db *sql.DB, tables []string) (map[string]string, error) {
	out := make(map[string]string, len(tables))
	for _, t := range tables {
		schema, name, _ := strings.Cut(t, ".")
		var tbl string
		var sum sql.NullString
		err := db.QueryRowContext(ctx, "CHECKSUM TABLE "+flavor.QuoteIdent(schema)+"."+flavor.QuoteIdent(name)).Scan(&tbl, &sum)
		if err != nil {
			return nil, fmt.Errorf("CHECKSUM TABLE %s: %w", t, err)
		}
		out[t] = sum.String
	}
	return out, nil
}

// MarkPartial makes a copy that failed its verification a partial clone, so
// the next apply wipes and redoes it: replication stopped and forgotten, the
// start position cleared, and the marker schema created (none of it
// binary-logged).
func MarkPartial(ctx context.Context, target *topology.Host) error {
	db, err := openDB(ctx, target, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return execAll(ctx, c, "SET SESSION sql_log_bin = 0", "STOP ALL SLAVES", "RESET SLAVE ALL",
		"SET GLOBAL gtid_slave_pos = ''", "CREATE DATABASE IF NOT EXISTS "+MarkerSchema)
}
