package importer

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/mysql-mmm/mmm/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata file name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// loadHCL validates src as `mmm validate` does (no secrets needed) and
// returns the diagnostics.
func loadHCL(t *testing.T, src []byte) hcl.Diagnostics {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "mmm.hcl")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	l := schema.NewLoader(schema.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	_, diags := l.Load(path)
	return diags
}

// checkGenerated asserts what every generated file must be: valid for
// `mmm validate` (warnings allowed, listed in allowWarnings by summary) and
// unchanged by `mmm fmt` (hclwrite.Format, the formatter fmt uses).
func checkGenerated(t *testing.T, src []byte, allowWarnings ...string) {
	t.Helper()
	if formatted := hclwrite.Format(src); !bytes.Equal(formatted, src) {
		t.Errorf("mmm fmt would change the generated file:\n%s", formatted)
	}
	for _, d := range loadHCL(t, src) {
		if d.Severity == hcl.DiagWarning && (contains(allowWarnings, d.Summary) || strings.Contains(d.Detail, "not set")) {
			continue
		}
		t.Errorf("validate: %s: %s: %s", d.Subject, d.Summary, d.Detail)
	}
}

func TestFromMMMGolden(t *testing.T) {
	secrets := map[string][]string{
		"guide":    {"RepAgent", "RepMonitor"},
		"two-node": {"RepAgent", "RepMonitor"},
		"slaves":   {"ReplSecret", "AgentSecret", "MonitorSecret", "ToolsSecret"},
	}
	for _, name := range []string{"guide", "two-node", "slaves"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "mmm", name)
			f, findings, err := FromMMM(MMMOptions{Dir: dir, Flavor: "mysql"})
			if err != nil {
				t.Fatal(err)
			}
			src := Render(f)
			golden(t, filepath.Join("mmm", name, "want.hcl"), src)
			var report bytes.Buffer
			findings.Write(&report)
			report.WriteString("--- env\n")
			WriteEnv(&report, f.Env)
			golden(t, filepath.Join("mmm", name, "want.report"), report.Bytes())

			// the old agent account keeps MMM's SUPER: validate warns, rightly
			checkGenerated(t, src, "Account can write to a fenced master")
			for _, s := range secrets[name] {
				if bytes.Contains(src, []byte(s)) || bytes.Contains(report.Bytes(), []byte(s)) {
					t.Errorf("the password %q from the MMM files is in the output", s)
				}
			}
			if findings.HasProblems() {
				t.Errorf("problems in a documented layout:\n%s", report.String())
			}
		})
	}
}

func TestFromMMMReportsEveryUnconvertedLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("mmm_common.conf", `active_master_role writer
frobnicate 1
<host default>
  replication_user repl
  replication_password x
  ssh_user root
</host>
<host a>
  ip 10.1.1.1
  mode master
  peer b
  bogus yes
</host>
<host b>
  ip 10.1.1.2
  mode master
  peer a
</host>
<role writer>
  hosts a, b
  ips 10.1.1.100
  mode exclusive
</role>
<check ping>
  restart_after 5
</check>
<check nonsense/>
<weird>
`)
	write("mmm_mon.conf", "include mmm_common.conf\ninclude missing.conf\n<monitor>\n  ip 127.0.0.1\n  ping_interval 2\n</monitor>\n")
	_, findings, err := FromMMM(MMMOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range findings {
		if f.File != "" {
			got = append(got, f.String())
		}
	}
	want := []string{
		"mmm_common.conf:2: frobnicate: not a MySQL-MMM 2 setting (MMM itself would refuse it) (error)",
		"mmm_common.conf:6: ssh_user: " + msgTools + " (not converted)",
		"mmm_common.conf:12: bogus: not a MySQL-MMM 2 setting (MMM itself would refuse it) in <host a> (error)",
		"mmm_common.conf:25: restart_after: no equivalent: mmm's checks run inside the watch, no checker process to restart (not converted)",
		`mmm_common.conf:27: <check nonsense>: MMM 2 has no check "nonsense" (ping, mysql, rep_threads, rep_backlog) (error)`,
		`mmm_common.conf:28: <weird>: unknown section type "weird" (error)`,
		"mmm_mon.conf:2: include: missing.conf not found (looked in " + dir + ") (error)",
		`mmm_mon.conf:3: auto_set_online: not set, so MMM 2 never set hosts online by itself; mmm's default is 60s (set auto_set_online = "0s" to keep MMM's behaviour) (info)`,
		"mmm_mon.conf:5: ping_interval: no equivalent: mmm checks ping_ips on its own schedule (not converted)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFormatDuration(t *testing.T) {
	for in, want := range map[string]string{"0s": "0s", "1h": "1h", "90s": "90s", "10m": "600s", "250ms": "250ms", "1.5s": "1500ms"} {
		d, err := parseDuration(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %s, want %s", in, got, want)
		}
	}
}

func parseDuration(s string) (time.Duration, error) { return time.ParseDuration(s) }
