package cli

import (
	"context"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/inspect"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// ClusterFlags are the flags of the commands that talk to the servers.
type ClusterFlags struct {
	ConnectTimeout time.Duration `help:"Timeout to connect and log in to each server." default:"2s" env:"MMM_CONNECT_TIMEOUT"`
	QueryTimeout   time.Duration `help:"Timeout of each statement while inspecting." default:"5s" env:"MMM_QUERY_TIMEOUT"`
}

func (f ClusterFlags) timeouts() conn.Timeouts {
	return conn.Timeouts{Connect: f.ConnectTimeout, Query: f.QueryTimeout}
}

// session is one command's view of a cluster: the desired state and how to
// read the live one. plan, apply and the daemons share it so that they all see
// the cluster the same way.
type session struct {
	g       *Globals
	cluster *topology.Cluster
	flags   ClusterFlags

	agentClient *agent.Client
}

func newSession(g *Globals, flags ClusterFlags) (*session, error) {
	return newSessionNeeding(g, flags, needs{require: true})
}

// newSessionNeeding is newSession for a command that needs some secrets only.
func newSessionNeeding(g *Globals, flags ClusterFlags, n needs) (*session, error) {
	c, _, err := loadClusterNeeding(g, n)
	if err != nil {
		return nil, err
	}
	return &session{g: g, cluster: c, flags: flags}, nil
}

// inspect reads the servers and, when the cluster has agents, which VIPs
// each host holds.
func (s *session) inspect(ctx context.Context) *topology.Live {
	live := inspect.Inspect(ctx, s.cluster, inspect.Options{Timeouts: s.flags.timeouts(), Logger: s.g.Logger})
	if s.cluster.Agent.Enabled {
		inspect.Agents(ctx, s.cluster, s.agents(), live, s.flags.ConnectTimeout+s.flags.QueryTimeout)
	}
	return live
}

// agents is the client of the cluster's agents (nil when it has none).
func (s *session) agents() *agent.Client {
	if !s.cluster.Agent.Enabled {
		return nil
	}
	if s.agentClient == nil {
		s.agentClient = &agent.Client{Cluster: s.cluster, Timeout: s.flags.ConnectTimeout + s.flags.QueryTimeout}
	}
	return s.agentClient
}

func (s *session) diff(live *topology.Live, opts plan.Options) *plan.Plan {
	if opts.Now.IsZero() {
		opts.Now = time.Now().UTC()
	}
	return plan.Diff(s.cluster, live, opts)
}
