package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/schema"
)

// loadCluster loads the topology named by --config, renders its diagnostics
// (warnings too) on stderr, and fails with exit code 1 when there are errors.
// requireSecrets is true for commands that connect: then an unset env(),
// file() or variable is an error instead of a warning. The error's text sums
// the diagnostics up in one line each, for --json outputs; Run prints
// nothing more for it (the diagnostics are already on stderr).
func loadCluster(g *Globals, requireSecrets bool) (*topology.Cluster, *schema.Loader, error) {
	return loadClusterNeeding(g, needs{require: requireSecrets})
}

// needs are the secrets a command needs, and why (for the error that names
// a missing one). Each command asks for its own only: the other secrets
// may be absent from its environment.
type needs struct {
	require bool     // an unset needed secret is an error
	secrets []string // schema.Secret* kinds; nil = every secret
	purpose string   // "to ask the running watch"
	host    string   // the one host served (mmm agent): other hosts' admin passwords are not needed
}

var (
	// needMonitorToken: show, checks, move-role, mode, set-online,
	// set-offline talk to the watch only.
	needMonitorToken = needs{require: true, secrets: []string{schema.SecretMonitorToken},
		purpose: "to ask the running watch (this command needs the monitor token only, not the database passwords)"}
	// needPlanApply: plan and apply read and change the servers and place
	// VIPs through the agents; they never talk to the watch.
	needPlanApply = needs{require: true, secrets: []string{schema.SecretAdmin, schema.SecretPassword, schema.SecretAgentToken},
		purpose: "to read and change the servers (plan and apply need the admin password, the accounts' passwords and the agent token, not the monitor token)"}
	// needAgent: mmm agent logs in to its own server (only its own host's
	// admin password: set needs.host) and checks its callers' tokens.
	needAgent = needs{require: true, secrets: []string{schema.SecretAdmin, schema.SecretAgentToken, schema.SecretCloneToken},
		purpose: "for mmm agent (it needs the admin password and the agent tokens only)"}
)

// loadClusterNeeding is loadCluster for a command that needs some secrets only.
func loadClusterNeeding(g *Globals, n needs) (*topology.Cluster, *schema.Loader, error) {
	lookup, err := envLookup(g.EnvFile)
	if err != nil {
		return nil, nil, err
	}
	loader := schema.NewLoader(schema.Options{Vars: g.Var, RequireSecrets: n.require, LookupEnv: lookup, Secrets: n.secrets, Purpose: n.purpose, Host: n.host})
	cluster, diags := loader.Load(g.Config)
	if len(diags) > 0 {
		if err := loader.WriteDiagnostics(g.Stderr, diags); err != nil {
			return nil, loader, err
		}
	}
	if diags.HasErrors() {
		var lines []string
		for _, d := range loader.JSONDiagnostics(diags) {
			if d.Severity != "error" {
				continue
			}
			line := d.Summary
			if d.Filename != "" {
				line = fmt.Sprintf("%s:%d: %s", d.Filename, d.Start.Line, d.Summary)
			}
			if d.Detail != "" {
				line += ": " + strings.Join(strings.Fields(d.Detail), " ")
			}
			lines = append(lines, line)
		}
		return nil, loader, &configError{msg: strings.Join(lines, "\n")}
	}
	return cluster, loader, nil
}

// configError is a topology that did not load. Its diagnostics are on stderr
// already, so it unwraps to a quiet exit 1; its text is for --json outputs.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }
func (e *configError) Unwrap() error { return &ExitError{Code: ExitFailure} }

// envLookup is how env() and MMM_VAR_NAME read their values: from the env
// file (--env-file / MMM_ENV_FILE) when one is given, else from the process
// environment. The file wins over the environment: it was named explicitly.
// Config management writes secrets there (mode 0600) so that they never
// appear on a command line or in a process's environment block.
func envLookup(path string) (func(string) (string, bool), error) {
	if path == "" {
		return os.LookupEnv, nil
	}
	vals, err := readEnvFile(path)
	if err != nil {
		return nil, err
	}
	return func(name string) (string, bool) {
		if v, ok := vals[name]; ok {
			return v, true
		}
		return os.LookupEnv(name)
	}, nil
}

// readEnvFile reads KEY=VALUE lines. Blank lines and lines starting with #
// are skipped, a leading "export " is allowed, and a value wholly enclosed
// in one pair of matching quotes loses them; nothing else is interpreted
// (no escapes, no ${…}), so a secret is taken exactly as written. The file
// must not be readable by group or others: it holds passwords.
func readEnvFile(path string) (map[string]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("--env-file: %s is a directory, not a KEY=VALUE file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("--env-file: %s has mode %04o, so other users can read the secrets in it; run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !validEnvName(key) {
			// Never quote the line: it may be a secret written wrongly.
			return nil, fmt.Errorf("--env-file: %s line %d is not KEY=VALUE (KEY of letters, digits and _)", path, n)
		}
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		vals[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--env-file: read %s: %w", path, err)
	}
	return vals, nil
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
