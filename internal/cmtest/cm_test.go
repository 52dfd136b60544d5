package cmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
)

// The config-management tests have the lab subnet 198.18.13.0/24.
func TestMain(m *testing.M) {
	labtest.Main(m, "../../examples/lab/mmm.hcl", labtest.Subnet("198.18.13"))
}

// The lab file's secrets (variables with lab-only defaults). The tools get
// them through the env file as MMM_VAR_NAME, as a real cluster would get its
// env() values; none may ever show on a command line.
var labSecrets = map[string]string{
	"MMM_VAR_admin_password":       "lab-admin-secret",
	"MMM_VAR_replication_password": "lab-repl-secret",
	"MMM_VAR_monitor_password":     "lab-monitor-secret",
	"MMM_VAR_app_password":         "lab-app-secret",
	"MMM_VAR_agent_token":          "lab-agent-token",
	"MMM_VAR_monitor_token":        "lab-monitor-token",
}

const wrongPassword = "cm-test-wrong-admin-password"

// requireTool finds a tool, skipping without it, or failing when the lab
// is required (MMM_REQUIRE_LAB=1: CI, where make deps installed it).
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv(labtest.RequireEnv) == "1" {
		t.Fatalf("%s not found (%s=1): install Debian's %s (make deps)", name, labtest.RequireEnv, pkg)
	}
	t.Skipf("%s not found: install Debian's %s (make deps)", name, pkg)
	return ""
}

// env is one run's environment: a PATH, a HOME of its own (the tools keep
// state there), no secret.
func toolEnv(home string, extra ...string) []string {
	return append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + home,
		"LANG=C.UTF-8",
		// No __pycache__ next to the test's callback plugin.
		"PYTHONDONTWRITEBYTECODE=1",
	}, extra...)
}

type result struct {
	code   int
	stdout string
	stderr string
}

func run(t *testing.T, env []string, dir string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// cluster is what the test reads and changes on the lab besides the tools.
type cluster struct {
	lab    *lab.Lab
	mmm    string
	config string
}

// plan runs mmm plan --detailed-exitcode and returns its code and text.
func (c *cluster) plan(t *testing.T) (int, string) {
	t.Helper()
	r := run(t, toolEnv(t.TempDir()), "", c.mmm, "plan", "--config", c.config, "--detailed-exitcode")
	if r.code == 1 {
		t.Fatalf("mmm plan failed:\n%s%s", r.stdout, r.stderr)
	}
	return r.code, r.stdout
}

// drift stops slave2's replication behind mmm's back.
func (c *cluster) drift(t *testing.T) {
	t.Helper()
	db, err := c.lab.DB("slave2")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "STOP SLAVE"); err != nil {
		t.Fatalf("drift: %v", err)
	}
}

// watchCmdlines polls every process's command line while the tools run and
// fails the test for any that holds a secret.
func watchCmdlines(t *testing.T, secrets []string) (stop func()) {
	t.Helper()
	stopPoll := pollCmdlines(secrets)
	return func() {
		hits, polls := stopPoll()
		t.Logf("polled every process's command line %d times during the runs", polls)
		for _, h := range hits {
			t.Errorf("secret on a command line: %s", h)
		}
	}
}

// pollCmdlines reads /proc/*/cmdline every 10ms until stopped, and returns
// the processes seen with a secret in their arguments (named by pid and
// program, never by the secret) and how many polls it made.
func pollCmdlines(secrets []string) (stop func() (hits []string, polls int)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	seen := map[string]bool{}
	n := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			n++
			paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, p := range paths {
				b, err := os.ReadFile(p)
				if err != nil || len(b) == 0 {
					continue
				}
				line := strings.ReplaceAll(string(b), "\x00", " ")
				for _, s := range secrets {
					if strings.Contains(line, s) {
						seen[fmt.Sprintf("%s (%s): a secret of length %d", p, strings.Fields(line)[0], len(s))] = true
					}
				}
			}
		}
	}()
	return func() ([]string, int) {
		close(done)
		wg.Wait()
		var out []string
		for h := range seen {
			out = append(out, h)
		}
		sort.Strings(out)
		return out, n
	}
}

// TestCmdlinePollerSeesASecret: the poller the CM tests rely on does catch
// a secret on a command line (here a shell's $0), so a clean run means
// something.
func TestCmdlinePollerSeesASecret(t *testing.T) {
	secret := "cm-test-poller-probe-" + fmt.Sprint(time.Now().UnixNano())
	stop := pollCmdlines([]string{secret})
	if out, err := exec.Command("sh", "-c", "sleep 0.3", secret).CombinedOutput(); err != nil {
		t.Fatalf("sh: %v %s", err, out)
	}
	hits, polls := stop()
	if len(hits) == 0 {
		t.Fatalf("%d polls did not see the probe's command line", polls)
	}
	t.Logf("seen: %v", hits)
}

