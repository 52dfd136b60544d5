package clone

// The physical method on MariaDB: mariabackup, streamed between the agents of
// the donor and the target (see LocalServer). The logical method reads every
// row through SQL; this one copies the donor's data files while it serves
// (mariabackup's BACKUP STAGE locks hold commits for a moment only, at the
// end), so it runs at disk and network speed and the target gets exactly the
// donor's pages, accounts included.
//
// On the target, the stream is extracted and prepared in <datadir>/.mmm-clone
// while the target's server keeps running (inside the data directory: the
// same file system, also when it is a mount point); only then is the server
// stopped, its files moved into <datadir>/.mmm-old and the copy's into the
// data directory, and the server started on the copy. An interrupted copy
// therefore leaves the target as it was. The swap is journalled in the
// agent's state dir, so an agent killed in the middle puts the server's own
// files back and starts it when it starts again (Recover).

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mysql-mmm/mmm/internal/gtid"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// LocalServer is the database server on the agent's own host, as the physical
// method needs it: how to reach it (Host: address, port, admin), how to stop
// and start it, and where its option file is.
type LocalServer struct {
	Host *topology.Host
	// DefaultsFile is the server's option file, included in the one
	// mariabackup reads (so it finds the same datadir and InnoDB settings);
	// "" = mariabackup reads the standard option files (/etc/mysql/my.cnf).
	DefaultsFile string
	// StartCommand and StopCommand are shell commands (sh -c) that start and
	// stop the server and return when done, e.g. "systemctl start mariadb".
	StartCommand, StopCommand string
	// StateDir holds the swap journal and mariabackup's option file.
	StateDir string
	Log      *slog.Logger
	// StartTimeout bounds the wait for the server to answer SQL after the
	// start command (crash recovery of a big copy can take minutes);
	// default 10 minutes.
	StartTimeout time.Duration
}

// PhysicalEvent is one progress report of a physical restore.
type PhysicalEvent struct {
	Phase string `json:"phase"` // copy, prepare, restart, finish
	Bytes int64  `json:"bytes"` // bytes of the stream received so far
	Total int64  `json:"total"` // the donor's estimate of the stream size; 0 = unknown
}

// PhysicalResult is what a physical restore did.
type PhysicalResult struct {
	Donor        string        `json:"donor"`
	GTIDPosition string        `json:"gtid_position"` // the target's gtid_slave_pos after the restore
	Bytes        int64         `json:"bytes"`
	Duration     time.Duration `json:"duration"`
}

// BackupSource opens the donor's backup stream; total is its estimated size
// (0 = unknown). The body must return an error instead of io.EOF when the
// donor's mariabackup failed, so a truncated copy is never taken for a whole one.
type BackupSource func(ctx context.Context) (body io.ReadCloser, total int64, err error)

// journal is the swap in progress, written before the server is stopped.
type journal struct {
	Datadir string    `json:"datadir"`
	Work    string    `json:"work"` // the prepared copy
	Old     string    `json:"old"`  // where the server's own data goes
	Started time.Time `json:"started"`
	// Phase is how far the swap got: "out" while the server's own files
	// move into Old, "in" while the copy's move into the data directory.
	Phase string `json:"phase"`
}

// The swap's directories, inside the data directory; they and lost+found
// stay where they are when the data directory's entries move.
const (
	workDir   = ".mmm-clone"
	oldDir    = ".mmm-old"
	failedDir = ".mmm-failed"
)

func swapKeeps(name string) bool {
	return name == workDir || name == oldDir || name == failedDir || name == "lost+found"
}

