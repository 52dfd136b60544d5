package cli

import "github.com/mysql-mmm/mmm/internal/watch"

// ModeCmd is `mmm mode active|passive|manual`.
type ModeCmd struct {
	ControlFlags
	Mode string `arg:"" help:"active (automatic failover), manual (operator moves only) or passive (changes nothing)." enum:"active,passive,manual"`
}

func (c *ModeCmd) Run(g *Globals) error {
	return runCommand(g, c.ControlFlags, "mode", watch.Command{Mode: c.Mode})
}
