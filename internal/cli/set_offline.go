package cli

import "github.com/mysql-mmm/mmm/internal/watch"

// SetOfflineCmd is `mmm set-offline HOST` (mmm_control set_offline).
type SetOfflineCmd struct {
	ControlFlags
	Host string `arg:"" help:"The host to set ADMIN_OFFLINE (the writer hands its role over first)." placeholder:"HOST"`
}

func (c *SetOfflineCmd) Run(g *Globals) error {
	return runCommand(g, c.ControlFlags, "set-offline", watch.Command{Host: c.Host})
}
