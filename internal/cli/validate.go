package cli

import (
	"encoding/json"
	"fmt"

	"github.com/mysql-mmm/mmm/schema"
)

// ValidateCmd checks the topology offline: no server is contacted and no
// secret is needed (an unset env()/file()/variable is a warning).
type ValidateCmd struct {
	JSON bool `help:"Print the diagnostics as a JSON array (for CI annotations)."`
}

func (v *ValidateCmd) Run(g *Globals) error {
	if !v.JSON {
		loader := schema.NewLoader(schema.Options{Vars: g.Var, Advise: true})
		_, diags := loader.Load(g.Config)
		if len(diags) > 0 {
			if err := loader.WriteDiagnostics(g.Stderr, diags); err != nil {
				return err
			}
		}
		switch {
		case diags.HasErrors():
			return &ExitError{Code: ExitFailure}
		case len(diags) > 0:
			fmt.Fprintln(g.Stdout, "Success! The configuration is valid, but there were some warnings as shown above.")
		default:
			fmt.Fprintln(g.Stdout, "Success! The configuration is valid.")
		}
		return nil
	}
	loader := schema.NewLoader(schema.Options{Vars: g.Var, Advise: true})
	_, diags := loader.Load(g.Config)
	out, err := json.MarshalIndent(loader.JSONDiagnostics(diags), "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintln(g.Stdout, string(out))
	if diags.HasErrors() {
		return &ExitError{Code: ExitFailure}
	}
	return nil
}
