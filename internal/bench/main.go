// Command bench measures mmm on real lab clusters (`make bench`):
//
//   - the wall time of `mmm plan` on a bare and on a converged lab of 2, 4
//     and 8 hosts (-plan-runs runs each; the figure is the 4-host
//     median), and how it grows with the hosts;
//   - the wall time of `mmm apply --auto-approve` from bare servers to
//     converged on the 4-host lab, over -apply-runs fresh labs (lab up and
//     down between runs), plus one run each on the 2- and 8-host labs.
//
// Each timing runs the mmm binary (-mmm) as a user would, process start
// included. The labs are generated from examples/lab/mmm.hcl by adding or
// removing slaves, on 198.18.10.0/24 (2 hosts), 198.18.11.0/24 (4) and
// 198.18.12.0/24 (8), with `mmm agent` on every host as on real data nodes.
// With -watch it measures a running `mmm watch` instead (watch.go, `make
// bench-watch`), on 4, 8 and 16 hosts (198.18.11, .12 and .17).
// It needs what the lab needs: root and mariadbd. Ctrl-C tears the lab down.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/schema"
)

// The bench's labs: one /24 per size (README, "Lab").
var subnets = map[int]string{2: "198.18.10", 4: "198.18.11", 8: "198.18.12", 16: "198.18.17"}

