package cli

import (
	"fmt"
	"time"
)

// ChecksCmd is `mmm checks [HOST]` (mmm_control checks).
type ChecksCmd struct {
	ControlFlags
	Host string `arg:"" optional:"" help:"Only this host." placeholder:"HOST"`
}

func (c *ChecksCmd) Run(g *Globals) error {
	client, err := watchClient(g)
	if err != nil {
		return err
	}
	out, err := client.Checks(ctxBackground(), c.Host)
	if err != nil {
		return &ExitError{Code: ExitFailure, Err: err}
	}
	if c.JSON {
		return printJSON(g.Stdout, out)
	}
	for _, cr := range out {
		verdict := "ok"
		if !cr.OK {
			verdict = "FAILED"
		} else if !cr.LastOK && cr.FailingSince != nil {
			verdict = "failing (trap period)"
		}
		last := "never"
		if !cr.LastRun.IsZero() {
			last = fmt.Sprintf("%s ago", time.Since(cr.LastRun).Round(time.Millisecond))
		}
		fmt.Fprintf(g.Stdout, "%-10s %-12s [last change/check: %s] %s: %s\n", cr.Host, cr.Check, last, verdict, cr.Detail)
	}
	return nil
}
