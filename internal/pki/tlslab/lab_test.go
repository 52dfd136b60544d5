// Package tlslab runs a lab with the tls block on (labtest.TLS, lab subnet
// 198.18.20.0/24): the real mmm binary's agents, apply, a physical clone
// between agents, watch, show and a failover over mutual TLS, and what a
// client without the right certificate gets (nothing).
package tlslab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/clone"
	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/internal/watch"
)

func TestMain(m *testing.M) {
	labtest.Main(m, "../../../examples/lab/mmm.hcl", labtest.Subnet("198.18.20"), labtest.TLS())
}

func mmm(t *testing.T, bin, cfg string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--config", cfg)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("mmm %v: %v", args, err)
	}
	return out.String(), 0
}

// badClients are TLS settings that must get no answer at all: no client
// certificate, and a certificate of another CA (both trust the lab's CA, so
// only the client side is wrong).
func badClients(t *testing.T, c *topology.Cluster) map[string]*tls.Config {
	t.Helper()
	good, err := pki.ClientConfig(c.TLS.Dir, pki.Operator)
	if err != nil {
		t.Fatal(err)
	}
	noCert := good.Clone()
	noCert.Certificates = nil
	otherDir := t.TempDir()
	if _, err := pki.Init(c, otherDir, false); err != nil {
		t.Fatal(err)
	}
	other, err := pki.ClientConfig(otherDir, pki.Operator)
	if err != nil {
		t.Fatal(err)
	}
	other.RootCAs = good.RootCAs
	return map[string]*tls.Config{"no certificate (token only)": noCert, "another CA's operator certificate": other}
}

func statusCode(err error) int {
	var ae *agent.APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	var we *watch.APIError
	if errors.As(err, &we) {
		return we.StatusCode
	}
	return 0
}

type watchProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string
	done chan struct{}
}

func (w *watchProc) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.log, "\n")
}

func startWatch(t *testing.T, bin, cfg string) *watchProc {
	cmd := exec.Command(bin, "watch", "--config", cfg, "--state-file", filepath.Join(t.TempDir(), "watch.state"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mmm watch: %v", err)
	}
	w := &watchProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			w.mu.Lock()
			w.log = append(w.log, sc.Text())
			w.mu.Unlock()
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-w.done
		}
	})
	return w
}

func waitWatch(t *testing.T, c *watch.Client, w *watchProc, timeout time.Duration, what string, cond func(r *watch.Report) bool) *watch.Report {
	t.Helper()
	var last *watch.Report
	var lastErr error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r, err := c.Status(context.Background())
		if lastErr = err; err == nil {
			if last = r; cond(r) {
				return r
			}
		}
	}
	t.Fatalf("%s: not within %s (last error %v); status %+v\nwatch log:\n%s", what, timeout, lastErr, last, w.text())
	return nil
}

func allOnline(r *watch.Report) bool {
	for _, h := range r.Hosts {
		if h.State != watch.Online {
			return false
		}
	}
	return len(r.Hosts) > 0
}

