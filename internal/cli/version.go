package cli

import "fmt"

// VersionCmd prints the version set at build time.
type VersionCmd struct{}

func (VersionCmd) Run(g *Globals) error {
	fmt.Fprintf(g.Stdout, "mmm %s\n", g.Version)
	return nil
}
