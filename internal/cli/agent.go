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
// `mmm watch` renews the writer's lease) it fences at once (drops the
// exclusive VIPs, sets the server read_only and kills its client sessions),
// since nobody guards them any more and the watch will fail the writer over
// when the lease it cannot renew runs out.
//
// The state directory keeps agent-state.json: the highest grant epoch the
// agent accepted and its mode. An agent that starts after it died in lease
// mode fences before anything else (docs/agent.md).
//
// The server flags serve the physical clone (bootstrap method "physical"):
// the agent of a new slave stops its server, swaps the data directory for the
// donor's copy and starts it again. The option file also tells the agent the
// server's socket (its health probe and fencing connect there) and pid file
// (the SIGKILL step of a fence).
type AgentCmd struct {
	Host               string `help:"The host block this agent runs on." required:"" env:"MMM_AGENT_HOST" placeholder:"NAME"`
	ServerStart        string `help:"Shell command that starts the local server and returns when it started." default:"systemctl start mariadb" env:"MMM_AGENT_SERVER_START"`
	ServerStop         string `help:"Shell command that stops the local server and returns when it stopped." default:"systemctl stop mariadb" env:"MMM_AGENT_SERVER_STOP"`
	ServerDefaultsFile string `help:"The server's option file: its socket and pid-file for health probes and fencing, and for mariabackup (default: the standard ones, /etc/mysql/my.cnf; the socket and pid file are then read from the server)." type:"path" env:"MMM_AGENT_SERVER_DEFAULTS_FILE" placeholder:"PATH"`
	StateDir           string `help:"Where the agent keeps its grant epoch and mode (agent-state.json) and the journal of a clone in progress." default:"/var/lib/mmm" type:"path" env:"MMM_AGENT_STATE_DIR"`
}

func (c *AgentCmd) Run(g *Globals) error {
	n := needAgent
	n.host = c.Host
	cluster, _, err := loadClusterNeeding(g, n)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return agent.Run(ctx, agent.Config{Cluster: cluster, Host: c.Host, Logger: g.Logger,
		StateDir:           c.StateDir,
		ServerDefaultsFile: c.ServerDefaultsFile,
		Server: &clone.LocalServer{
			StartCommand: c.ServerStart,
			StopCommand:  c.ServerStop,
			DefaultsFile: c.ServerDefaultsFile,
			StateDir:     c.StateDir,
		}})
}