// moveEntries moves the entries of from (but those swapKeeps names) into to.
func moveEntries(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if swapKeeps(e.Name()) {
			continue
		}
		if err := os.Rename(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

const journalFile = "clone-swap.json"

func (s *LocalServer) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// serverInfo is what both sides read from the local server first.
type serverInfo struct {
	version    string
	datadir    string
	innodbDirs map[string]string // variable -> value, for the InnoDB files
	userSchema []string
	partial    bool
	replicates bool
}

func (s *LocalServer) inspect(ctx context.Context, db *sql.DB) (*serverInfo, error) {
	in := &serverInfo{innodbDirs: map[string]string{}}
	var logDir, dataHome, undoDir sql.NullString
	err := db.QueryRowContext(ctx, "SELECT @@version, @@datadir, @@innodb_log_group_home_dir, @@innodb_data_home_dir, @@innodb_undo_directory").
		Scan(&in.version, &in.datadir, &logDir, &dataHome, &undoDir)
	if err != nil {
		return nil, fmt.Errorf("read server settings: %w", err)
	}
	if !strings.Contains(strings.ToLower(in.version), "mariadb") {
		return nil, fmt.Errorf("server %s is not MariaDB (%s): the physical method here is mariabackup", s.Host.Name, in.version)
	}
	in.datadir = filepath.Clean(in.datadir)
	in.innodbDirs["innodb_log_group_home_dir"] = logDir.String
	in.innodbDirs["innodb_data_home_dir"] = dataHome.String
	in.innodbDirs["innodb_undo_directory"] = undoDir.String
	schemas, err := queryStrings(ctx, db, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	for _, sc := range schemas {
		if sc == MarkerSchema {
			in.partial = true
		} else if !notCopied(sc) {
			in.userSchema = append(in.userSchema, sc)
		}
	}
	var running int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_RUNNING' AND VARIABLE_VALUE = 'ON'").Scan(&running); err != nil {
		return nil, fmt.Errorf("read replica state: %w", err)
	}
	in.replicates = running > 0
	return in, nil
}

// outsideDatadir names the InnoDB settings that put files outside the data
// directory: the swap moves the data directory only.
func (in *serverInfo) outsideDatadir() []string {
	var out []string
	for name, v := range in.innodbDirs {
		if v == "" || v == "./" || v == "." {
			continue
		}
		if !filepath.IsAbs(v) || filepath.Clean(v) == in.datadir || strings.HasPrefix(filepath.Clean(v), in.datadir+string(filepath.Separator)) {
			continue
		}
		out = append(out, name+" = "+v)
	}
	return out
}

func (s *LocalServer) open(ctx context.Context) (*sql.DB, error) {
	return openDB(ctx, s.Host, 2)
}

// BackupEstimate is the size of the donor's data files (what the stream will
// carry, roughly): every file under the data directory but the binary and
// relay logs.
func (s *LocalServer) BackupEstimate(ctx context.Context) (int64, error) {
	db, err := s.open(ctx)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var datadir string
	var binlog, relay sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT @@datadir, @@log_bin_basename, @@relay_log_basename").Scan(&datadir, &binlog, &relay); err != nil {
		return 0, fmt.Errorf("read datadir on %s: %w", s.Host.Name, err)
	}
	// Logs mariabackup does not copy: binary and relay logs (the relay log's
	// default name has no basename variable), the redo log and the temporary
	// tablespace.
	skip := func(path string) bool {
		for _, base := range []string{binlog.String, relay.String} {
			if base != "" && strings.HasPrefix(path, base+".") {
				return true
			}
		}
		name := filepath.Base(path)
		return strings.Contains(name, "-relay-bin.") || strings.HasPrefix(name, "ib_logfile") || strings.HasPrefix(name, "ibtmp")
	}
	var total int64
	err = filepath.WalkDir(datadir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a table dropped while walking
		}
		if d.Type().IsRegular() && !skip(path) {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total, err
}

// Backup streams a mariabackup of the local server (xbstream format) to w.
// The server keeps serving; mariabackup holds BACKUP STAGE BLOCK_COMMIT for
// a moment at the end, where it records the binary log position and GTID.
func (s *LocalServer) Backup(ctx context.Context, w io.Writer) error {
	db, err := s.open(ctx)
	if err != nil {
		return err
	}
	in, err := s.inspect(ctx, db)
	db.Close()
	if err != nil {
		return fmt.Errorf("backup of %s: %w", s.Host.Name, err)
	}
	defaults, cleanup, err := s.writeDefaults()
	if err != nil {
		return fmt.Errorf("backup of %s: %w", s.Host.Name, err)
	}
	defer cleanup()
	cmd := exec.CommandContext(ctx, "mariabackup", "--defaults-file="+defaults,
		"--backup", "--stream=xbstream", "--datadir="+in.datadir,
		"--target-dir="+filepath.Join(s.stateDir(), "backup-tmp"), "--parallel=4")
	cmd.Stdout = w
	stderr := newTail(40)
	cmd.Stderr = stderr
	cmd.WaitDelay = 10 * time.Second
	s.log().Info("backup started", "datadir", in.datadir)
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("backup of %s interrupted: %w", s.Host.Name, ctx.Err())
		}
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("backup of %s: mariabackup is not installed there (Debian: apt-get install mariadb-backup)", s.Host.Name)
		}
		return fmt.Errorf("mariabackup --backup on %s: %w; its last lines:\n%s", s.Host.Name, err, stderr.String())
	}
	s.log().Info("backup streamed", "took", time.Since(t0).Round(time.Millisecond).String())
	return nil
}

