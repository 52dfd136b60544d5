package cli

import (
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/schema"
)

// loadCluster loads the topology named by --config, renders its diagnostics
// (warnings too) on stderr, and fails with exit code 1 when there are errors.
// requireSecrets is true for commands that connect: then an unset env(),
// file() or variable is an error instead of a warning.
func loadCluster(g *Globals, requireSecrets bool) (*topology.Cluster, *schema.Loader, error) {
	loader := schema.NewLoader(schema.Options{Vars: g.Var, RequireSecrets: requireSecrets})
	cluster, diags := loader.Load(g.Config)
	if len(diags) > 0 {
		if err := loader.WriteDiagnostics(g.Stderr, diags); err != nil {
			return nil, loader, err
		}
	}
	if diags.HasErrors() {
		return nil, loader, &ExitError{Code: ExitFailure}
	}
	return cluster, loader, nil
}
