package topology

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestServerIDFor(t *testing.T) {
	c := &Cluster{Hosts: []*Host{
		{Name: "a"},              // derived: 3 (1 and 2 are declared below)
		{Name: "b", ServerID: 2}, // declared
		{Name: "c"},              // derived: 4
		{Name: "d", ServerID: 1}, // declared, though after a and c: derived ids skip it
	}}
	got := map[string]uint32{}
	seen := map[uint32]string{}
	for _, h := range c.Hosts {
		id := c.ServerIDFor(h)
		got[h.Name] = id
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share server_id %d", h.Name, other, id)
		}
		seen[id] = h.Name
	}
	want := map[string]uint32{"a": 3, "b": 2, "c": 4, "d": 1}
	for name, id := range want {
		if got[name] != id {
			t.Errorf("ServerIDFor(%s) = %d, want %d (all: %v)", name, got[name], id, got)
		}
	}
	// Stable: the same file gives the same ids every time.
	for _, h := range c.Hosts {
		if again := c.ServerIDFor(h); again != got[h.Name] {
			t.Errorf("ServerIDFor(%s) changed: %d then %d", h.Name, got[h.Name], again)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const value = "s3cr3t-value"
	s := NewSecret(value, `env("X")`)
	u := User{Name: "app", Host: "%", Password: s}

	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("user", "user", u, "password", s)
	js, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", u),
		"%+v":  fmt.Sprintf("%+v", u),
		"%#v":  fmt.Sprintf("%#v", u),
		"%s":   fmt.Sprintf("%s", s), //lint:ignore S1025 the test is about what fmt prints
		"json": string(js),
		"slog": logs.String(),
	}
	for format, out := range outputs {
		if strings.Contains(out, value) {
			t.Errorf("%s output holds the secret: %s", format, out)
		}
		if !strings.Contains(out, "redacted") { // JSON writes < and > as \u003c, \u003e
			t.Errorf("%s output does not say %s: %s", format, Redacted, out)
		}
	}
	if s.Value() != value {
		t.Errorf("Value() = %q", s.Value())
	}
}

func TestIsServerSchema(t *testing.T) {
	for name, want := range map[string]bool{
		"mysql": true, "INFORMATION_SCHEMA": true, "performance_schema": true, "sys": true,
		"#mysql50#lost+found": true, // a mount point's lost+found in the data directory
		"shop":                false, "mmm_clone": false, "sysadmin": false, "lost+found": false,
	} {
		if got := IsServerSchema(name); got != want {
			t.Errorf("IsServerSchema(%q) = %v, want %v", name, got, want)
		}
	}
}