func (s *LocalServer) stateDir() string {
	if s.StateDir == "" {
		return os.TempDir()
	}
	return s.StateDir
}

// optionDir is the private directory of mariabackup's option files (they
// hold the admin password).
const optionDir = "mariabackup-options"

// writeDefaults writes mariabackup's option file: the server's own (by
// !include) plus the admin account, so the password is on no command line.
// It lives in a directory only the agent's user can enter, is readable by
// its owner only and removed by cleanup; a file an agent killed during a
// backup left behind goes at the next start (Recover).
func (s *LocalServer) writeDefaults() (string, func(), error) {
	dir, err := s.privateOptionDir()
	if err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp(dir, "mariabackup-*.cnf") // mode 0600
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.Remove(f.Name()) }
	var b strings.Builder
	include := s.DefaultsFile
	if include == "" {
		if _, err := os.Stat("/etc/mysql/my.cnf"); err == nil {
			include = "/etc/mysql/my.cnf"
		}
	}
	if include != "" {
		fmt.Fprintf(&b, "!include %s\n", include)
	}
	fmt.Fprintf(&b, "[mariabackup]\nuser = %s\npassword = %s\nhost = %s\nport = %d\n",
		optionValue(s.Host.Admin.User), optionValue(s.Host.Admin.Password.Value()), s.Host.Address, s.Host.Port)
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("write mariabackup option file: %w", err)
	}
	return f.Name(), cleanup, nil
}

