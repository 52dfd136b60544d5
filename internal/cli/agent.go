package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/clone"
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
//
// The server flags serve the physical clone (bootstrap method "physical"):
// the agent of a new slave stops its server, swaps the data directory for the
// donor's copy and starts it again.
type AgentCmd struct {
	Host               string `help:"The host block this agent runs on." required:"" env:"MMM_AGENT_HOST" placeholder:"NAME"`
	ServerStart        string `help:"Shell command that starts the local server and returns when it started." default:"systemctl start mariadb" env:"MMM_AGENT_SERVER_START"`
	ServerStop         string `help:"Shell command that stops the local server and returns when it stopped." default:"systemctl stop mariadb" env:"MMM_AGENT_SERVER_STOP"`
	ServerDefaultsFile string `help:"The server's option file, for mariabackup (default: the standard ones, /etc/mysql/my.cnf)." type:"path" env:"MMM_AGENT_SERVER_DEFAULTS_FILE" placeholder:"PATH"`
	StateDir           string `help:"Where the agent keeps the journal of a clone in progress." default:"/var/lib/mmm" type:"path" env:"MMM_AGENT_STATE_DIR"`
}

func (c *AgentCmd) Run(g *Globals) error {
	cluster, _, err := loadCluster(g, true)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return agent.Run(ctx, agent.Config{Cluster: cluster, Host: c.Host, Logger: g.Logger,
		Server: &clone.LocalServer{
			StartCommand: c.ServerStart,
			StopCommand:  c.ServerStop,
			DefaultsFile: c.ServerDefaultsFile,
			StateDir:     c.StateDir,
		}})
}
