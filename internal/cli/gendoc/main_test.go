package main

import (
	"bytes"
	"os"
	"testing"
)

// TestCheckedInCopiesAreCurrent fails when schema/doc.go changed and the
// generated reference was not regenerated (go generate ./internal/cli).
func TestCheckedInCopiesAreCurrent(t *testing.T) {
	want, err := render("../../../schema")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"../../../docs/language.md", "../doc_language.md"} {
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./internal/cli", f)
		}
	}
}

func TestRenderHasTheBlocks(t *testing.T) {
	md, err := render("../../../schema")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"## Blocks and defaults", "cluster \"NAME\"", "env(\"NAME\")", "## Grants"} {
		if !bytes.Contains(md, []byte(s)) {
			t.Errorf("the reference lacks %q", s)
		}
	}
}