// privateOptionDir makes (or checks) the option files' directory: a
// directory of this user, mode 0700, not a symbolic link; with the default
// state dir it sits in the shared temporary directory, where someone else
// may have made it first.
func (s *LocalServer) privateOptionDir() (string, error) {
	dir := filepath.Join(s.stateDir(), optionDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || (ok && int(st.Uid) != os.Geteuid()) {
		return "", fmt.Errorf("%s is not a directory of this user: remove it, or set the agent's state dir", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// removeStaleOptionFiles removes the option files an agent killed during a
// backup left behind (Recover, at the agent's start, before any backup).
func (s *LocalServer) removeStaleOptionFiles() {
	old, _ := filepath.Glob(filepath.Join(s.stateDir(), optionDir, "mariabackup-*.cnf"))
	// Files of agents before the private directory.
	top, _ := filepath.Glob(filepath.Join(s.stateDir(), "mariabackup-*.cnf"))
	for _, f := range append(old, top...) {
		if err := os.Remove(f); err == nil {
			s.log().Info("removed a mariabackup option file an earlier agent left", "file", f)
		}
	}
}

// optionValue quotes a value for a MariaDB option file: inside double quotes,
// backslash escapes \\ and \" (and \n etc.) are understood.
func optionValue(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(v) + `"`
}

// Restore makes the local server a copy of donor's: see the file comment.
// overwrite allows replacing user data that is not a partial clone (apply
// --allow-unsafe). progress, when set, is called about twice a second while
// the stream arrives and once per later phase.
func (s *LocalServer) Restore(ctx context.Context, donor string, src BackupSource, overwrite bool, progress func(PhysicalEvent)) (*PhysicalResult, error) {
	t0 := time.Now()
	if progress == nil {
		progress = func(PhysicalEvent) {}
	}
	log := s.log().With("donor", donor)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("clone %s from %s: %s", s.Host.Name, donor, fmt.Sprintf(format, args...))
	}
	if s.StartCommand == "" || s.StopCommand == "" {
		return nil, fail("the agent has no command to stop and start the server (mmm agent --server-start/--server-stop)")
	}
	db, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	in, err := s.inspect(ctx, db)
	db.Close()
	if err != nil {
		return nil, fail("%v", err)
	}
	if len(in.userSchema) > 0 && !in.partial && !overwrite {
		return nil, fail("%v (%s) and is not a partial clone; it is not overwritten without --allow-unsafe", ErrTargetNotEmpty, strings.Join(in.userSchema, ", "))
	}
	if in.replicates {
		return nil, fail("it replicates; stop its replica before cloning onto it")
	}
	if out := in.outsideDatadir(); len(out) > 0 {
		return nil, fail("InnoDB files outside the data directory (%s): the physical method swaps the data directory only; use method = \"logical\"", strings.Join(out, ", "))
	}
	if _, err := os.Stat(filepath.Join(s.stateDir(), journalFile)); err == nil {
		return nil, fail("a swap journal from an interrupted clone is in %s: restart the agent to recover it first", s.stateDir())
	}
	st, err := os.Stat(in.datadir)
	if err != nil {
		return nil, fail("the data directory %s is not readable by the agent: %v", in.datadir, err)
	}
	owner, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fail("cannot read the owner of %s", in.datadir)
	}
	// Inside the data directory: the same file system (often a mount point
	// of its own, which cannot be renamed), and no write access to its
	// parent needed. The server lists them as #mysql50# names, which are no
	// user schemas (topology.IsServerSchema).
	work, old := filepath.Join(in.datadir, workDir), filepath.Join(in.datadir, oldDir)
	for _, dir := range []string{work, old, filepath.Join(in.datadir, failedDir)} {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fail("remove the leftover %s: %v", dir, err)
		}
	}
	if err := os.Mkdir(work, st.Mode().Perm()); err != nil {
		return nil, fail("create %s: %v", work, err)
	}
	swapped := false
	defer func() {
		if !swapped {
			os.RemoveAll(work)
		}
	}()

	// 1. Receive and extract, the server still running.
	n, err := s.receive(ctx, work, src, progress)
	if err != nil {
		return nil, fail("%v", err)
	}
	log.Info("clone: stream received", "bytes", n, "took", time.Since(t0).Round(time.Millisecond).String())

	// 2. Prepare: apply the redo log the backup carried, so the files are consistent.
	progress(PhysicalEvent{Phase: "prepare", Bytes: n})
	prep := exec.CommandContext(ctx, "mariabackup", "--prepare", "--target-dir="+work, "--use-memory=256M")
	prepOut := newTail(30)
	prep.Stdout, prep.Stderr = prepOut, prepOut
	if err := prep.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fail("mariabackup is not installed on %s (Debian: apt-get install mariadb-backup)", s.Host.Name)
		}
		return nil, fail("mariabackup --prepare: %v; its last lines:\n%s", err, prepOut.String())
	}
	pos, err := readBinlogInfo(work)
	if err != nil {
		return nil, fail("%v", err)
	}
	// The marker: until the replication position is set, the copy is partial.
	if err := os.MkdirAll(filepath.Join(work, MarkerSchema), 0o750); err != nil {
		return nil, fail("create the marker: %v", err)
	}
	if err := chownTree(work, int(owner.Uid), int(owner.Gid)); err != nil {
		return nil, fail("give the copy to the data directory's owner: %v", err)
	}

	// 3. Swap. From here on the server must come back whatever happens, so the
	// caller's cancellation no longer applies (the journal covers a kill).
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.startTimeout()+5*time.Minute)
	defer cancel()
	progress(PhysicalEvent{Phase: "restart", Bytes: n})
	j := journal{Datadir: in.datadir, Work: work, Old: old, Started: time.Now(), Phase: "out"}
	if err := s.writeJournal(&j); err != nil {
		return nil, fail("%v", err)
	}
	swapped = true
	if err := s.swap(sctx, &j); err != nil {
		if _, statErr := os.Stat(old); errors.Is(statErr, os.ErrNotExist) {
			swapped = false // nothing moved: the copy goes
		}
		return nil, fail("%v", err)
	}
	if err := s.removeJournal(); err != nil {
		log.Warn("clone: remove the swap journal", "err", err)
	}

	// 4. Replication starts where the copy ends.
	progress(PhysicalEvent{Phase: "finish", Bytes: n})
	final, err := s.finish(sctx, pos)
	if err != nil {
		return nil, fail("%v", err)
	}
	if err := os.RemoveAll(old); err != nil {
		log.Warn("clone: remove the server's old data", "dir", old, "err", err)
	}
	res := &PhysicalResult{Donor: donor, GTIDPosition: final, Bytes: n, Duration: time.Since(t0)}
	log.Info("clone done", "method", "physical", "bytes", n, "gtid_position", final, "took", res.Duration.Round(time.Millisecond).String())
	return res, nil
}

