package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/ui"
	"github.com/mysql-mmm/mmm/internal/watch"
)

func ctxBackground() context.Context { return context.Background() }

// ShowCmd is `mmm show` (mmm_control show): every host with its address, mode,
// state and roles; with --format dot or svg, the topology as a picture (the
// status page's drawing) for reports and chat.
type ShowCmd struct {
	ControlFlags
	Format string `help:"Output: text, json, dot (Graphviz) or svg." enum:"text,json,dot,svg" default:"text" env:"MMM_SHOW_FORMAT"`
}

func (c *ShowCmd) Run(g *Globals) error {
	client, err := watchClient(g)
	if err != nil {
		return err
	}
	if c.Format == "dot" || c.Format == "svg" {
		v, err := client.View(ctxBackground())
		if err != nil {
			return &ExitError{Code: ExitFailure, Err: err}
		}
		if c.Format == "dot" {
			return ui.DOT(g.Stdout, v)
		}
		return ui.SVG(g.Stdout, v)
	}
	r, err := client.Status(ctxBackground())
	if err != nil {
		return &ExitError{Code: ExitFailure, Err: err}
	}
	if c.JSON || c.Format == "json" {
		return printJSON(g.Stdout, r)
	}
	renderShow(g.Stdout, r)
	return nil
}

// renderShow prints as mmm_control show did:
//
//	# Mode: active, writer: master1
//	  master1(198.18.0.11) master/ONLINE. Roles: writer(198.18.0.100)
func renderShow(w io.Writer, r *watch.Report) {
	head := fmt.Sprintf("# Mode: %s, writer: %s", r.Mode, orNoneCLI(r.Writer))
	if r.ModeReason != "" && r.Mode != watch.ModeActive {
		head += " (" + r.ModeReason + ")"
	}
	fmt.Fprintln(w, head)
	if r.Busy != "" {
		fmt.Fprintf(w, "# BUSY: %s (the rest is from the last round before it)\n", r.Busy)
	}
	if r.NetworkDown {
		fmt.Fprintln(w, "# WARNING: the monitor cannot reach monitor.ping_ips: it changes nothing")
	}
	if r.WriterVerdict != "" && r.WriterVerdict != watch.WriterAlive {
		fmt.Fprintf(w, "# WARNING: writer %s: %s\n", r.WriterVerdict, r.VerdictWhy)
	}
	if r.LastFailure != "" {
		fmt.Fprintf(w, "# WARNING: %s\n", r.LastFailure)
	}
	if strings.HasPrefix(r.SemiSync, "OFF") {
		fmt.Fprintf(w, "# WARNING: semi-sync %s\n", r.SemiSync)
	}
	for _, h := range r.Hosts {
		var roles []string
		for _, ro := range h.Roles {
			roles = append(roles, fmt.Sprintf("%s(%s)", ro.Role, ro.IP))
		}
		line := fmt.Sprintf("  %s(%s) %s/%s. Roles: %s", h.Name, h.Address, h.Mode, h.State, strings.Join(roles, ", "))
		if h.Problem != "" {
			line += "  [" + h.Problem + "]"
		} else if h.State != watch.Online && h.Reason != "" {
			line += "  (" + h.Reason + ")"
		}
		fmt.Fprintln(w, line)
		if h.Agent != "" {
			fmt.Fprintf(w, "    WARNING: %s\n", h.Agent)
		}
	}
	if len(r.Nodes) > 0 {
		fmt.Fprintf(w, "# Watch nodes (asked %s; leader %s, epoch %d):\n", r.Node, orNoneCLI(r.Leader), r.Epoch)
		for _, n := range r.Nodes {
			line := fmt.Sprintf("  %s(%s) %s, term %d", n.Name, n.Listen, strings.ToLower(n.State), n.Term)
			switch {
			case n.Error != "":
				line += "  (" + n.Error + ")"
			case n.State == "Leader":
			case n.LastContact > 0:
				line += fmt.Sprintf(", last contact %s ago", n.LastContact.Round(time.Millisecond))
			}
			fmt.Fprintln(w, line)
		}
	}
}

func orNoneCLI(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
