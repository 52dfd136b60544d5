package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mysql-mmm/mmm/internal/agent"
)

// AgentCmd is `mmm agent --host NAME`: the daemon on every data node that owns
// its virtual IPs (MySQL-MMM's mmm_agentd).
//
// On SIGTERM or SIGINT it stops taking requests and then: in static mode
// (a cluster run by `mmm apply`) it leaves the VIPs where they are, so a
// restart or upgrade of the agent costs no downtime; in lease mode (a
// `mmm watch` renews the writer's lease) it drops the exclusive VIPs and sets
// the server read_only at once, since nobody guards them any more and the watch
// will fail the writer over when the lease it cannot renew runs out.
type AgentCmd struct {
	Host string `help:"The host block this agent runs on." required:"" env:"MMM_AGENT_HOST" placeholder:"NAME"`
}

func (c *AgentCmd) Run(g *Globals) error {
	cluster, _, err := loadCluster(g, true)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return agent.Run(ctx, agent.Config{Cluster: cluster, Host: c.Host, Logger: g.Logger})
}