func allSecrets() []string {
	out := []string{wrongPassword}
	for _, v := range labSecrets {
		out = append(out, v)
	}
	return out
}

func withWrongPassword() map[string]string {
	s := map[string]string{}
	for k, v := range labSecrets {
		s[k] = v
	}
	s["MMM_VAR_admin_password"] = wrongPassword
	return s
}

func examplesDir(t *testing.T, sub string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("../../examples", sub))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// --- Ansible ------------------------------------------------------------------

// ansibleRun is the part of ansible's json callback output the test reads.
type ansibleRun struct {
	Plays []struct {
		Tasks []struct {
			Task struct {
				Name string `json:"name"`
			} `json:"task"`
			Hosts map[string]struct {
				Changed bool   `json:"changed"`
				Failed  bool   `json:"failed"`
				Skipped bool   `json:"skipped"`
				Msg     any    `json:"msg"`
				Stdout  string `json:"stdout"`
				RC      int    `json:"rc"`
			} `json:"hosts"`
		} `json:"tasks"`
	} `json:"plays"`
	Stats map[string]struct {
		Changed  int `json:"changed"`
		Failures int `json:"failures"`
		OK       int `json:"ok"`
	} `json:"stats"`
	raw string
}

// task returns a task's result on localhost; ok is false when it did not run
// (skipped or absent).
func (r *ansibleRun) task(name string) (changed, failed bool, msg string, ok bool) {
	for _, p := range r.Plays {
		for _, tk := range p.Tasks {
			if tk.Task.Name != name {
				continue
			}
			h, found := tk.Hosts["localhost"]
			if !found || h.Skipped {
				return false, false, "", false
			}
			return h.Changed, h.Failed, fmt.Sprint(h.Msg), true
		}
	}
	return false, false, "", false
}

