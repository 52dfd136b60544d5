package main

// `make bench-watch`: what a running `mmm watch` costs, per host, on labs of
// 4, 8 and 16 hosts (agents on every host, check_period 250ms as in the lab
// file):
//
//   - CPU of the watch process (utime+stime from /proc/PID/stat over the
//     window), per host;
//   - statements per second it sends each server: the servers' Questions
//     counter over the window, minus the same counter over an equal window
//     before the watch started (agents, replication, the bench's own reads);
//   - connections per second per server the same way (the greeting probe
//     opens one each period: the cheapest proof that a server greets);
//   - the watch's resident memory at the end (VmRSS);
//   - the round's p50 and p99 (mmm_watch_round_seconds on /metrics, a summary
//     over the last minute).

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/schema"
)

// watchRow is one lab size's figures.
type watchRow struct {
	hosts        int
	cpuPerHost   float64 // % of one core, per host
	cpuTotal     float64 // % of one core
	stmtsPerHost float64 // statements/s the watch sends each server (mean over hosts)
	stmtsMax     float64 // the busiest server
	connsPerHost float64 // connections/s per server
	rssMiB       float64
	roundP50     time.Duration
	roundP99     time.Duration
}

// clockTicks is USER_HZ: /proc/PID/stat counts CPU time in these. Linux
// fixes it at 100 on every architecture mmm ships for.
const clockTicks = 100

func (b *bench) runWatch(ctx context.Context, sizeList string, window time.Duration) error {
	var sizes []int
	for _, s := range strings.Split(sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || subnets[n] == "" {
			return fmt.Errorf("-sizes: %q is not one of 4, 8, 16", s)
		}
		sizes = append(sizes, n)
	}
	t0 := time.Now()
	var rows []watchRow
	for _, n := range sizes {
		err := b.withLab(ctx, n, func(config string) error {
			r, err := b.watchOnLab(ctx, config, n, window)
			if err != nil {
				return err
			}
			rows = append(rows, r)
			return nil
		})
		if err != nil {
			return err
		}
	}
	printWatch(os.Stdout, rows, window, time.Since(t0))
	return nil
}

// watchOnLab converges the lab, measures the baseline, then runs the watch
// for window and measures again.
func (b *bench) watchOnLab(ctx context.Context, config string, n int, window time.Duration) (watchRow, error) {
	row := watchRow{hosts: n}
	if err := b.time(ctx, applyMetric(n), 0, "apply", "--auto-approve", "--config", config); err != nil {
		return row, err
	}
	c, err := loadCluster(config)
	if err != nil {
		return row, err
	}
	dbs := map[string]*sql.DB{}
	defer func() {
		for _, db := range dbs {
			db.Close()
		}
	}()
	for _, h := range c.Hosts {
		db, err := conn.Open(ctx, h, conn.Timeouts{})
		if err != nil {
			return row, err
		}
		dbs[h.Name] = db
	}
	// Baseline: the same window's length without the watch, after a settle
	// (apply's last replication catch-up).
	sleep(ctx, 3*time.Second)
	base0, err := serverCounters(ctx, c, dbs)
	if err != nil {
		return row, err
	}
	baseWindow := window / 2
	sleep(ctx, baseWindow)
	base1, err := serverCounters(ctx, c, dbs)
	if err != nil {
		return row, err
	}

	state := filepath.Join(b.dir, fmt.Sprintf("watch-%d.state", n))
	logf, err := os.Create(filepath.Join(b.dir, fmt.Sprintf("watch-%d.log", n)))
	if err != nil {
		return row, err
	}
	defer logf.Close()
	cmd := exec.Command(b.mmm, "watch", "--config", config, "--state-file", state)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return row, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	// Warm-up: start-up inspects everything once and settles the leases.
	sleep(ctx, 5*time.Second)
	cpu0, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return row, err
	}
	w0, err := serverCounters(ctx, c, dbs)
	if err != nil {
		return row, err
	}
	start := time.Now()
	sleep(ctx, window)
	if ctx.Err() != nil {
		return row, ctx.Err()
	}
	cpu1, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return row, fmt.Errorf("the watch died during the window (log %s): %w", logf.Name(), err)
	}
	took := time.Since(start)
	w1, err := serverCounters(ctx, c, dbs)
	if err != nil {
		return row, err
	}
	row.cpuTotal = 100 * float64(cpu1-cpu0) / clockTicks / took.Seconds()
	row.cpuPerHost = row.cpuTotal / float64(n)
	var sum float64
	for _, h := range c.Hosts {
		baseQ := float64(base1[h.Name].questions-base0[h.Name].questions) / baseWindow.Seconds()
		baseC := float64(base1[h.Name].connections-base0[h.Name].connections) / baseWindow.Seconds()
		q := float64(w1[h.Name].questions-w0[h.Name].questions)/took.Seconds() - baseQ
		cn := float64(w1[h.Name].connections-w0[h.Name].connections)/took.Seconds() - baseC
		sum += q
		row.stmtsMax = max(row.stmtsMax, q)
		row.connsPerHost += cn / float64(n)
	}
	row.stmtsPerHost = sum / float64(n)
	if row.rssMiB, err = procRSS(cmd.Process.Pid); err != nil {
		return row, err
	}
	row.roundP50, row.roundP99, err = roundQuantiles(ctx, c.Monitor.Listen)
	if err != nil {
		return row, err
	}
	fmt.Fprintf(os.Stderr, "bench: watch on %d hosts: %.2f%% of a core, %.1f statements/s per host\n", n, row.cpuTotal, row.stmtsPerHost)
	return row, nil
}