func (s *LocalServer) startTimeout() time.Duration {
	if s.StartTimeout > 0 {
		return s.StartTimeout
	}
	return 10 * time.Minute
}

// receive pipes the donor's stream into mbstream -x and counts it.
func (s *LocalServer) receive(ctx context.Context, dir string, src BackupSource, progress func(PhysicalEvent)) (int64, error) {
	body, total, err := src(ctx)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	cmd := exec.CommandContext(ctx, "mbstream", "-x", "-C", dir, "--parallel=4")
	out := newTail(20)
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start mbstream on %s (Debian: apt-get install mariadb-backup): %w", s.Host.Name, err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				progress(PhysicalEvent{Phase: "copy", Bytes: n.Load(), Total: total})
			}
		}
	}()
	_, copyErr := io.Copy(stdin, &countingReader{r: body, n: &n})
	close(done)
	stdin.Close()
	waitErr := cmd.Wait()
	progress(PhysicalEvent{Phase: "copy", Bytes: n.Load(), Total: total})
	switch {
	case ctx.Err() != nil:
		return n.Load(), fmt.Errorf("interrupted after %d bytes: %w", n.Load(), ctx.Err())
	case copyErr != nil:
		return n.Load(), fmt.Errorf("receive the donor's stream: %w", copyErr)
	case waitErr != nil:
		return n.Load(), fmt.Errorf("mbstream -x: %w; its last lines:\n%s", waitErr, out.String())
	}
	return n.Load(), nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// readBinlogInfo reads the GTID position mariabackup recorded under
// BLOCK_COMMIT: "file<TAB>position<TAB>gtid" (10.11 names the file
// xtrabackup_binlog_info, later versions mariadb_backup_binlog_info).
func readBinlogInfo(dir string) (string, error) {
	for _, name := range []string{"mariadb_backup_binlog_info", "xtrabackup_binlog_info"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return parseBinlogInfo(string(b))
	}
	return "", errors.New("the backup has no binary log position (is log_bin on on the donor?)")
}

func parseBinlogInfo(s string) (string, error) {
	f := strings.Split(strings.TrimSpace(s), "\t")
	if len(f) < 2 {
		return "", fmt.Errorf("binary log position %q: want file, position and GTID", strings.TrimSpace(s))
	}
	if len(f) < 3 {
		return "", nil // no GTID yet: the donor never wrote a transaction
	}
	pos := strings.TrimSpace(f[2])
	if _, err := gtid.Parse(pos); err != nil {
		return "", fmt.Errorf("binary log position of the backup: %w", err)
	}
	return pos, nil
}

