// Package labtest gives a Go test package one lab of real MariaDB servers:
//
//	func TestMain(m *testing.M) {
//		labtest.Main(m, "../../examples/lab/mmm.hcl", labtest.Subnet("198.18.2"))
//	}
//
//	func TestSomething(t *testing.T) {
//		l := labtest.Get(t) // skips when the lab could not start
//		…
//	}
//
// The lab starts once before the package's tests and is torn down after them,
// also when they fail. A test that panics or a test binary that is killed (go
// test -timeout) takes the process down with it; for that case a small reaper
// process, started from the same test binary, tears the lab down as soon as
// the test process is gone.
//
// Without root or mariadbd, Get skips with the reason. With MMM_REQUIRE_LAB=1 a
// lab that cannot start is a failure instead (CI sets it).
package labtest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/schema"
)

// RequireEnv, set to 1, turns a lab that cannot start from a skip into a failure.
const RequireEnv = "MMM_REQUIRE_LAB"

// reaperEnv marks the re-executed test binary that waits to clean up.
const reaperEnv = "MMM_LABTEST_REAPER_DIR"

// Option changes the cluster or the lab before it starts.
type Option func(*config)

type config struct {
	subnet  string
	modify  []func(*topology.Cluster)
	appends []string
	labOpts lab.Options
	tls     bool
}

// Subnet moves the file's hosts, VIPs, ping_ips and user host patterns to another
// /24 ("198.18.2"), so each package's lab has its own (see the allocation in
// the README) and packages can run their labs at the same time.
func Subnet(firstThreeOctets string) Option {
	return func(c *config) { c.subnet = firstThreeOctets }
}

// Modify changes the loaded cluster before the lab starts (after Subnet).
func Modify(f func(*topology.Cluster)) Option {
	return func(c *config) { c.modify = append(c.modify, f) }
}

// AppendHCL adds blocks to the lab's file before it is loaded (a host block,
// say), written with the file's own addresses: Subnet moves them too. Unlike
// Modify, the agents StartAgents runs read them as well.
func AppendHCL(text string) Option {
	return func(c *config) { c.appends = append(c.appends, text) }
}

// TLS runs the lab with a tls block: `mmm tls init` into LAB_DIR/tls before
// the servers start (the CA, a certificate per host, the monitor and the
// operator), the servers serving their host certificates (ssl_cert),
// Cluster().TLS.Dir set and admin.tls = "verify" on every host, and
// StartAgents' file given both, so the agents serve mutual TLS, every client
// needs its certificate and every admin session is TLS-verified.
func TLS() Option {
	return func(c *config) { c.tls = true }
}

// LabOptions sets the lab's options (state dir, timeouts).
func LabOptions(o lab.Options) Option {
	return func(c *config) { c.labOpts = o }
}

var (
	mainCalled bool
	current    *lab.Lab
	startErr   error
	// source is the lab's file and how Subnet moved it, for StartAgents.
	source struct{ path, from, to string }
)

// Main starts the lab, runs the package's tests and tears the lab down, then
// exits with the tests' code. Call it from TestMain.
func Main(m *testing.M, configPath string, opts ...Option) {
	os.Exit(RunWith(m, configPath, opts...))
}

// Runner runs a package's tests: *testing.M, or a wrapper around it.
type Runner interface {
	Run() int
}

// RunWith is Main for a TestMain that composes the lab with another harness:
// it returns the tests' exit code instead of exiting. testscript, for one,
// wants to own os.Exit and re-runs the test binary as the commands it tests,
// so its Main goes outside and RunWith inside its TestingM (which only needs
// Run() int), so that those re-runs never start a lab:
//
//	type withLab struct{ m *testing.M }
//
//	func (w withLab) Run() int { return labtest.RunWith(w.m, "mmm.hcl") }
//
//	func TestMain(m *testing.M) { testscript.Main(withLab{m}, commands) }
func RunWith(m Runner, configPath string, opts ...Option) int {
	if dir := os.Getenv(reaperEnv); dir != "" {
		reap(dir)
		return 0
	}
	return run(m, configPath, opts)
}

func run(m Runner, configPath string, opts []Option) int {
	mainCalled = true
	flag.Parse()
	if testing.Short() {
		startErr = fmt.Errorf("-short: the lab is not started")
		return m.Run()
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	l, err := start(configPath, cfg)
	if err != nil {
		if appended != "" {
			os.Remove(appended)
		}
		startErr = err
		if os.Getenv(RequireEnv) == "1" {
			fmt.Fprintf(os.Stderr, "labtest: the lab did not start and %s=1: %v\n", RequireEnv, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "labtest: lab tests will be skipped: %v\n", err)
		return m.Run()
	}
	current = l
	return runWithLab(m, l)
}

func runWithLab(m Runner, l *lab.Lab) (code int) {
	stopReaper := startReaper(l.Dir())
	defer func() {
		if appended != "" {
			os.Remove(appended)
		}
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "labtest: panic: %v\n", r)
			code = 1
		}
		if err := l.Down(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "labtest: tearing down lab %s: %v\n", l.ID(), err)
			code = 1
		}
		stopReaper()
	}()
	return m.Run()
}