func loadCluster(config string) (*topology.Cluster, error) {
	loader := schema.NewLoader(schema.Options{RequireSecrets: true})
	c, diags := loader.Load(config)
	if diags.HasErrors() {
		var buf bytes.Buffer
		_ = loader.WriteDiagnostics(&buf, diags)
		return nil, fmt.Errorf("%s:\n%s", config, buf.String())
	}
	return c, nil
}

type counters struct{ questions, connections int64 }

// serverCounters reads Questions and Connections on every server. The read
// itself is one statement on a kept connection, the same in the baseline
// and in the window, so the subtraction removes it.
func serverCounters(ctx context.Context, c *topology.Cluster, dbs map[string]*sql.DB) (map[string]counters, error) {
	out := map[string]counters{}
	for _, h := range c.Hosts {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rows, err := dbs[h.Name].QueryContext(qctx, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Connections')")
		if err != nil {
			cancel()
			return nil, fmt.Errorf("status of %s: %w", h.Name, err)
		}
		var cs counters
		for rows.Next() {
			var name string
			var v int64
			if err := rows.Scan(&name, &v); err != nil {
				rows.Close()
				cancel()
				return nil, err
			}
			switch strings.ToLower(name) {
			case "questions":
				cs.questions = v
			case "connections":
				cs.connections = v
			}
		}
		err = rows.Err()
		rows.Close()
		cancel()
		if err != nil {
			return nil, err
		}
		out[h.Name] = cs
	}
	return out, nil
}

// procCPU is the process's utime+stime in clock ticks.
func procCPU(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q %q", pid, fields[11], fields[12])
	}
	return ut + st, nil
}

func procRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// roundQuantiles reads mmm_watch_round_seconds' 0.5 and 0.99 quantiles.
func roundQuantiles(ctx context.Context, listen string) (p50, p99 time.Duration, err error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+listen+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("the watch's metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for q, dst := range map[string]*time.Duration{`quantile="0.5"`: &p50, `quantile="0.99"`: &p99} {
			if strings.HasPrefix(line, "mmm_watch_round_seconds{") && strings.Contains(line, q) {
				f := strings.Fields(line)
				v, perr := strconv.ParseFloat(f[len(f)-1], 64)
				if perr == nil {
					*dst = time.Duration(v * float64(time.Second))
				}
			}
		}
	}
	return p50, p99, sc.Err()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func printWatch(w io.Writer, rows []watchRow, window, total time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "hosts\tCPU/host %%\tCPU total %%\tstmts/s/host\tstmts/s max\tconns/s/host\tRSS MiB\tround p50\tround p99\t\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%s\t\n", r.hosts, r.cpuPerHost, r.cpuTotal, r.stmtsPerHost, r.stmtsMax,
			r.connsPerHost, r.rssMiB, roundDur(r.roundP50), roundDur(r.roundP99))
	}
	tw.Flush()
	fmt.Fprintf(w, "watch window %s per lab (check_period from the lab file); bench took %s\n", window, total.Round(time.Second))
}

func roundDur(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(10 * time.Microsecond).String()
}