func callbackDir(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("testdata/callback_plugins")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

type ansible struct {
	c        *cluster
	dir      string
	playbook string
}

// run runs the shipped playbook with only its variables set (in a 0600
// vars file, never on the command line).
func (a *ansible) run(t *testing.T, check bool, secrets map[string]string) *ansibleRun {
	t.Helper()
	vars := map[string]any{
		"mmm_binary":   a.c.mmm,
		"mmm_config":   a.c.config,
		"mmm_env_file": filepath.Join(a.dir, "secrets.env"),
		"mmm_secrets":  secrets,
	}
	b, err := json.Marshal(vars)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(a.dir, "vars.json"), string(b))
	writeFile(t, filepath.Join(a.dir, "inventory.ini"),
		"[mmm_monitor]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n")
	args := []string{"-i", "inventory.ini", "-e", "@vars.json", a.playbook}
	if check {
		args = append(args, "--check", "--diff")
	}
	r := run(t, toolEnv(filepath.Join(a.dir, "home"),
		"ANSIBLE_STDOUT_CALLBACK=mmm_test_json", "ANSIBLE_CALLBACK_PLUGINS="+callbackDir(t), "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0",
		"ANSIBLE_LOCALHOST_WARNING=0", "ANSIBLE_INVENTORY_UNPARSED_WARNING=0"),
		a.dir, "ansible-playbook", args...)
	out := &ansibleRun{raw: r.stdout + r.stderr}
	if err := json.Unmarshal([]byte(r.stdout), out); err != nil {
		t.Fatalf("ansible-playbook (exit %d): output is not the json callback's: %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if _, ok := out.Stats["localhost"]; !ok {
		t.Fatalf("ansible-playbook (exit %d) ran nothing on localhost:\n%s", r.code, out.raw)
	}
	return out
}

func TestAnsible(t *testing.T) {
	requireTool(t, "ansible-playbook", "ansible-core")
	mmm, config := labtest.StartAgents(t)
	c := &cluster{lab: labtest.Get(t), mmm: mmm, config: config}
	a := &ansible{c: c, dir: t.TempDir(), playbook: filepath.Join(examplesDir(t, "ansible"), "mmm-apply.yml")}
	defer watchCmdlines(t, allSecrets())()

	expectPlanTask := func(t *testing.T, r *ansibleRun, wantChanged bool) {
		t.Helper()
		changed, failed, msg, ok := r.task("Plan (check mode)")
		if !ok || failed || changed != wantChanged {
			t.Fatalf("check mode: plan task ran=%v failed=%v changed=%v (want changed=%v) %s\n%s", ok, failed, changed, wantChanged, msg, r.raw)
		}
		if _, _, _, ran := r.task("Apply"); ran {
			t.Fatalf("check mode ran the Apply task")
		}
		if n := r.Stats["localhost"].Failures; n != 0 {
			t.Fatalf("check mode: %d failure(s)\n%s", n, r.raw)
		}
	}
	expectApply := func(t *testing.T, r *ansibleRun, wantChanged bool) {
		t.Helper()
		changed, _, _, ok := r.task("Apply")
		if !ok || changed != wantChanged || r.Stats["localhost"].Failures != 0 {
			t.Fatalf("apply: ran=%v changed=%v (want %v), failures=%d\n%s", ok, changed, wantChanged, r.Stats["localhost"].Failures, r.raw)
		}
	}

	t.Run("check mode on bare servers reports changed and changes nothing", func(t *testing.T) {
		code, before := c.plan(t)
		if code != 2 {
			t.Fatalf("the lab is not bare: plan exit %d", code)
		}
		expectPlanTask(t, a.run(t, true, labSecrets), true)
		if code, after := c.plan(t); code != 2 || after != before {
			t.Fatalf("check mode changed the cluster: plan exit %d\nbefore:\n%s\nafter:\n%s", code, before, after)
		}
	})
	t.Run("a real run converges", func(t *testing.T) {
		expectApply(t, a.run(t, false, labSecrets), true)
		if code, out := c.plan(t); code != 0 {
			t.Fatalf("not converged: plan exit %d\n%s", code, out)
		}
	})
	t.Run("a second run reports unchanged", func(t *testing.T) {
		r := a.run(t, false, labSecrets)
		expectApply(t, r, false)
		if n := r.Stats["localhost"].Changed; n != 0 {
			t.Fatalf("second run: %d task(s) changed\n%s", n, r.raw)
		}
		r = a.run(t, true, labSecrets)
		expectPlanTask(t, r, false)
		if n := r.Stats["localhost"].Changed; n != 0 {
			t.Fatalf("check mode on a converged cluster: %d task(s) changed\n%s", n, r.raw)
		}
	})
	t.Run("drift is reported in check mode and repaired", func(t *testing.T) {
		c.drift(t)
		expectPlanTask(t, a.run(t, true, labSecrets), true)
		if code, _ := c.plan(t); code != 2 {
			t.Fatalf("check mode repaired the drift (plan exit %d)", code)
		}
		expectApply(t, a.run(t, false, labSecrets), true)
		if code, out := c.plan(t); code != 0 {
			t.Fatalf("drift not repaired: plan exit %d\n%s", code, out)
		}
	})
	t.Run("a wrong password fails with mmm's message", func(t *testing.T) {
		c.drift(t)
		for _, check := range []bool{true, false} {
			r := a.run(t, check, withWrongPassword())
			name := "Fail with mmm's message"
			if check {
				name += " (check mode)"
			}
			_, failed, msg, ok := r.task(name)
			if !ok || !failed || !strings.Contains(msg, "Access denied for user 'root'") || !strings.Contains(msg, "master1") {
				t.Fatalf("check=%v: want the task %q failed with mmm's Access denied message, got ran=%v failed=%v msg=%q\n%s", check, name, ok, failed, msg, r.raw)
			}
			if strings.Contains(r.raw, wrongPassword) {
				t.Fatalf("check=%v: the output shows the password", check)
			}
		}
		// Nothing was changed: the drift is still there; the right secrets repair it.
		if code, _ := c.plan(t); code != 2 {
			t.Fatalf("a run with a wrong password changed the cluster (plan exit %d)", code)
		}
		expectApply(t, a.run(t, false, labSecrets), true)
	})
}

// --- Puppet -------------------------------------------------------------------

type puppet struct {
	c   *cluster
	dir string
}

// apply runs `puppet apply` of a site.pp that only declares the shipped
// class with its parameters (the file holds the secrets: mode 0600).
func (p *puppet) apply(t *testing.T, noop bool, secrets map[string]string) result {
	t.Helper()
	var kv []string
	for k, v := range secrets {
		kv = append(kv, fmt.Sprintf("    %q => %q,", k, v))
	}
	sort.Strings(kv)
	site := fmt.Sprintf(`class { 'mmm::apply':
  mmm_binary   => %q,
  mmm_config   => %q,
  mmm_env_file => %q,
  mmm_secrets  => Sensitive({
%s
  }),
}
`, p.c.mmm, p.c.config, filepath.Join(p.dir, "secrets.env"), strings.Join(kv, "\n"))
	writeFile(t, filepath.Join(p.dir, "site.pp"), site)
	args := []string{"apply", "--detailed-exitcodes", "--color=false",
		"--modulepath", examplesDir(t, "puppet"),
		"--confdir", filepath.Join(p.dir, "conf"), "--vardir", filepath.Join(p.dir, "var"),
		"--codedir", filepath.Join(p.dir, "code"), "--logdir", filepath.Join(p.dir, "log"),
		"--rundir", filepath.Join(p.dir, "run")}
	if noop {
		args = append(args, "--noop")
	}
	args = append(args, filepath.Join(p.dir, "site.pp"))
	return run(t, toolEnv(filepath.Join(p.dir, "home")), p.dir, "puppet", args...)
}

func TestPuppet(t *testing.T) {
	requireTool(t, "puppet", "puppet")
	mmm, config := labtest.StartAgents(t)
	c := &cluster{lab: labtest.Get(t), mmm: mmm, config: config}
	p := &puppet{c: c, dir: t.TempDir()}
	defer watchCmdlines(t, allSecrets())()

	const (
		applyPending  = "Exec[mmm apply]/returns: current_value 'notrun', should be ['0'] (noop)"
		applyRan      = "Exec[mmm apply]/returns: executed successfully"
		errorPending  = "Exec[mmm plan failed]/returns: current_value 'notrun'"
		errorExecName = "Exec[mmm plan failed]"
	)
	fails := func(r result) bool { return r.code == 1 || r.code&4 != 0 }
	out := func(r result) string { return r.stdout + r.stderr }

	// Puppet's --noop never writes the secrets file either: the first run
	// writes it (here on a cluster TestAnsible may have converged already,
	// or that converges a bare one).
	t.Run("a first run converges", func(t *testing.T) {
		r := p.apply(t, false, labSecrets)
		if fails(r) {
			t.Fatalf("puppet apply exit %d\n%s", r.code, out(r))
		}
		if code, o := c.plan(t); code != 0 {
			t.Fatalf("not converged: plan exit %d\n%s", code, o)
		}
	})
	t.Run("noop reports the drift as a pending apply and changes nothing", func(t *testing.T) {
		c.drift(t)
		r := p.apply(t, true, labSecrets)
		if fails(r) || !strings.Contains(out(r), applyPending) || strings.Contains(out(r), errorExecName) {
			t.Fatalf("noop: exit %d, want a pending Exec[mmm apply] and no error\n%s", r.code, out(r))
		}
		if code, _ := c.plan(t); code != 2 {
			t.Fatalf("--noop repaired the drift (plan exit %d)", code)
		}
	})
	t.Run("apply repairs the drift", func(t *testing.T) {
		r := p.apply(t, false, labSecrets)
		if r.code != 2 || !strings.Contains(out(r), applyRan) {
			t.Fatalf("apply: exit %d (want 2: changes), want %q\n%s", r.code, applyRan, out(r))
		}
		if code, o := c.plan(t); code != 0 {
			t.Fatalf("not converged: plan exit %d\n%s", code, o)
		}
	})
	t.Run("a second run changes nothing", func(t *testing.T) {
		for _, noop := range []bool{false, true} {
			r := p.apply(t, noop, labSecrets)
			if r.code != 0 || strings.Contains(out(r), "Exec[mmm") {
				t.Fatalf("noop=%v: exit %d (want 0), or an exec ran or is pending\n%s", noop, r.code, out(r))
			}
		}
	})
	t.Run("a wrong password is an error, not drift, with mmm's message", func(t *testing.T) {
		c.drift(t)
		r := p.apply(t, false, withWrongPassword())
		if !fails(r) || !strings.Contains(out(r), "Access denied for user 'root'") || strings.Contains(out(r), applyRan) {
			t.Fatalf("apply with a wrong password: exit %d, want a failure with mmm's Access denied message and no apply\n%s", r.code, out(r))
		}
		if strings.Contains(out(r), wrongPassword) {
			t.Fatalf("puppet's output shows the password")
		}
		// --noop (which never writes the secrets file: the wrong one is
		// there now) shows the error as such, not as a pending apply.
		r = p.apply(t, true, withWrongPassword())
		if !strings.Contains(out(r), errorPending) || strings.Contains(out(r), applyPending) {
			t.Fatalf("noop with a wrong password: want a pending %s and no pending apply\n%s", errorExecName, out(r))
		}
		if code, _ := c.plan(t); code != 2 {
			t.Fatalf("a run with a wrong password changed the cluster (plan exit %d)", code)
		}
		if r := p.apply(t, false, labSecrets); r.code != 2 || !strings.Contains(out(r), applyRan) {
			t.Fatalf("the right password again: exit %d\n%s", r.code, out(r))
		}
	})
}