func start(configPath string, cfg config) (l *lab.Lab, err error) {
	if err := lab.Check(); err != nil {
		return nil, err
	}
	if len(cfg.appends) > 0 {
		if configPath, err = appendedFile(configPath, cfg.appends); err != nil {
			return nil, err
		}
	}
	c, err := load(configPath)
	if err != nil {
		return nil, err
	}
	source.path = configPath
	if cfg.subnet != "" && len(c.Hosts) > 0 {
		source.from = prefix24(c.Hosts[0].Address)
		source.to = cfg.subnet + "."
		if err := lab.RewriteSubnet(c, cfg.subnet); err != nil {
			return nil, err
		}
	}
	for _, f := range cfg.modify {
		f(c)
	}
	l, err = lab.New(c, cfg.labOpts)
	if err != nil {
		return nil, err
	}
	if cfg.tls {
		// Before Up: the servers get their host certificates too.
		dir := filepath.Join(l.Dir(), lab.TLSDirName)
		if _, err := pki.Init(c, dir, true); err != nil {
			return nil, fmt.Errorf("lab tls: %w", err)
		}
		c.TLS.Dir = dir
		for _, h := range c.Hosts {
			h.Admin.TLS, h.Admin.TLSCA = topology.AdminTLSVerify, filepath.Join(dir, pki.CAFile)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t0 := time.Now()
	if _, err := l.Up(ctx); err != nil {
		if downErr := l.Down(context.Background()); downErr != nil {
			fmt.Fprintf(os.Stderr, "labtest: tearing down the half-started lab %s: %v\n", l.ID(), downErr)
		}
		return nil, fmt.Errorf("lab up: %w", err)
	}
	fmt.Fprintf(os.Stderr, "labtest: lab %s up: %d hosts in %s, %s\n", l.ID(), len(c.Hosts), l.Subnet(), time.Since(t0).Round(time.Millisecond))
	return l, nil
}

// appendedFile writes the file plus the appended blocks beside the
// original under a temporary name in the same directory (so its relative
// module sources and file() paths still resolve) and returns it; it is
// removed when the package's tests end (see runWithLab).
func appendedFile(path string, appends []string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	text := string(b) + "\n# Added by the test package (labtest.AppendHCL).\n" + strings.Join(appends, "\n")
	f, err := os.CreateTemp(filepath.Dir(path), ".labtest-*.hcl")
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	appended = f.Name()
	return f.Name(), nil
}

// appended is the file appendedFile wrote, removed at the end.
var appended string

func load(path string) (*topology.Cluster, error) {
	loader := schema.NewLoader(schema.Options{RequireSecrets: true})
	c, diags := loader.Load(path)
	if diags.HasErrors() {
		var buf bytes.Buffer
		_ = loader.WriteDiagnostics(&buf, diags)
		return nil, fmt.Errorf("load %s:\n%s", path, buf.String())
	}
	return c, nil
}

// Get returns the package's lab. It skips the test when the lab could not start,
// or fails it when MMM_REQUIRE_LAB=1.
func Get(t testing.TB) *lab.Lab {
	t.Helper()
	if !mainCalled {
		t.Fatal("labtest.Get: call labtest.Main from the package's TestMain")
	}
	if startErr != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("the lab did not start (%s=1): %v", RequireEnv, startErr)
		}
		t.Skipf("no lab: %v", startErr)
	}
	return current
}

// startReaper re-executes the test binary as a reaper that tears the lab down
// when our end of its stdin closes without a word, i.e. when this process died
// before its own teardown. The returned func tells it all is done and waits.
func startReaper(dir string) func() {
	r, w, err := os.Pipe()
	if err != nil {
		return func() {}
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), reaperEnv+"="+dir)
	cmd.Stdin = r
	// Its own process group: a Ctrl-C to `go test` must not kill it before it
	// cleaned up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return func() {}
	}
	r.Close()
	return func() {
		_, _ = w.Write([]byte("done\n"))
		w.Close()
		_ = cmd.Wait()
	}
}

func reap(dir string) {
	msg, _ := io.ReadAll(os.Stdin)
	if bytes.HasPrefix(msg, []byte("done")) {
		return
	}
	if _, err := os.Stat(dir); err != nil {
		return
	}
	if err := lab.DownDir(dir); err != nil {
		fmt.Fprintf(os.Stderr, "labtest reaper: %v\n", err)
	}
}

func prefix24(addr string) string {
	if i := strings.LastIndexByte(addr, '.'); i >= 0 {
		return addr[:i+1]
	}
	return addr
}

// StartAgents runs `mmm agent` in every namespace of the package's lab, as on
// real data nodes: it builds the mmm binary, writes the lab's file moved to
// the lab's /24 (the agents read a file, not the rewritten Cluster), starts
// the agents and stops them when t ends. It returns the binary and the file,
// for tests that run more mmm commands. Every host of the lab must be in the
// file (a host added with Modify has no agent).
func StartAgents(t testing.TB) (bin, config string) {
	t.Helper()
	l := Get(t)
	dir := t.TempDir()
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("find the module to build mmm: %v", err)
	}
	bin = filepath.Join(dir, "mmm")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mmm")
	build.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build mmm: %v\n%s", err, out)
	}
	src, err := os.ReadFile(source.path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	if source.from != "" {
		text = strings.ReplaceAll(text, source.from, source.to)
	}
	if dir := l.Cluster().TLS.Dir; dir != "" {
		text += fmt.Sprintf("\n# Added by labtest.TLS.\ntls {\n  dir = %q\n}\n", dir)
		// Admin sessions verify the servers' certificates (the defaults
		// block's admin block of the lab's file).
		if strings.Count(text, "  admin {\n") != 1 {
			t.Fatalf("labtest.TLS: the lab's file has no single admin block to give tls = \"verify\"")
		}
		text = strings.Replace(text, "  admin {\n", "  admin {\n    tls = \"verify\"\n", 1)
	}
	config = filepath.Join(dir, filepath.Base(source.path))
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := l.StartAgents(ctx, func(host string) *exec.Cmd {
		return exec.Command(bin, "agent", "--config", config, "--host", host)
	}); err != nil {
		t.Fatalf("start agents: %v", err)
	}
	t.Cleanup(func() {
		if err := l.StopAgents(); err != nil {
			t.Errorf("stop agents: %v", err)
		}
	})
	return bin, config
}
