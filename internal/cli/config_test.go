package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadEnvFile(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		mode    os.FileMode
		want    map[string]string
		wantErr string
	}{
		{name: "pairs, comments, export, quotes", mode: 0o600,
			text: "# c\n\nA=1\nexport B=two words\nC=\"q\"\nD='s'\nE=a=b\nF=\nG=\"unbalanced\n  H = spaced \n",
			want: map[string]string{"A": "1", "B": "two words", "C": "q", "D": "s", "E": "a=b", "F": "", "G": "\"unbalanced", "H": " spaced"}},
		{name: "owner read-only is fine", mode: 0o400, text: "A=1\n", want: map[string]string{"A": "1"}},
		{name: "group readable", mode: 0o640, text: "A=1\n", wantErr: "has mode 0640, so other users can read the secrets in it; run chmod 600"},
		{name: "world readable", mode: 0o604, text: "A=1\n", wantErr: "has mode 0604"},
		{name: "not KEY=VALUE", mode: 0o600, text: "A=1\nsecret-without-key\n", wantErr: "line 2 is not KEY=VALUE"},
		{name: "bad key", mode: 0o600, text: "1A=x\n", wantErr: "line 1 is not KEY=VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secrets.env")
			if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := readEnvFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret-without-key") {
					t.Fatalf("the error quotes the line: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d keys %v, want %v", len(got), got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestEnvLookupFileWins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.env")
	if err := os.WriteFile(path, []byte("MMM_TEST_ENVFILE_A=from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MMM_TEST_ENVFILE_A", "from-env")
	t.Setenv("MMM_TEST_ENVFILE_B", "env-only")
	lookup, err := envLookup(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := lookup("MMM_TEST_ENVFILE_A"); v != "from-file" {
		t.Errorf("A = %q, want the file's value", v)
	}
	if v, _ := lookup("MMM_TEST_ENVFILE_B"); v != "env-only" {
		t.Errorf("B = %q, want the environment's value", v)
	}
	if _, ok := lookup("MMM_TEST_ENVFILE_UNSET"); ok {
		t.Errorf("an unset name is found")
	}
}
