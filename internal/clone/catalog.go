package clone

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/mysql-mmm/mmm/internal/flavor"
)

// catalog is what the donor holds besides rows.
type catalog struct {
	schemas []string
	tables  []*Table
	// views, routines, triggers: (schema, name[, type]).
	views    [][2]string
	routines [][3]string // schema, name, PROCEDURE|FUNCTION
	triggers [][2]string
	skipped  []string // objects not copied (sequences, system-versioned tables), for the log
}

// notSystem is the condition on a schema column that leaves out the
// server's own schemas, the marker, and directories of the data directory
// that are no databases (MariaDB lists lost+found of a mount point as
// #mysql50#lost+found); see topology.IsServerSchema.
func notSystem(col string) string {
	return col + " NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys', '" + MarkerSchema + "') AND " + col + " NOT LIKE '#mysql50#%'"
}

func readCatalog(ctx context.Context, q *sql.Conn) (*catalog, error) {
	cat := &catalog{}
	var err error
	if cat.schemas, err = queryStrings(ctx, q, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE "+notSystem("SCHEMA_NAME")+" ORDER BY SCHEMA_NAME"); err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, COALESCE(TABLE_ROWS, 0), COALESCE(DATA_LENGTH, 0) FROM information_schema.TABLES WHERE "+notSystem("TABLE_SCHEMA")+" ORDER BY TABLE_SCHEMA, TABLE_NAME")
	if err != nil {
		return nil, err
	}
	byName := map[string]*Table{}
	for rows.Next() {
		var schema, name, typ string
		var rowsEst, dataLen int64
		if err := rows.Scan(&schema, &name, &typ, &rowsEst, &dataLen); err != nil {
			rows.Close()
			return nil, err
		}
		switch typ {
		case "BASE TABLE":
			t := &Table{Schema: schema, Name: name, RowsEst: rowsEst, DataLength: dataLen, BitColumns: map[string]bool{}}
			cat.tables = append(cat.tables, t)
			byName[schema+"."+name] = t
		case "VIEW":
			cat.views = append(cat.views, [2]string{schema, name})
		default:
			cat.skipped = append(cat.skipped, fmt.Sprintf("%s.%s (%s)", schema, name, strings.ToLower(typ)))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = q.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_KEY, IS_GENERATED FROM information_schema.COLUMNS WHERE "+notSystem("TABLE_SCHEMA")+" ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION")
	if err != nil {
		return nil, err
	}
	pri := map[*Table][]string{}
	priType := map[*Table]string{}
	for rows.Next() {
		var schema, table, col, typ, key, generated string
		if err := rows.Scan(&schema, &table, &col, &typ, &key, &generated); err != nil {
			rows.Close()
			return nil, err
		}
		t := byName[schema+"."+table]
		if t == nil {
			continue
		}
		if key == "PRI" {
			pri[t] = append(pri[t], col)
			priType[t] = strings.ToLower(typ)
		}
		if generated == "ALWAYS" {
			continue
		}
		t.Columns = append(t.Columns, col)
		if strings.EqualFold(typ, "bit") {
			t.BitColumns[col] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for t, cols := range pri {
		if len(cols) == 1 && isIntType(priType[t]) {
			t.IntKey = cols[0]
		}
	}

	rows, err = q.QueryContext(ctx, "SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE "+notSystem("ROUTINE_SCHEMA")+" ORDER BY 1, 2")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r [3]string
		if err := rows.Scan(&r[0], &r[1], &r[2]); err != nil {
			rows.Close()
			return nil, err
		}
		cat.routines = append(cat.routines, r)
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, "SELECT TRIGGER_SCHEMA, TRIGGER_NAME FROM information_schema.TRIGGERS WHERE "+notSystem("TRIGGER_SCHEMA")+" ORDER BY 1, 2")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r [2]string
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			rows.Close()
			return nil, err
		}
		cat.triggers = append(cat.triggers, r)
	}
	rows.Close()
	return cat, rows.Err()
}

func isIntType(t string) bool {
	switch t {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return true
	}
	return false
}

// showCreate runs a SHOW CREATE statement and returns its row by column name.
func showCreate(ctx context.Context, q *sql.Conn, stmt string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, stmt)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: no row", stmt)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i, c := range cols {
		out[c] = vals[i].String
	}
	return out, rows.Err()
}

func (c *cloner) createSchemas(ctx context.Context, meta, ddl *sql.Conn, cat *catalog) error {
	for _, s := range cat.schemas {
		row, err := showCreate(ctx, meta, "SHOW CREATE DATABASE "+flavor.QuoteIdent(s))
		if err != nil {
			return c.donorErr("read schema "+s, err)
		}
		if _, err := ddl.ExecContext(ctx, row["Create Database"]); err != nil {
			return c.targetErr("create schema "+s, err)
		}
	}
	for _, t := range cat.tables {
		row, err := showCreate(ctx, meta, "SHOW CREATE TABLE "+t.QName())
		if err != nil {
			return c.donorErr("read table "+t.String(), err)
		}
		if err := execAll(ctx, ddl, "USE "+flavor.QuoteIdent(t.Schema)); err != nil {
			return c.targetErr("create table "+t.String(), err)
		}
		create, keys := SplitSecondaryKeys(row["Create Table"])
		t.DeferredKeys = keys
		if _, err := ddl.ExecContext(ctx, create); err != nil {
			return c.targetErr("create table "+t.String(), err)
		}
	}
	if len(cat.skipped) > 0 {
		c.log.Warn("clone: objects not copied", "objects", strings.Join(cat.skipped, ", "))
	}
	return nil
}

