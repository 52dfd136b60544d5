package cli

import "github.com/mysql-mmm/mmm/internal/watch"

// MoveRoleCmd is `mmm move-role [--force] ROLE HOST` (mmm_control move_role):
// a planned switchover of an exclusive role.
type MoveRoleCmd struct {
	ControlFlags
	Force bool   `help:"Also move to a host in REPLICATION_DELAY or REPLICATION_FAIL."`
	Role  string `arg:"" help:"The exclusive role (the writer)." placeholder:"ROLE"`
	Host  string `arg:"" help:"The host to move it to." placeholder:"HOST"`
}

func (c *MoveRoleCmd) Run(g *Globals) error {
	return runCommand(g, c.ControlFlags, "move-role", watch.Command{Role: c.Role, Host: c.Host, Force: c.Force})
}
