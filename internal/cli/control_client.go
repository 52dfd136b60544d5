package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/mysql-mmm/mmm/internal/watch"
)

// ControlFlags are the flags of the commands that talk to a running watch.
type ControlFlags struct {
	JSON bool `help:"Print the answer as JSON." name:"json"`
}

// watchClient is a client of the watch the topology's monitor block names.
func watchClient(g *Globals) (*watch.Client, error) {
	c, _, err := loadClusterNeeding(g, needMonitorToken)
	if err != nil {
		return nil, err
	}
	if c.Monitor.Token.Value() == "" {
		return nil, watch.ErrNoToken
	}
	return watch.NewClient(c, c.Monitor.Token.Value())
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// runCommand sends one of the watch's POST commands and prints its answer.
func runCommand(g *Globals, f ControlFlags, verb string, cmd watch.Command) error {
	client, err := watchClient(g)
	if err != nil {
		return err
	}
	ok, err := client.Command(ctxBackground(), verb, cmd)
	if err != nil {
		if f.JSON {
			_ = printJSON(g.Stdout, map[string]string{"error": err.Error()})
		}
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("ERROR: %w", err)}
	}
	if f.JSON {
		return printJSON(g.Stdout, ok)
	}
	fmt.Fprintln(g.Stdout, ok.Message)
	return nil
}