func TestTLSLab(t *testing.T) {
	l := labtest.Get(t)
	c := l.Cluster()
	if !c.TLSOn() {
		t.Fatal("labtest.TLS did not set the tls dir")
	}
	bin, cfg := labtest.StartAgents(t)
	ctx := context.Background()
	hosts := []string{}
	for _, h := range c.Hosts {
		hosts = append(hosts, h.Name)
	}

	t.Run("agents answer the cluster's certificates only", func(t *testing.T) {
		op := &agent.Client{Cluster: c, Timeout: 3 * time.Second}
		for _, h := range hosts {
			if _, err := op.Status(ctx, h); err != nil {
				t.Fatalf("operator status of %s: %v", h, err)
			}
		}
		for name, cfg := range badClients(t, c) {
			bad := &agent.Client{Cluster: c, Timeout: 3 * time.Second, TLSConfig: cfg}
			for _, h := range hosts {
				for ep, call := range map[string]func() error{
					"status":  func() error { _, err := bad.Status(ctx, h); return err },
					"roles":   func() error { _, err := bad.SetRoles(ctx, h, nil, nil); return err },
					"fence":   func() error { _, err := bad.Fence(ctx, h, agent.FenceRequest{}); return err },
					"witness": func() error { _, err := bad.Witness(ctx, h, hosts, 0); return err },
					"backup":  func() error { _, _, err := bad.Backup(ctx, h); return err },
					"clone":   func() error { _, err := bad.Clone(ctx, h, "master1", false, nil); return err },
				} {
					if err := call(); err == nil || statusCode(err) != 0 {
						t.Errorf("%s, %s on %s: %v; want no answer (handshake refused)", name, ep, h, err)
					}
				}
			}
		}
		// A host's certificate does not fetch another host's backup.
		slave1 := &agent.Client{Cluster: c, Identity: pki.Host("slave1"), Timeout: 5 * time.Second}
		if _, _, err := slave1.Backup(ctx, "master1"); statusCode(err) != http.StatusForbidden {
			t.Errorf("slave1's certificate fetching master1's backup: %v, want 403", err)
		}
		// Nor may it place roles.
		if _, err := slave1.SetRoles(ctx, "master1", nil, nil); statusCode(err) != http.StatusForbidden {
			t.Errorf("slave1's certificate setting master1's roles: %v, want 403", err)
		}
	})

	// Replication channels over TLS too, verified with the cluster's CA.
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(text), "replication {\n") != 1 {
		t.Fatal("the lab's file has no single replication block")
	}
	text = []byte(strings.Replace(string(text), "replication {\n",
		fmt.Sprintf("replication {\n  ssl    = true\n  ssl_ca = %q\n", filepath.Join(c.TLS.Dir, pki.CAFile)), 1))
	if err := os.WriteFile(cfg, text, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := mmm(t, bin, cfg, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("mmm apply over TLS: exit %d\n%s", code, out)
	}
	t.Run("admin sessions and replication use TLS", func(t *testing.T) {
		for _, h := range c.Hosts {
			if h.Admin.TLS != topology.AdminTLSVerify {
				t.Fatalf("%s: admin.tls %q, labtest.TLS sets verify", h.Name, h.Admin.TLS)
			}
			db, err := conn.Open(ctx, h, conn.Timeouts{})
			if err != nil {
				t.Fatalf("admin session to %s with tls = verify: %v", h.Name, err)
			}
			var name, cipher string
			if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil || cipher == "" {
				t.Errorf("%s: admin session cipher %q (%v), want TLS", h.Name, cipher, err)
			}
			if h.Mode == topology.ModeSlave {
				rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
				if err != nil {
					t.Fatal(err)
				}
				cols, _ := rows.Columns()
				vals := make([]sql.NullString, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if !rows.Next() {
					t.Fatalf("%s replicates from nobody", h.Name)
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				rows.Close()
				found := false
				for i, col := range cols {
					if col == "Master_SSL_Allowed" {
						found = true
						if vals[i].String != "Yes" {
							t.Errorf("%s: Master_SSL_Allowed %q, want Yes (replication.ssl)", h.Name, vals[i].String)
						}
					}
				}
				if !found {
					t.Errorf("%s: SHOW SLAVE STATUS has no Master_SSL_Allowed column: %v", h.Name, cols)
				}
			}
			db.Close()
		}
		// A CA that did not sign the servers' certificates: no session.
		otherDir := t.TempDir()
		if _, err := pki.Init(c, otherDir, false); err != nil {
			t.Fatal(err)
		}
		h := *c.Hosts[0]
		h.Admin.TLSCA = filepath.Join(otherDir, pki.CAFile)
		if db, err := conn.Open(ctx, &h, conn.Timeouts{}); err == nil {
			db.Close()
			t.Error("admin tls = verify accepted a server certificate of another CA")
		}
	})
	if out, code := mmm(t, bin, cfg, "plan", "--detailed-exitcode"); code != 0 {
		t.Fatalf("mmm plan after apply: exit %d (want 0: converged)\n%s", code, out)
	}

	t.Run("bootstrap (physical clone) between agents over TLS", func(t *testing.T) {
		op := &agent.Client{Cluster: c, Timeout: 10 * time.Second}
		// Never onto the current writer, even with overwrite.
		if _, err := op.Clone(ctx, "master1", "master2", true, nil); err == nil || !strings.Contains(err.Error(), "current writer") {
			t.Fatalf("clone onto the writer master1: %v, want refused", err)
		}
		// slave2 is made a copy of slave1: slave2's agent (operator's
		// request) fetches slave1's backup with its host certificate, and
		// slave1's agent checks back that slave2 is cloning from it.
		db, err := l.DB("slave2")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// The restore refuses a server that replicates (it would be a live copy).
		if _, err := db.ExecContext(ctx, "STOP SLAVE"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "RESET SLAVE ALL"); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		events := 0
		res, err := op.Clone(cctx, "slave2", "slave1", true, func(clone.PhysicalEvent) { events++ })
		if err != nil {
			t.Fatalf("clone slave1 → slave2 over TLS: %v", err)
		}
		t.Logf("slave2 cloned from %s over TLS: %d bytes in %s, %d events", res.Donor, res.Bytes, res.Duration, events)
		if out, code := mmm(t, bin, cfg, "apply", "--auto-approve"); code != 0 {
			t.Fatalf("mmm apply after the clone: exit %d\n%s", code, out)
		}
	})

	w := startWatch(t, bin, cfg)
	wc, err := watch.NewClient(c, c.Monitor.Token.Value())
	if err != nil {
		t.Fatal(err)
	}
	wc.Timeout = 3 * time.Second
	waitWatch(t, wc, w, 60*time.Second, "the watch over TLS sees every host ONLINE, master1 the writer", func(r *watch.Report) bool {
		return allOnline(r) && r.Writer == "master1" && r.Busy == ""
	})

	t.Run("mmm show and the control API over TLS", func(t *testing.T) {
		out, code := mmm(t, bin, cfg, "show")
		if code != 0 || !strings.Contains(out, "master1") {
			t.Fatalf("mmm show: exit %d\n%s", code, out)
		}
		for name, cfg := range badClients(t, c) {
			bad := &watch.Client{Base: wc.Base, Token: c.Monitor.Token.Value(), Timeout: 3 * time.Second,
				HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}}
			if _, err := bad.Status(ctx); err == nil || statusCode(err) != 0 {
				t.Errorf("%s: status %v, want no answer", name, err)
			}
			if _, err := bad.Command(ctx, "mode", watch.Command{Mode: "manual"}); err == nil || statusCode(err) != 0 {
				t.Errorf("%s: mode %v, want no answer", name, err)
			}
		}
		plain := &watch.Client{Base: strings.Replace(wc.Base, "https://", "http://", 1), Token: c.Monitor.Token.Value(), Timeout: 3 * time.Second}
		if _, err := plain.Status(ctx); err == nil {
			t.Error("plain HTTP with the token got a status")
		}
	})

	t.Run("kill -9 of the writer: failover over TLS", func(t *testing.T) {
		pid := l.ServerPID("master1")
		if pid <= 0 {
			t.Fatal("no pid for master1's server")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d: %v", pid, err)
		}
		r := waitWatch(t, wc, w, 60*time.Second, "the watch fails over", func(r *watch.Report) bool {
			return r.Writer != "" && r.Writer != "master1" && r.Busy == ""
		})
		t.Logf("the watch promoted %s", r.Writer)
		st, err := (&agent.Client{Cluster: c, Timeout: 3 * time.Second}).Status(ctx, r.Writer)
		if err != nil {
			t.Fatal(err)
		}
		var vip string
		for _, role := range c.Roles {
			if role.Name == c.ActiveMasterRole {
				vip = role.IPs[0]
			}
		}
		if !st.Holds(vip) {
			t.Errorf("the new writer %s does not hold the writer VIP %s: %+v", r.Writer, vip, st.Roles)
		}

		// The watch dies: the writer's agent keeps the role through the
		// failsafe, asking the other agents with its host certificate.
		if err := w.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-w.done
		time.Sleep(5 * time.Second) // five leases
		st, err = (&agent.Client{Cluster: c, Timeout: 3 * time.Second}).Status(ctx, r.Writer)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Holds(vip) {
			t.Errorf("the writer %s lost its VIP after the watch died (failsafe over TLS): %+v, fence %+v", r.Writer, st.Roles, st.Fence)
		}
	})
}
