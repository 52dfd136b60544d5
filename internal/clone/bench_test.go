package clone_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/clone"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
)

// BenchmarkClone compares, on the same data and in one run, the logical clone
// and the physical one (mariabackup between the agents) with `mariadb-dump |
// mariadb` (single transaction, binary log off on the target). It needs the lab's bare servers: run it alone
// (`make bench-clone`: -run '^$'), not after the integration test.
//
// Both are reported in MB/s of the same logical bytes (the clone's count of
// copied values), so the numbers compare directly.
func BenchmarkClone(b *testing.B) {
	l := labtest.Get(b)
	c := l.Cluster()
	donor, target := c.Host("master1"), c.Host("slave3")
	d := adminDB(b, c, donor.Name)
	mustExec(b, d, "DROP DATABASE IF EXISTS bench")
	loadData(b, d, "bench", 20, 50_000)
	tdb := adminDB(b, c, target.Name)
	ctx := context.Background()

	verify := os.Getenv("MMM_BENCH_VERIFY") != ""
	workers, _ := strconv.Atoi(os.Getenv("MMM_BENCH_WORKERS")) // 0: the default (4)
	if workers <= 0 {
		workers = 4
	}
	var cloneMBps, insertMBps, dumpMBps, physicalMBps float64
	labtest.StartAgents(b)
	agents := &agent.Client{Cluster: c}
	for i := 0; i < b.N; i++ {
		res, err := clone.Clone(ctx, donor, target, clone.Options{Overwrite: true, SkipVerify: !verify, Workers: workers})
		if err != nil {
			b.Fatal(err)
		}
		cloneMBps = res.MBps()
		b.Logf("clone (LOAD DATA, %d workers, verify=%v): %d rows, %.1f MB in %s = %.1f MB/s", workers, verify, res.Rows, float64(res.Bytes)/1e6, res.Duration.Round(time.Millisecond), cloneMBps)

		ins, err := clone.Clone(ctx, donor, target, clone.Options{Overwrite: true, SkipVerify: !verify, Insert: true, Workers: workers})
		if err != nil {
			b.Fatal(err)
		}
		insertMBps = ins.MBps()
		b.Logf("clone (INSERT, %d workers, verify=%v): %.1f MB in %s = %.1f MB/s", workers, verify, float64(ins.Bytes)/1e6, ins.Duration.Round(time.Millisecond), insertMBps)

		mustExec(b, tdb, "SET SESSION sql_log_bin = 0", "DROP DATABASE IF EXISTS bench")
		t0 := time.Now()
		if err := dumpPipe(ctx, donor.Address, target.Address, donor.Admin.User, donor.Admin.Password.Value()); err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		dumpMBps = float64(res.Bytes) / 1e6 / took.Seconds()
		b.Logf("mariadb-dump | mariadb: %.1f MB in %s = %.1f MB/s", float64(res.Bytes)/1e6, took.Round(time.Millisecond), dumpMBps)

		// The physical method: mariabackup of master1 streamed by its agent
		// to slave3's, which restarts its server on the copy. Timed from the
		// request to the answer (restart and replication position included),
		// over the same logical bytes as the others.
		t0 = time.Now()
		pres, err := agents.Clone(ctx, target.Name, donor.Name, true, nil)
		if err != nil {
			b.Fatal(err)
		}
		took = time.Since(t0)
		physicalMBps = float64(res.Bytes) / 1e6 / took.Seconds()
		b.Logf("physical (mariabackup via the agents): %.1f MB of files streamed, %.1f MB of values in %s = %.1f MB/s", float64(pres.Bytes)/1e6, float64(res.Bytes)/1e6, took.Round(time.Millisecond), physicalMBps)
		mustExec(b, tdb, "SET SESSION sql_log_bin = 0", "DROP DATABASE IF EXISTS bench", "RESET MASTER", "SET GLOBAL gtid_slave_pos = ''")
	}
	b.ReportMetric(insertMBps, "clone_insert_MB/s")
	b.ReportMetric(cloneMBps, "clone_MB/s")
	b.ReportMetric(physicalMBps, "physical_MB/s")
	b.ReportMetric(dumpMBps, "dump_MB/s")
	b.ReportMetric(cloneMBps/dumpMBps, "speedup")
	b.ReportMetric(physicalMBps/dumpMBps, "physical_speedup")
}

// dumpPipe runs mariadb-dump | mariadb with the password in MYSQL_PWD, never
// on a command line.
func dumpPipe(ctx context.Context, from, to, user, password string) error {
	env := append(os.Environ(), "MYSQL_PWD="+password)
	dump := exec.CommandContext(ctx, "mariadb-dump", "-h", from, "-P", strconv.Itoa(3306), "-u", user,
		"--single-transaction", "--skip-lock-tables", "--routines", "--triggers", "--databases", "bench")
	load := exec.CommandContext(ctx, "mariadb", "-h", to, "-u", user, "--init-command=SET sql_log_bin = 0")
	dump.Env, load.Env = env, env
	pipe, err := dump.StdoutPipe()
	if err != nil {
		return err
	}
	load.Stdin = pipe
	load.Stderr, dump.Stderr = os.Stderr, os.Stderr
	if err := load.Start(); err != nil {
		return err
	}
	if err := dump.Run(); err != nil {
		return err
	}
	return load.Wait()
}
