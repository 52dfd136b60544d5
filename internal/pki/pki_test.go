package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

func cluster() *topology.Cluster {
	return &topology.Cluster{
		Name: "shop",
		Hosts: []*topology.Host{
			{Name: "db1", Address: "10.0.0.11"},
			{Name: "db2", Address: "10.0.0.12"},
		},
		Monitor: topology.Monitor{Listen: "10.0.0.1:9988"},
	}
}

func TestIdentityURI(t *testing.T) {
	for _, id := range []Identity{Host("db1"), Monitor, Operator} {
		got, ok := ParseURI(id.URI())
		if !ok || got != id {
			t.Errorf("%s: %s parsed back as %v %v", id, id.URI(), got, ok)
		}
	}
	for _, s := range []string{"https://host/db1", "mmm://host/", "mmm://host/a/b", "mmm://root", "mmm://monitor/x"} {
		u, _ := url.Parse(s)
		if id, ok := ParseURI(u); ok {
			t.Errorf("%s parsed as %v", s, id)
		}
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	res, err := Init(cluster(), dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.CAKept || len(res.Leaves) != 4 {
		t.Fatalf("first run: %+v", res)
	}
	// Keys 0600, certificates readable; the directory 0700.
	for _, id := range []Identity{Host("db1"), Host("db2"), Monitor, Operator} {
		st, err := os.Stat(id.KeyFile(dir))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s key: %v %v", id, st.Mode(), err)
		}
		if _, err := ServerConfig(dir, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", st.Mode())
	}
	db1 := readCert(t, Host("db1").CertFile(dir))
	if len(db1.IPAddresses) != 1 || db1.IPAddresses[0].String() != "10.0.0.11" || db1.URIs[0].String() != "mmm://host/db1" || db1.DNSNames[0] != "db1" {
		t.Errorf("db1 SANs: %v %v %v", db1.IPAddresses, db1.DNSNames, db1.URIs)
	}
	mon := readCert(t, Monitor.CertFile(dir))
	if mon.IPAddresses[0].String() != "10.0.0.1" || mon.URIs[0].String() != "mmm://monitor" {
		t.Errorf("monitor SANs: %v %v", mon.IPAddresses, mon.URIs)
	}
	op := readCert(t, Operator.CertFile(dir))
	if len(op.ExtKeyUsage) != 1 || op.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("the operator certificate must be for clients only: %v", op.ExtKeyUsage)
	}

	// Idempotent: a second run keeps everything.
	ca1, _ := os.ReadFile(filepath.Join(dir, CAFile))
	res, err = Init(cluster(), dir, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range res.Leaves {
		if !l.Kept {
			t.Errorf("%s re-issued on a second run", l.ID)
		}
	}
	if !res.CAKept {
		t.Error("CA re-made without --force")
	}
	// A changed address re-issues that host's certificate only.
	c := cluster()
	c.Hosts[1].Address = "10.0.0.22"
	res, _ = Init(c, dir, false)
	for _, l := range res.Leaves {
		if l.Kept == (l.ID == Host("db2")) {
			t.Errorf("%s kept=%v after db2's address changed", l.ID, l.Kept)
		}
	}
	// --force: a new CA.
	if _, err := Init(cluster(), dir, true); err != nil {
		t.Fatal(err)
	}
	ca2, _ := os.ReadFile(filepath.Join(dir, CAFile))
	if bytes.Equal(ca1, ca2) {
		t.Error("--force kept the CA")
	}
	// A CA without its key is not overwritten silently.
	os.Remove(filepath.Join(dir, CAKeyFile))
	if _, err := Init(cluster(), dir, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("CA without key: %v", err)
	}
}

// TestMonitorNames: a watch listening on 0.0.0.0 gets the addresses it is
// reached by; adding one re-issues the monitor's certificate only.
func TestMonitorNames(t *testing.T) {
	dir := t.TempDir()
	c := cluster()
	c.Monitor.Listen = "0.0.0.0:9988"
	if _, err := Init(c, dir, false); err != nil {
		t.Fatal(err)
	}
	mon := readCert(t, Monitor.CertFile(dir))
	if len(mon.IPAddresses) != 2 || !mon.IPAddresses[0].IsLoopback() {
		t.Errorf("0.0.0.0 must not be a SAN, loopback must: %v", mon.IPAddresses)
	}
	res, err := InitWith(c, dir, Options{MonitorNames: []string{"10.0.0.5", "monitor.example"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range res.Leaves {
		if l.Kept == (l.ID == Monitor) {
			t.Errorf("%s kept=%v after a monitor name was added", l.ID, l.Kept)
		}
	}
	mon = readCert(t, Monitor.CertFile(dir))
	if err := mon.VerifyHostname("10.0.0.5"); err != nil {
		t.Error(err)
	}
	if err := mon.VerifyHostname("monitor.example"); err != nil {
		t.Error(err)
	}
}

func TestReservedHostName(t *testing.T) {
	c := cluster()
	c.Hosts[0].Name = "monitor"
	if _, err := Init(c, t.TempDir(), false); err == nil {
		t.Error("a host called monitor was accepted")
	}
}

func TestLoadErrorsSayWhatToDo(t *testing.T) {
	dir := t.TempDir()
	if _, err := ClientConfig(dir, Operator); err == nil || !strings.Contains(err.Error(), "mmm tls init") {
		t.Errorf("no CA: %v", err)
	}
	if _, err := Init(cluster(), dir, false); err != nil {
		t.Fatal(err)
	}
	os.Chmod(Operator.KeyFile(dir), 0o644)
	if _, err := ClientConfig(dir, Operator); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("key readable by others: %v", err)
	}
}
