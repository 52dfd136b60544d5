package cli

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// FmtCmd rewrites topology files in the canonical HCL format. Directories are
// walked recursively (examples/ holds one topology per subdirectory).
type FmtCmd struct {
	Check bool     `help:"Write nothing; list the files that are not formatted and exit 1 if there are any."`
	Diff  bool     `help:"Print a unified diff of the changes."`
	Paths []string `arg:"" optional:"" help:"Files or directories (default: the --config path)." type:"path"`
}

func (f *FmtCmd) Run(g *Globals) error {
	paths := f.Paths
	if len(paths) == 0 {
		paths = []string{g.Config}
	}
	files, err := hclFilesUnder(paths)
	if err != nil {
		return &ExitError{Code: ExitFailure, Err: err}
	}
	parser := hclparse.NewParser()
	var syntaxErrors hcl.Diagnostics
	changed := 0
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("fmt: %w", err)}
		}
		// hclwrite formats whatever it is given; refuse files that do not parse
		// so a typo is reported, not "formatted".
		if _, diags := parser.ParseHCL(src, name); diags.HasErrors() {
			syntaxErrors = append(syntaxErrors, diags...)
			continue
		}
		out := hclwrite.Format(src)
		if bytes.Equal(src, out) {
			continue
		}
		changed++
		fmt.Fprintln(g.Stdout, name)
		if f.Diff {
			writeUnifiedDiff(g.Stdout, name, string(src), string(out))
		}
		if !f.Check {
			if err := writeFileKeepMode(name, out); err != nil {
				return &ExitError{Code: ExitFailure, Err: fmt.Errorf("fmt: %w", err)}
			}
		}
	}
	if len(syntaxErrors) > 0 {
		wr := hcl.NewDiagnosticTextWriter(g.Stderr, parser.Files(), 100, false)
		_ = wr.WriteDiagnostics(syntaxErrors)
		return &ExitError{Code: ExitFailure}
	}
	if f.Check && changed > 0 {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d file(s) not formatted; run mmm fmt", changed)}
	}
	return nil
}

// hclFilesUnder expands directories into the .hcl files below them, sorted.
func hclFilesUnder(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("fmt: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".hcl") {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("fmt: %w", err)
		}
	}
	sort.Strings(out)
	return out, nil
}

func writeFileKeepMode(name string, data []byte) error {
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	return os.WriteFile(name, data, st.Mode().Perm())
}

// writeUnifiedDiff prints a unified diff of a → b with three lines of
// context. Topology files are small, so a quadratic LCS is fine.
func writeUnifiedDiff(w io.Writer, name, a, b string) {
	al, bl := splitLines(a), splitLines(b)
	// lcs[i][j] = length of the LCS of al[i:] and bl[j:]
	lcs := make([][]int, len(al)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(bl)+1)
	}
	for i := len(al) - 1; i >= 0; i-- {
		for j := len(bl) - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		text string
		ai   int // line index in a (for ' ' and '-')
		bi   int // line index in b (for ' ' and '+')
	}
	var ops []op
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && j < len(bl) && al[i] == bl[j]:
			ops = append(ops, op{' ', al[i], i, j})
			i, j = i+1, j+1
		case j < len(bl) && (i == len(al) || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, op{'+', bl[j], i, j})
			j++
		default:
			ops = append(ops, op{'-', al[i], i, j})
			i++
		}
	}
	fmt.Fprintf(w, "--- %s\n+++ %s (formatted)\n", name, name)
	const context = 3
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		// a hunk: from context lines before the change to context lines after the last nearby change
		start := max(0, k-context)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*context {
				end = min(len(ops), end+context)
				break
			}
			end = run
		}
		var aStart, bStart, aLen, bLen int
		aStart, bStart = ops[start].ai+1, ops[start].bi+1
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				aLen++
			}
			if o.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(w, "@@ -%d,%d +%d,%d @@\n", aStart, aLen, bStart, bLen)
		for _, o := range ops[start:end] {
			fmt.Fprintf(w, "%c%s\n", o.kind, o.text)
		}
		k = end
	}
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
