package clone

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Progress counts what a clone has copied. Workers add to it concurrently;
// a Reporter reads it.
type Progress struct {
	start time.Time

	TablesTotal int64
	RowsTotal   int64 // estimate (information_schema.TABLES.TABLE_ROWS)
	BytesTotal  int64 // estimate (DATA_LENGTH): InnoDB pages, not the logical size

	tablesDone atomic.Int64
	rows       atomic.Int64
	bytes      atomic.Int64
}

// NewProgress starts counting a copy of about totalBytes (0 = unknown) whose
// tables and rows are not known: a physical one, which moves files.
func NewProgress(totalBytes int64) *Progress {
	return &Progress{start: time.Now(), BytesTotal: totalBytes}
}

// SetBytes records the bytes copied so far, and the estimate when it is known.
func (p *Progress) SetBytes(n, total int64) {
	p.bytes.Store(n)
	if total > 0 {
		p.BytesTotal = total
	}
}

// Snapshot is a consistent-enough read of a Progress for printing.
type Snapshot struct {
	Elapsed                 time.Duration
	TablesDone, TablesTotal int64
	Rows, RowsTotal         int64
	Bytes, BytesTotal       int64
}

func (p *Progress) snapshot(now time.Time) Snapshot {
	return Snapshot{
		Elapsed:    now.Sub(p.start),
		TablesDone: p.tablesDone.Load(), TablesTotal: p.TablesTotal,
		Rows: p.rows.Load(), RowsTotal: p.RowsTotal,
		Bytes: p.bytes.Load(), BytesTotal: p.BytesTotal,
	}
}

// Rate is the copy rate in bytes per second so far.
func (s Snapshot) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Bytes) / s.Elapsed.Seconds()
}

// Fraction is how much is done, by rows (the row estimate is closer to the
// logical size than DATA_LENGTH), in [0, 1].
func (s Snapshot) Fraction() float64 {
	if s.RowsTotal <= 0 {
		if s.TablesTotal > 0 {
			return clamp01(float64(s.TablesDone) / float64(s.TablesTotal))
		}
		if s.BytesTotal > 0 { // a physical copy: files, no rows
			return clamp01(float64(s.Bytes) / float64(s.BytesTotal))
		}
		return 0
	}
	return clamp01(float64(s.Rows) / float64(s.RowsTotal))
}

// ETA estimates the time left from the fraction done so far; 0 when unknown.
// Row estimates of InnoDB are off by tens of percent, so once the copy passes
// the estimate the ETA stays at zero rather than going negative.
func (s Snapshot) ETA() time.Duration {
	f := s.Fraction()
	if f <= 0 || s.Elapsed <= 0 {
		return 0
	}
	if f >= 1 {
		return 0
	}
	total := time.Duration(float64(s.Elapsed) / f)
	return (total - s.Elapsed).Round(time.Second)
}

func clamp01(f float64) float64 {
	switch {
	case f < 0:
		return 0
	case f > 1:
		return 1
	}
	return f
}

// Bar renders one line of width columns at most:
//
//	[#########.........]  42%  7/20 tables  420k/1.0M rows  40.0 MiB  12.3 MiB/s  ETA 5s
//
// A physical copy (no tables known) shows bytes of the estimate instead:
//
//	[#########.........]  42%  40.0 MiB/95.2 MiB  80.3 MiB/s  ETA 1s
func (s Snapshot) Bar(width int) string {
	stats := fmt.Sprintf(" %3.0f%%  %d/%d tables  %s/%s rows  %s  %s/s  ETA %s",
		s.Fraction()*100, s.TablesDone, s.TablesTotal, count(s.Rows), count(s.RowsTotal),
		bytesHuman(float64(s.Bytes)), bytesHuman(s.Rate()), s.ETA())
	if s.TablesTotal == 0 && s.RowsTotal == 0 {
		stats = fmt.Sprintf(" %3.0f%%  %s/%s  %s/s  ETA %s",
			s.Fraction()*100, bytesHuman(float64(s.Bytes)), bytesHuman(float64(s.BytesTotal)), bytesHuman(s.Rate()), s.ETA())
	}
	barWidth := width - len(stats) - 2
	if barWidth < 10 {
		barWidth = 10
	}
	filled := int(s.Fraction() * float64(barWidth))
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled) + "]" + stats
}

func count(n int64) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func bytesHuman(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

// Reporter shows a Progress while a clone runs: a bar redrawn in place on a
// terminal, a log line every Interval otherwise (a pipe, a journal, CI).
type Reporter struct {
	Out      io.Writer     // where the bar goes; nil = os.Stderr
	Log      *slog.Logger  // where log lines go; nil = slog.Default()
	Interval time.Duration // log line period; default 10s (the bar: 200ms)
	// Terminal forces bar (true) or log (false) mode; nil = ask the writer.
	Terminal *bool
}

// IsTerminal reports whether w is a terminal (a *os.File on a tty).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Start begins reporting p for the clone of target; the returned func stops
// it and prints the last state.
func (r *Reporter) Start(p *Progress, target string) func() { return r.start(p, target) }

func (r *Reporter) start(p *Progress, target string) func() {
	if r == nil {
		return func() {}
	}
	out := r.Out
	if out == nil {
		out = os.Stderr
	}
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	tty := IsTerminal(out)
	if r.Terminal != nil {
		tty = *r.Terminal
	}
	interval := r.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	if tty {
		interval = 200 * time.Millisecond
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	show := func(final bool) {
		s := p.snapshot(time.Now())
		if tty {
			end := "\r"
			if final {
				end = "\n"
			}
			fmt.Fprintf(out, "\r\x1b[K%s: %s%s", target, s.Bar(100), end)
			return
		}
		if s.TablesTotal == 0 && s.RowsTotal == 0 {
			log.Info("clone progress", "host", target, "bytes", s.Bytes, "bytes_estimate", s.BytesTotal,
				"rate", bytesHuman(s.Rate())+"/s", "eta", s.ETA().String())
			return
		}
		log.Info("clone progress", "host", target,
			"tables", fmt.Sprintf("%d/%d", s.TablesDone, s.TablesTotal),
			"rows", s.Rows, "rows_estimate", s.RowsTotal, "bytes", s.Bytes,
			"rate", bytesHuman(s.Rate())+"/s", "eta", s.ETA().String())
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				show(true)
				return
			case <-t.C:
				show(false)
			}
		}
	}()
	return func() { close(stop); wg.Wait() }
}

// nowFunc is time.Now; a variable so tests can fix the clock.
var nowFunc = time.Now
