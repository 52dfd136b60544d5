package cli

import "github.com/mysql-mmm/mmm/internal/watch"

// SetOnlineCmd is `mmm set-online HOST` (mmm_control set_online).
type SetOnlineCmd struct {
	ControlFlags
	Host string `arg:"" help:"The host to set ONLINE." placeholder:"HOST"`
}

func (c *SetOnlineCmd) Run(g *Globals) error {
	return runCommand(g, c.ControlFlags, "set-online", watch.Command{Host: c.Host})
}