func chownTree(dir string, uid, gid int) error {
	if os.Geteuid() != 0 {
		return nil // files are ours already; only root can give them away
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

func (s *LocalServer) writeJournal(j *journal) error {
	if err := os.MkdirAll(s.stateDir(), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	// On disk before the swap goes on: after a crash (power, kernel) the
	// journal must say what moved, so the file and the rename are synced.
	tmp := filepath.Join(s.stateDir(), journalFile+".tmp")
	if err := writeFileSync(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write the swap journal: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.stateDir(), journalFile)); err != nil {
		return fmt.Errorf("write the swap journal: %w", err)
	}
	if err := syncDir(s.stateDir()); err != nil {
		return fmt.Errorf("write the swap journal: %w", err)
	}
	return nil
}

// removeJournal removes the swap journal, durably: a journal that came back
// after a crash would have the next agent undo a finished swap.
func (s *LocalServer) removeJournal() error {
	if err := os.Remove(filepath.Join(s.stateDir(), journalFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(s.stateDir())
}

// writeFileSync is os.WriteFile followed by fsync of the file.
func writeFileSync(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir fsyncs a directory, so that a rename or removal in it survives a
// crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// swap stops the server, puts the copy in place of the data directory's
// files and starts it. If the server does not come up on the copy, its own
// files go back and it is started on them again.
func (s *LocalServer) swap(ctx context.Context, j *journal) error {
	nothingMoved := func() { _ = s.removeJournal() }
	if err := s.stopServer(ctx); err != nil {
		// Still running on its own data (or a stop half done: start it).
		nothingMoved()
		if !s.answers(ctx) {
			return errors.Join(err, s.startServer(ctx))
		}
		return err
	}
	if err := os.Mkdir(j.Old, 0o700); err != nil {
		nothingMoved()
		return errors.Join(fmt.Errorf("make %s: %w", j.Old, err), s.startServer(ctx))
	}
	if err := moveEntries(j.Datadir, j.Old); err != nil {
		return errors.Join(fmt.Errorf("move the server's files aside: %w", err), s.undo(ctx, j))
	}
	j.Phase = "in"
	if err := s.writeJournal(j); err != nil {
		return errors.Join(err, s.undo(ctx, j))
	}
	if err := moveEntries(j.Work, j.Datadir); err != nil {
		return errors.Join(fmt.Errorf("put the copy in place: %w", err), s.undo(ctx, j))
	}
	if err := s.startServer(ctx); err != nil {
		return errors.Join(fmt.Errorf("the server does not start on the copy: %w", err), s.undo(ctx, j))
	}
	_ = os.Remove(j.Work) // empty now
	return nil
}

// undo puts the server's own files back (from any point of the swap, as
// the journal's phase says) and starts it. The copy's files go back into
// the work directory (Restore then removes it; the server's error log says
// why it did not start), or into .mmm-failed when there is none (a
// recovery), where the next copy removes them.
func (s *LocalServer) undo(ctx context.Context, j *journal) error {
	_ = s.stopServer(ctx)
	if j.Phase == "in" {
		// The data directory holds (part of) the copy.
		back := j.Work
		if _, err := os.Stat(back); err != nil {
			back = filepath.Join(j.Datadir, failedDir)
			if err := os.Mkdir(back, 0o700); err != nil {
				return fmt.Errorf("roll back: %w", err)
			}
		}
		if err := moveEntries(j.Datadir, back); err != nil {
			return fmt.Errorf("roll back: move the copy out of %s: %w", j.Datadir, err)
		}
		// From here on only the server's own files move: a retry after a
		// crash must not take them for the copy's.
		j.Phase = "out"
		if err := s.writeJournal(j); err != nil {
			return fmt.Errorf("roll back: %w", err)
		}
	}
	if err := moveEntries(j.Old, j.Datadir); err != nil {
		return fmt.Errorf("roll back: put the server's files back from %s: %w", j.Old, err)
	}
	_ = os.Remove(j.Old)
	if err := s.startServer(ctx); err != nil {
		return fmt.Errorf("roll back: %w", err)
	}
	_ = s.removeJournal()
	return errRolledBack
}

// errRolledBack: the swap was undone and the server runs on its own files.
var errRolledBack = errors.New("the server runs on its own data again")

// Recover removes the mariabackup option files an earlier agent left, and
// undoes a swap an earlier agent left half done (it was killed
// between stopping the server and starting it): the server's own files go
// back and the server is started. The next apply finds the target as it was
// before the copy and copies again.
func (s *LocalServer) Recover(ctx context.Context) error {
	s.removeStaleOptionFiles()
	b, err := os.ReadFile(filepath.Join(s.stateDir(), journalFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("swap journal %s: %w", filepath.Join(s.stateDir(), journalFile), err)
	}
	s.log().Warn("clone: an earlier agent stopped in the middle of a swap; putting the server's own files back", "datadir", j.Datadir, "phase", j.Phase)
	if _, err := os.Stat(j.Old); err != nil {
		// Killed before anything moved: only the start is missing.
		if !s.answers(ctx) {
			if err := s.startServer(ctx); err != nil {
				return fmt.Errorf("recover: %w", err)
			}
		}
		return s.removeJournal()
	}
	if err := s.undo(ctx, &j); !errors.Is(err, errRolledBack) {
		return err
	}
	return nil
}

func (s *LocalServer) stopServer(ctx context.Context) error {
	if err := runShell(ctx, s.StopCommand, 5*time.Minute); err != nil {
		return fmt.Errorf("stop the server (%s): %w", s.StopCommand, err)
	}
	// The command may return before the port is closed (a service manager's
	// stop that only signals): wait until nothing listens.
	deadline := time.Now().Add(2 * time.Minute)
	for s.listening() {
		if time.Now().After(deadline) {
			return fmt.Errorf("the server still listens on %s:%d after %q", s.Host.Address, s.Host.Port, s.StopCommand)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func (s *LocalServer) startServer(ctx context.Context) error {
	if err := runShell(ctx, s.StartCommand, 5*time.Minute); err != nil {
		return fmt.Errorf("start the server (%s): %w", s.StartCommand, err)
	}
	deadline := time.Now().Add(s.startTimeout())
	var last error
	for {
		db, err := openDB(ctx, s.Host, 1)
		if err == nil {
			db.Close()
			return nil
		}
		last = err
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the server does not answer SQL %s after %q: %v", s.startTimeout(), s.StartCommand, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *LocalServer) listening() bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(s.Host.Address, strconv.Itoa(s.Host.Port)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (s *LocalServer) answers(ctx context.Context) bool {
	db, err := openDB(ctx, s.Host, 1)
	if err != nil {
		return false
	}
	db.Close()
	return true
}

// finish clears any replication settings the copy carried, sets
// gtid_slave_pos and drops the marker, none of it binary-logged. The
// position is the further, per domain, of the GTID mariabackup recorded (the
// donor's binary log: all of a writer's transactions) and the copied
// mysql.gtid_slave_pos (a slave's applied position, which is what it
// replicated even where its binary log was reset).
func (s *LocalServer) finish(ctx context.Context, binlogPos string) (string, error) {
	db, err := openDB(ctx, s.Host, 1)
	if err != nil {
		return "", fmt.Errorf("after the restore: %w (the copy has the donor's accounts: the admin account must be the same on both)", err)
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := execAll(ctx, c, "SET SESSION sql_log_bin = 0", "STOP ALL SLAVES", "RESET SLAVE ALL"); err != nil {
		return "", fmt.Errorf("after the restore: %w", err)
	}
	var slavePos string
	if err := c.QueryRowContext(ctx, "SELECT @@global.gtid_slave_pos").Scan(&slavePos); err != nil {
		return "", fmt.Errorf("after the restore: read gtid_slave_pos: %w", err)
	}
	a, err := gtid.Parse(binlogPos)
	if err != nil {
		return "", err
	}
	b, err := gtid.Parse(slavePos)
	if err != nil {
		return "", fmt.Errorf("after the restore: gtid_slave_pos %q: %w", slavePos, err)
	}
	pos := a.Union(b).String()
	if _, err := c.ExecContext(ctx, "SET GLOBAL gtid_slave_pos = ?", pos); err != nil {
		return "", fmt.Errorf("after the restore: set gtid_slave_pos: %w", err)
	}
	if err := execAll(ctx, c, "DROP DATABASE IF EXISTS "+MarkerSchema); err != nil {
		return "", fmt.Errorf("after the restore: drop the marker: %w", err)
	}
	return pos, nil
}

// runShell runs an operator's command with sh -c, bounded by timeout; its
// output goes into the error when it fails.
func runShell(ctx context.Context, command string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	out := newTail(15)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if text := out.String(); text != "" {
			return fmt.Errorf("%w:\n%s", err, text)
		}
		return err
	}
	return nil
}

// tail keeps the last lines written to it (a command's output for an error).
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  []byte
}

func newTail(n int) *tail { return &tail{max: n} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, p...)
	sc := bufio.NewScanner(strings.NewReader(string(t.part)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	complete := strings.HasSuffix(string(t.part), "\n")
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	t.part = t.part[:0]
	if !complete && len(lines) > 0 {
		t.part = append(t.part, lines[len(lines)-1]...)
		lines = lines[:len(lines)-1]
	}
	t.lines = append(t.lines, lines...)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var keep []string
	for _, l := range append(append([]string{}, t.lines...), string(t.part)) {
		if strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return ""
	}
	if len(keep) > t.max {
		keep = keep[len(keep)-t.max:]
	}
	return "    " + strings.Join(keep, "\n    ")
}
