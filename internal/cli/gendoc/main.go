// Command gendoc writes the topology language reference, docs/language.md,
// from the schema package's documentation (schema/doc.go), so that the
// reference needs neither the source nor Go to read: `mmm doc language`
// prints the same text, embedded. Run by `go generate ./internal/cli`;
// gendoc's test fails when a checked-in copy is stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/doc"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
)

type outs []string

func (o *outs) String() string     { return fmt.Sprint(*o) }
func (o *outs) Set(s string) error { *o = append(*o, s); return nil }

func main() {
	schemaDir := flag.String("schema", "../../schema", "the schema package's directory")
	var files outs
	flag.Var(&files, "out", "a file to write (repeatable)")
	flag.Parse()
	md, err := render(*schemaDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
	for _, f := range files {
		if err := os.WriteFile(f, md, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gendoc:", err)
			os.Exit(1)
		}
	}
}

const header = `<!-- Generated from schema/doc.go by ` + "`go generate ./internal/cli`" + `; do not edit. -->

# Topology language reference

The same text is built into mmm: ` + "`mmm doc language`" + `. Examples: examples/classic,
examples/master-pair, examples/lab; the shared accounts module: modules/mmm-users.

`

// render turns the schema package's doc comment into Markdown, headings one
// level below the title.
func render(schemaDir string) ([]byte, error) {
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(schemaDir, "*.go")) // sorted
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", schemaDir, err)
	}
	var files []*ast.File
	for _, name := range names {
		if isTest(name) {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		if f.Name.Name == "schema" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no package schema in %s", schemaDir)
	}
	dp, err := doc.NewFromFiles(fset, files, "github.com/mysql-mmm/mmm/schema")
	if err != nil {
		return nil, err
	}
	var pr comment.Printer
	pr.HeadingLevel = 2
	var buf bytes.Buffer
	buf.WriteString(header)
	buf.Write(pr.Markdown(dp.Parser().Parse(dp.Doc)))
	return buf.Bytes(), nil
}

func isTest(name string) bool {
	return len(name) > len("_test.go") && name[len(name)-len("_test.go"):] == "_test.go"
}