// copyAccounts creates on the target every account of the donor it does not
// have, with the donor's password hash and grants. Accounts the target has
// (the admin, accounts declared in the topology, which apply manages) are
// left alone. The statements hold password hashes: errors name the account,
// never the statement.
func (c *cloner) copyAccounts(ctx context.Context, meta, ddl *sql.Conn) (int, error) {
	list := func(q *sql.Conn) ([][2]string, error) {
		rows, err := q.QueryContext(ctx, "SELECT User, Host FROM mysql.user WHERE is_role = 'N' AND User NOT IN ('', 'mariadb.sys', 'PUBLIC')")
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out [][2]string
		for rows.Next() {
			var a [2]string
			if err := rows.Scan(&a[0], &a[1]); err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		return out, rows.Err()
	}
	donorAccounts, err := list(meta)
	if err != nil {
		return 0, c.donorErr("list accounts", err)
	}
	targetAccounts, err := list(ddl)
	if err != nil {
		return 0, c.targetErr("list accounts", err)
	}
	have := map[[2]string]bool{}
	for _, a := range targetAccounts {
		have[a] = true
	}
	n := 0
	for _, a := range donorAccounts {
		if have[a] {
			continue
		}
		account := fmt.Sprintf("'%s'@'%s'", a[0], a[1])
		quoted := flavor.Account(a[0], a[1])
		create, err := queryStrings(ctx, meta, "SHOW CREATE USER "+quoted)
		if err != nil {
			return n, c.donorErr("read account "+account, err)
		}
		grants, err := queryStrings(ctx, meta, "SHOW GRANTS FOR "+quoted)
		if err != nil {
			return n, c.donorErr("read grants of "+account, err)
		}
		for _, stmt := range append(create, grants...) {
			if _, err := ddl.ExecContext(ctx, stmt); err != nil {
				return n, c.targetErr("create account "+account, err)
			}
		}
		n++
	}
	return n, nil
}

// copyObjects creates views, routines and triggers, each in its schema with
// the sql_mode it was created with. Views may use other views: they are
// created in rounds until none is left or a round makes no progress.
func (c *cloner) copyObjects(ctx context.Context, meta, ddl *sql.Conn, cat *catalog) (int, error) {
	n := 0
	// The session's own mode (pinned by internal/conn) comes back after each
	// object: an object's mode may hold NO_BACKSLASH_ESCAPES, under which the
	// statements mmm builds later on this session would not be quoted right.
	var pinned string
	if err := ddl.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&pinned); err != nil {
		return 0, c.targetErr("read sql_mode", err)
	}
	// inSchema runs stmt in schema; sqlMode "" keeps the session's mode.
	inSchema := func(schema, sqlMode, stmt string) error {
		if err := execAll(ctx, ddl, "USE "+flavor.QuoteIdent(schema)); err != nil {
			return err
		}
		if sqlMode == "" {
			_, err := ddl.ExecContext(ctx, stmt)
			return err
		}
		if _, err := ddl.ExecContext(ctx, "SET SESSION sql_mode = ?", sqlMode); err != nil {
			return err
		}
		_, err := ddl.ExecContext(ctx, stmt)
		if _, rerr := ddl.ExecContext(ctx, "SET SESSION sql_mode = ?", pinned); rerr != nil && err == nil {
			err = fmt.Errorf("restore sql_mode: %w", rerr)
		}
		return err
	}
	pending := cat.views
	for len(pending) > 0 {
		var next [][2]string
		var lastErr error
		for _, v := range pending {
			row, err := showCreate(ctx, meta, "SHOW CREATE VIEW "+flavor.QuoteIdent(v[0])+"."+flavor.QuoteIdent(v[1]))
			if err != nil {
				return n, c.donorErr("read view "+v[0]+"."+v[1], err)
			}
			if err := inSchema(v[0], "", row["Create View"]); err != nil {
				lastErr = fmt.Errorf("view %s.%s: %w", v[0], v[1], err)
				next = append(next, v)
				continue
			}
			n++
		}
		if len(next) == len(pending) {
			return n, c.targetErr("create views", lastErr)
		}
		pending = next
	}
	for _, r := range cat.routines {
		row, err := showCreate(ctx, meta, "SHOW CREATE "+r[2]+" "+flavor.QuoteIdent(r[0])+"."+flavor.QuoteIdent(r[1]))
		if err != nil {
			return n, c.donorErr("read routine "+r[0]+"."+r[1], err)
		}
		body := row["Create Procedure"]
		if r[2] == "FUNCTION" {
			body = row["Create Function"]
		}
		if body == "" {
			return n, c.donorErr("read routine "+r[0]+"."+r[1], fmt.Errorf("no definition (the admin account needs SELECT on mysql.proc)"))
		}
		if err := inSchema(r[0], row["sql_mode"], body); err != nil {
			return n, c.targetErr("create routine "+r[0]+"."+r[1], err)
		}
		n++
	}
	for _, tr := range cat.triggers {
		row, err := showCreate(ctx, meta, "SHOW CREATE TRIGGER "+flavor.QuoteIdent(tr[0])+"."+flavor.QuoteIdent(tr[1]))
		if err != nil {
			return n, c.donorErr("read trigger "+tr[0]+"."+tr[1], err)
		}
		if err := inSchema(tr[0], row["sql_mode"], row["SQL Original Statement"]); err != nil {
			return n, c.targetErr("create trigger "+tr[0]+"."+tr[1], err)
		}
		n++
	}
	return n, nil
}