func main() {
	mmm := flag.String("mmm", "bin/mmm", "the mmm binary to measure (make build)")
	example := flag.String("config", "examples/lab/mmm.hcl", "the 4-host lab topology the bench's labs are made from")
	planRuns := flag.Int("plan-runs", 10, "mmm plan runs per lab size and state")
	applyRuns := flag.Int("apply-runs", 5, "fresh 4-host labs to time mmm apply on")
	sizes := flag.String("sizes", "", "lab sizes (hosts): any of 2, 4, 8 for the plan timings (default all), 4, 8, 16 with -watch (default all)")
	watchBench := flag.Bool("watch", false, "measure a running mmm watch instead (make bench-watch): CPU, statements and connections per host, memory, round time")
	watchWindow := flag.Duration("watch-window", 60*time.Second, "how long the watch runs on each lab for -watch")
	verbose := flag.Bool("v", false, "log the labs' progress")
	flag.Parse()

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newBench(*mmm, *example)
	if err == nil {
		defer os.RemoveAll(b.dir)
		switch {
		case *watchBench && *sizes == "":
			err = b.runWatch(ctx, "4,8,16", *watchWindow)
		case *watchBench:
			err = b.runWatch(ctx, *sizes, *watchWindow)
		case *sizes == "":
			err = b.run(ctx, "2,4,8", *planRuns, *applyRuns)
		default:
			err = b.run(ctx, *sizes, *planRuns, *applyRuns)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	mmm     string // absolute path of the binary
	example string
	dir     string // generated topology files
	results []result
}

// result is one row of the table: a metric's samples.
type result struct {
	metric  string
	samples []time.Duration
}

func newBench(mmm, example string) (*bench, error) {
	if err := lab.Check(); err != nil {
		return nil, fmt.Errorf("the bench runs labs: %w", err)
	}
	abs, err := filepath.Abs(mmm)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("the mmm binary: %w (run make build, or pass -mmm)", err)
	}
	dir, err := os.MkdirTemp("", "mmm-bench")
	if err != nil {
		return nil, err
	}
	return &bench{mmm: abs, example: example, dir: dir}, nil
}

func (b *bench) run(ctx context.Context, sizeList string, planRuns, applyRuns int) error {
	var sizes []int
	for _, s := range strings.Split(sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || subnets[n] == "" {
			return fmt.Errorf("-sizes: %q is not one of 2, 4, 8", s)
		}
		sizes = append(sizes, n)
	}
	t0 := time.Now()
	for _, n := range sizes {
		if err := b.planOnLab(ctx, n, planRuns); err != nil {
			return err
		}
	}
	// The 4-host lab of the plan timings gave the first apply sample.
	done := 0
	if r := b.find(applyMetric(4)); r != nil {
		done = len(r.samples)
	}
	for i := done; i < applyRuns; i++ {
		if err := b.applyOnFreshLab(ctx, 4); err != nil {
			return err
		}
	}
	b.print(os.Stdout, time.Since(t0))
	return nil
}

func planMetric(state string, hosts int) string {
	return fmt.Sprintf("mmm plan, %s lab, %d hosts", state, hosts)
}

func applyMetric(hosts int) string {
	return fmt.Sprintf("mmm apply, bare -> converged, %d hosts", hosts)
}

// planOnLab times plan on a fresh lab of n hosts, then apply, then plan on
// the converged lab.
func (b *bench) planOnLab(ctx context.Context, n, runs int) error {
	return b.withLab(ctx, n, func(config string) error {
		for range runs {
			if err := b.time(ctx, planMetric("bare", n), 2, "plan", "--detailed-exitcode", "--config", config); err != nil {
				return err
			}
		}
		if err := b.time(ctx, applyMetric(n), 0, "apply", "--auto-approve", "--config", config); err != nil {
			return err
		}
		for range runs {
			if err := b.time(ctx, planMetric("converged", n), 0, "plan", "--detailed-exitcode", "--config", config); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *bench) applyOnFreshLab(ctx context.Context, n int) error {
	return b.withLab(ctx, n, func(config string) error {
		return b.time(ctx, applyMetric(n), 0, "apply", "--auto-approve", "--config", config)
	})
}

// withLab brings up a fresh lab of n hosts with an agent on each, runs f with
// its topology file, and tears the lab down, also when f fails.
func (b *bench) withLab(ctx context.Context, n int, f func(config string) error) (err error) {
	config := filepath.Join(b.dir, fmt.Sprintf("lab-%d.hcl", n))
	if err := writeLabTopology(b.example, config, subnets[n], n); err != nil {
		return err
	}
	loader := schema.NewLoader(schema.Options{RequireSecrets: true})
	c, diags := loader.Load(config)
	if diags.HasErrors() {
		var buf bytes.Buffer
		_ = loader.WriteDiagnostics(&buf, diags)
		return fmt.Errorf("the %d-host topology:\n%s", n, buf.String())
	}
	l, err := lab.New(c, lab.Options{})
	if err != nil {
		return err
	}
	// A lab left over from an interrupted bench would not be bare.
	if err := l.Down(ctx); err != nil {
		return fmt.Errorf("clear lab %s: %w", l.ID(), err)
	}
	defer func() {
		// Tear down even when ctx was cancelled (Ctrl-C).
		if downErr := l.Down(context.Background()); downErr != nil {
			err = errors.Join(err, fmt.Errorf("lab %s down: %w", l.ID(), downErr))
		}
	}()
	upCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	t0 := time.Now()
	if _, err := l.Up(upCtx); err != nil {
		return fmt.Errorf("lab %s up: %w", l.ID(), err)
	}
	if _, err := l.StartAgents(upCtx, func(host string) *exec.Cmd {
		return exec.Command(b.mmm, "agent", "--config", config, "--host", host)
	}); err != nil {
		return fmt.Errorf("lab %s agents: %w", l.ID(), err)
	}
	fmt.Fprintf(os.Stderr, "bench: lab %s up with %d hosts and agents in %s\n", l.ID(), n, time.Since(t0).Round(time.Millisecond))
	return f(config)
}

// time runs mmm with args, checks its exit code and records its wall time.
func (b *bench) time(ctx context.Context, metric string, wantExit int, args ...string) error {
	cmd := exec.CommandContext(ctx, b.mmm, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	took := time.Since(t0)
	code := 0
	if err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("mmm %s: %w", args[0], err)
		}
		code = exitErr.ExitCode()
	}
	if code != wantExit {
		// A timing of the wrong thing is worse than none.
		return fmt.Errorf("mmm %s exited with %d, want %d (%s):\n%s", strings.Join(args, " "), code, wantExit, metric, out.String())
	}
	r := b.find(metric)
	if r == nil {
		b.results = append(b.results, result{metric: metric})
		r = &b.results[len(b.results)-1]
	}
	r.samples = append(r.samples, took)
	return nil
}

func (b *bench) find(metric string) *result {
	for i := range b.results {
		if b.results[i].metric == metric {
			return &b.results[i]
		}
	}
	return nil
}

func (b *bench) print(w io.Writer, total time.Duration) {
	var order []string
	for _, state := range []string{"bare", "converged"} {
		for _, n := range []int{2, 4, 8} {
			order = append(order, planMetric(state, n))
		}
	}
	order = append(order, applyMetric(4), applyMetric(2), applyMetric(8))
	// Numbers right-aligned, the metric left-aligned: pad it to one width.
	width := len("metric")
	for _, r := range b.results {
		width = max(width, len(r.metric))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tn\tmin\tmedian\tmax\t\n", width, "metric")
	for _, metric := range order {
		r := b.find(metric)
		if r == nil {
			continue
		}
		lo, med, hi := stats(r.samples)
		fmt.Fprintf(tw, "%-*s\t%d\t%s\t%s\t%s\t\n", width, r.metric, len(r.samples), ms(lo), ms(med), ms(hi))
	}
	tw.Flush()

	// How plan grows with the hosts: each size's median against the smallest.
	for _, state := range []string{"bare", "converged"} {
		var parts []string
		var base time.Duration
		for _, n := range []int{2, 4, 8} {
			r := b.find(planMetric(state, n))
			if r == nil {
				continue
			}
			_, med, _ := stats(r.samples)
			if base == 0 {
				base = med
			}
			parts = append(parts, fmt.Sprintf("%d hosts %s (x%.2f)", n, ms(med), float64(med)/float64(base)))
		}
		if len(parts) > 1 {
			fmt.Fprintf(w, "mmm plan median, %s: %s\n", state, strings.Join(parts, ", "))
		}
	}
	fmt.Fprintf(w, "bench took %s\n", total.Round(time.Second))
}

// stats returns the min, median and max; the median of an even count is the
// mean of the middle two.
func stats(samples []time.Duration) (lo, med, hi time.Duration) {
	if len(samples) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	mid := len(s) / 2
	med = s[mid]
	if len(s)%2 == 0 {
		med = (s[mid-1] + s[mid]) / 2
	}
	return s[0], med, s[len(s)-1]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
