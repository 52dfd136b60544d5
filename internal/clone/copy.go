package clone

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/flavor"
)

// loadSeq names the in-memory files of LOAD DATA LOCAL INFILE.
var loadSeq atomic.Int64

// chunks cuts every table into chunks, reading key ranges inside the
// snapshot. Big tables come first so that the workers finish together.
func (c *cloner) chunks(ctx context.Context, q *sql.Conn, tables []*Table) ([]Chunk, error) {
	sorted := append([]*Table(nil), tables...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].DataLength > sorted[j].DataLength })
	var out []Chunk
	for _, t := range sorted {
		if t.IntKey == "" || t.RowsEst < c.opts.ChunkRows {
			out = append(out, Chunk{Table: t, Whole: true, Last: true})
			continue
		}
		var lo, hi sql.NullInt64
		k := flavor.QuoteIdent(t.IntKey)
		if err := q.QueryRowContext(ctx, "SELECT MIN("+k+"), MAX("+k+") FROM "+t.QName()).Scan(&lo, &hi); err != nil {
			return nil, c.donorErr("read key range of "+t.String(), err)
		}
		if !lo.Valid {
			out = append(out, Chunk{Table: t, Whole: true, Last: true})
			continue
		}
		out = append(out, SplitRange(t, lo.Int64, hi.Int64, t.RowsEst, c.opts.ChunkRows)...)
	}
	return out, nil
}

// copyChunks runs the workers over the chunks; it returns the tables whose
// checksums differ. The first error stops every worker.
func (c *cloner) copyChunks(ctx context.Context, snap *snapshot, chunks []Chunk) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan Chunk)
	var (
		mu         sync.Mutex
		firstErr   error
		mismatched = map[string]bool{}
		wg         sync.WaitGroup
	)
	// A table is done when all its chunks are; chunks of one table may finish
	// in any order.
	left := map[*Table]int{}
	for _, ch := range chunks {
		left[ch.Table]++
	}
	for _, w := range snap.workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			buf := make([]byte, 0, c.opts.BatchBytes+64<<10)
			for ch := range work {
				var ok bool
				var err error
				buf, ok, err = c.copyChunk(ctx, w, ch, buf)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				if err == nil && !ok {
					mismatched[ch.Table.String()] = true
				}
				left[ch.Table]--
				tableDone := left[ch.Table] == 0
				mu.Unlock()
				if tableDone && err == nil && len(ch.Table.DeferredKeys) > 0 {
					if _, err := w.target.ExecContext(ctx, ch.Table.AddKeysStatement()); err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = c.targetErr("add keys of "+ch.Table.String(), err)
							cancel()
						}
						mu.Unlock()
					}
				}
				if tableDone {
					c.progress.tablesDone.Add(1)
				}
				if c.opts.OnProgress != nil && err == nil {
					c.opts.OnProgress(c.progress.snapshot(nowFunc()))
				}
			}
		}(w)
	}
feed:
	for _, ch := range chunks {
		select {
		case work <- ch:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("clone %s: %w", c.targetHost.Name, ctx.Err())
	}
	if firstErr != nil {
		return nil, firstErr
	}
	var out []string
	for t := range mismatched {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

// copyChunk streams one chunk from the donor's snapshot into the target in
// multi-row INSERTs, then compares checksums; ok is false when they differ.
func (c *cloner) copyChunk(ctx context.Context, w *worker, ch Chunk, buf []byte) ([]byte, bool, error) {
	t := ch.Table
	if len(t.Columns) == 0 {
		return buf, true, nil
	}
	cols := columnList(t.Columns)
	rows, err := w.donor.QueryContext(ctx, "SELECT "+cols+" FROM "+t.QName()+ch.Where())
	if err != nil {
		return buf, false, c.donorErr("read "+ch.String(), err)
	}
	defer rows.Close()
	var setCur func([]byte)
	// LOAD DATA LOCAL INFILE from memory is parsed much faster by the server
	// than INSERT; BIT columns (raw bytes in the text format would be read as
	// digits) and a server with local_infile off take multi-row INSERTs.
	load := c.loadData && len(t.BitColumns) == 0
	prefix := "INSERT INTO " + t.QName() + " (" + cols + ") VALUES "
	var loadStmt string
	if load {
		name := fmt.Sprintf("mmm-clone-%d", loadSeq.Add(1))
		loadStmt = "LOAD DATA LOCAL INFILE 'Reader::" + name + "' INTO TABLE " + t.QName() + " CHARACTER SET binary (" + cols + ")"
		var cur []byte
		mysql.RegisterReaderHandler(name, func() io.Reader { return bytes.NewReader(cur) })
		defer mysql.DeregisterReaderHandler(name)
		setCur = func(b []byte) { cur = b }
	}
	vals := make([]sql.RawBytes, len(t.Columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	bits := make([]bool, len(t.Columns))
	for i, col := range t.Columns {
		bits[i] = t.BitColumns[col]
	}
	var batchRows, batchBytes int64
	flush := func() error {
		if batchRows == 0 {
			return nil
		}
		var err error
		if load {
			setCur(buf)
			_, err = w.target.ExecContext(ctx, loadStmt)
		} else {
			_, err = w.target.ExecContext(ctx, string(buf))
		}
		if err != nil {
			return c.targetErr("write "+ch.String(), err)
		}
		c.progress.rows.Add(batchRows)
		c.progress.bytes.Add(batchBytes)
		batchRows, batchBytes = 0, 0
		buf = buf[:0]
		return nil
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return buf, false, c.donorErr("read "+ch.String(), err)
		}
		if load {
			for i, v := range vals {
				if i > 0 {
					buf = append(buf, '\t')
				}
				buf = appendField(buf, v, v == nil)
				batchBytes += int64(len(v))
			}
			buf = append(buf, '\n')
		} else {
			if batchRows == 0 {
				buf = append(buf[:0], prefix...)
			} else {
				buf = append(buf, ',')
			}
			buf = append(buf, '(')
			for i, v := range vals {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = appendValue(buf, v, v == nil, bits[i])
				batchBytes += int64(len(v))
			}
			buf = append(buf, ')')
		}
		batchRows++
		if len(buf) >= c.opts.BatchBytes {
			if err := flush(); err != nil {
				return buf, false, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return buf, false, c.donorErr("read "+ch.String(), err)
	}
	rows.Close()
	if err := flush(); err != nil {
		return buf, false, err
	}
	if c.opts.SkipVerify {
		return buf, true, nil
	}
	q := checksumQuery(ch)
	var a, b [3]int64
	if err := w.donor.QueryRowContext(ctx, q).Scan(&a[0], &a[1], &a[2]); err != nil {
		return buf, false, c.donorErr("checksum "+ch.String(), err)
	}
	if err := w.target.QueryRowContext(ctx, q).Scan(&b[0], &b[1], &b[2]); err != nil {
		return buf, false, c.targetErr("checksum "+ch.String(), err)
	}
	if a != b {
		c.log.Error("clone: checksum mismatch", "chunk", ch.String(), "donor_rows", a[0], "target_rows", b[0])
		return buf, false, nil
	}
	return buf, true, nil
}
