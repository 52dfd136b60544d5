package cli

import (
	_ "embed"
	"fmt"
)

//go:generate go run ./gendoc -schema ../../schema -out ../../docs/language.md -out doc_language.md

// languageDoc is docs/language.md, generated from the schema package's
// documentation (gendoc), so the reference needs neither source nor Go.
//
//go:embed doc_language.md
var languageDoc string

// DocCmd prints reference documentation built into the binary.
type DocCmd struct {
	Language DocLanguageCmd `cmd:"" help:"The topology language reference (docs/language.md)."`
}

// DocLanguageCmd prints the topology language reference.
type DocLanguageCmd struct{}

func (c *DocLanguageCmd) Run(g *Globals) error {
	_, err := fmt.Fprint(g.Stdout, languageDoc)
	return err
}
