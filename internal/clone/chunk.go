package clone

import (
	"fmt"
	"strings"

	"github.com/mysql-mmm/mmm/internal/flavor"
)

// Table is one base table of the donor.
type Table struct {
	Schema, Name string
	// Columns are the stored columns in order (generated ones are left out:
	// the target computes them). BitColumns marks BIT columns, which are
	// written as hex literals.
	Columns    []string
	BitColumns map[string]bool
	// IntKey is the single-column integer primary key, "" when the table has
	// none (no key, a composite or non-integer one): such a table is copied
	// as one chunk.
	IntKey     string
	RowsEst    int64 // TABLE_ROWS (an estimate for InnoDB)
	DataLength int64
	// DeferredKeys are the secondary keys left out of the CREATE TABLE and
	// added once the rows are in ("KEY `n` (`n`)"): building an index from
	// sorted data is much faster than maintaining it row by row.
	DeferredKeys []string
}

// SplitSecondaryKeys takes the secondary keys out of a SHOW CREATE TABLE
// statement of an InnoDB table. A table with foreign keys keeps them all
// (a constraint needs its index while rows arrive... and at creation).
func SplitSecondaryKeys(create string) (string, []string) {
	if strings.Contains(create, "FOREIGN KEY") || !strings.Contains(create, "ENGINE=InnoDB") {
		return create, nil
	}
	lines := strings.Split(create, "\n")
	if len(lines) < 3 {
		return create, nil
	}
	var body, keys []string
	end := len(lines) - 1
	for end > 0 && !strings.HasPrefix(lines[end], ")") {
		end--
	}
	for _, l := range lines[1:end] {
		t := strings.TrimSuffix(strings.TrimSpace(l), ",")
		if strings.HasPrefix(t, "KEY ") || strings.HasPrefix(t, "UNIQUE KEY ") || strings.HasPrefix(t, "FULLTEXT KEY ") || strings.HasPrefix(t, "SPATIAL KEY ") {
			keys = append(keys, t)
			continue
		}
		body = append(body, "  "+t)
	}
	if len(keys) == 0 || len(body) == 0 {
		return create, nil
	}
	out := lines[0] + "\n" + strings.Join(body, ",\n") + "\n" + strings.Join(lines[end:], "\n")
	return out, keys
}

// AddKeysStatement adds a table's deferred keys back.
func (t *Table) AddKeysStatement() string {
	adds := make([]string, len(t.DeferredKeys))
	for i, k := range t.DeferredKeys {
		adds[i] = "ADD " + k
	}
	return "ALTER TABLE " + t.QName() + " " + strings.Join(adds, ", ")
}

// QName is `schema`.`table`.
func (t *Table) QName() string { return flavor.QuoteIdent(t.Schema) + "." + flavor.QuoteIdent(t.Name) }

func (t *Table) String() string { return t.Schema + "." + t.Name }

// Chunk is a part of a table: the rows whose key lies in [Lo, Hi], or the
// whole table when Whole is set.
type Chunk struct {
	Table  *Table
	Whole  bool
	Lo, Hi int64
	// Last marks the table's last chunk, to count tables done.
	Last bool
}

// Where is the chunk's condition ("" for a whole table).
func (c Chunk) Where() string {
	if c.Whole {
		return ""
	}
	return fmt.Sprintf(" WHERE %s BETWEEN %d AND %d", flavor.QuoteIdent(c.Table.IntKey), c.Lo, c.Hi)
}

func (c Chunk) String() string {
	if c.Whole {
		return c.Table.String()
	}
	return fmt.Sprintf("%s [%d, %d]", c.Table, c.Lo, c.Hi)
}

// SplitRange cuts the key range [lo, hi] of a table of about rows rows into
// chunks of about chunkRows rows each, assuming the keys are spread evenly
// (auto-increment keys with few gaps are the common case; gaps only make
// chunks smaller). A table with fewer rows than chunkRows is one chunk.
func SplitRange(t *Table, lo, hi, rows, chunkRows int64) []Chunk {
	if chunkRows <= 0 {
		chunkRows = 1
	}
	n := rows / chunkRows
	if rows%chunkRows != 0 {
		n++
	}
	if n < 1 {
		n = 1
	}
	span := uint64(hi-lo) + 1 // may exceed int64 for the full BIGINT range
	if span == 0 {            // hi-lo+1 overflowed: the full uint64 range
		span = ^uint64(0)
	}
	if uint64(n) > span {
		n = int64(span)
	}
	step := span / uint64(n)
	if span%uint64(n) != 0 {
		step++
	}
	var out []Chunk
	for from := lo; ; {
		to := int64(uint64(from) + step - 1)
		if to < from || to >= hi { // overflow or past the end
			to = hi
		}
		out = append(out, Chunk{Table: t, Lo: from, Hi: to})
		if to == hi {
			break
		}
		from = to + 1
	}
	out[len(out)-1].Last = true
	return out
}

// columnList is `a`, `b`, `c`.
func columnList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = flavor.QuoteIdent(c)
	}
	return strings.Join(q, ", ")
}

// checksumQuery returns the query that sums up a chunk: row count, and the
// sum and XOR of a CRC32 per row over every copied column (NULL kept apart
// from the empty string by a NULL map). Run on the donor inside the snapshot
// and on the target after the copy, with the same session character set, it
// gives the same three numbers exactly when the rows are the same.
func checksumQuery(c Chunk) string {
	cols := make([]string, 0, len(c.Table.Columns)+1)
	nulls := make([]string, 0, len(c.Table.Columns))
	for _, col := range c.Table.Columns {
		q := flavor.QuoteIdent(col)
		if c.Table.BitColumns[col] {
			q = "HEX(" + q + ")"
		}
		cols = append(cols, q)
		nulls = append(nulls, "ISNULL("+flavor.QuoteIdent(col)+")")
	}
	cols = append(cols, "CONCAT("+strings.Join(nulls, ", ")+")")
	row := "CRC32(CONCAT_WS('#', " + strings.Join(cols, ", ") + "))"
	return "SELECT COUNT(*), COALESCE(SUM(" + row + "), 0), COALESCE(BIT_XOR(" + row + "), 0) FROM " +
		c.Table.QName() + c.Where()
}

// appendValue appends one value as a MySQL literal to buf: NULL, a hex
// literal for BIT columns, otherwise a quoted string with the bytes escaped
// as flavor.QuoteString does (the sessions use the binary character set, so
// the bytes travel unchanged whatever the column's character set).
func appendValue(buf []byte, v []byte, isNull, bit bool) []byte {
	if isNull {
		return append(buf, "NULL"...)
	}
	if bit {
		buf = append(buf, "X'"...)
		const hex = "0123456789ABCDEF"
		for _, b := range v {
			buf = append(buf, hex[b>>4], hex[b&15])
		}
		return append(buf, '\'')
	}
	return flavor.AppendQuoted(buf, v)
}

// appendField appends one value in LOAD DATA's default text format (fields
// ended by a tab, lines by a newline, escapes with a backslash, \N for NULL).
func appendField(buf []byte, v []byte, isNull bool) []byte {
	if isNull {
		return append(buf, '\\', 'N')
	}
	for _, b := range v {
		switch b {
		case 0:
			buf = append(buf, '\\', '0')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\\':
			buf = append(buf, '\\', '\\')
		default:
			buf = append(buf, b)
		}
	}
	return buf
}
