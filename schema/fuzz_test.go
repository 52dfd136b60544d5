package schema

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary bytes to the loader as if they were
// examples/lab/mmm.hcl (so module sources resolve). It must never panic, and
// a nil cluster must come with errors. The seed corpus (every example,
// module and invalid fixture) runs in plain `go test`.
func FuzzLoad(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{"../examples/*/*.hcl", "../modules/*/*.hcl", "testdata/invalid/*.hcl"} {
		m, _ := filepath.Glob(pattern)
		seeds = append(seeds, m...)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	name, err := filepath.Abs("../examples/lab/fuzz.hcl")
	if err != nil {
		f.Fatal(err)
	}
	// While fuzzing (not in plain go test), an input that takes minutes is a
	// hang the fuzzer cannot see on its own: crash the worker so the input is
	// saved in testdata/fuzz.
	fuzzing := flag.Lookup("test.fuzz") != nil && flag.Lookup("test.fuzz").Value.String() != ""
	f.Fuzz(func(t *testing.T, src []byte) {
		if fuzzing {
			hang := time.AfterFunc(30*time.Second, func() {
				panic(fmt.Sprintf("FuzzLoad: loading this input did not finish in 30s (a hang): %q", src))
			})
			defer hang.Stop()
		}
		l := NewLoader(Options{LookupEnv: fakeEnv})
		c, diags := l.loadSource(name, src)
		if c == nil && !diags.HasErrors() {
			t.Fatalf("nil cluster without errors")
		}
		if c != nil && diags.HasErrors() {
			t.Fatalf("cluster with errors")
		}
		_ = l.WriteDiagnostics(discard{}, diags)
		_ = l.JSONDiagnostics(diags)
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
