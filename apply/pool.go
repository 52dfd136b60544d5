package apply

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// Pool opens one connection pool per host on first use, with the host's admin
// account and conn's timeouts, and closes them all at the end of an apply.
//
// Each host has its own lock: a dial to a blackholed host waits out its
// connect timeout alone, while every other host's lookups go on (the watch
// executes steps on several hosts at once).
type Pool struct {
	Cluster  *topology.Cluster
	Timeouts conn.Timeouts

	mu    sync.Mutex // hosts, closed
	hosts map[string]*poolHost
}

type poolHost struct {
	mu sync.Mutex // held while dialing
	db *sql.DB
}

// DB returns the pool for host.
func (p *Pool) DB(ctx context.Context, host string) (*sql.DB, error) {
	h := p.Cluster.Host(host)
	if h == nil {
		return nil, fmt.Errorf("host %q is not declared in the topology", host)
	}
	p.mu.Lock()
	if p.hosts == nil {
		p.hosts = map[string]*poolHost{}
	}
	ph := p.hosts[host]
	if ph == nil {
		ph = &poolHost{}
		p.hosts[host] = ph
	}
	p.mu.Unlock()

	ph.mu.Lock()
	defer ph.mu.Unlock()
	if ph.db != nil {
		return ph.db, nil
	}
	db, err := conn.Open(ctx, h, p.Timeouts)
	if err != nil {
		return nil, err
	}
	ph.db = db
	return db, nil
}

// Close closes every pool. A dial in progress finishes first.
func (p *Pool) Close() {
	p.mu.Lock()
	hosts := p.hosts
	p.hosts = nil
	p.mu.Unlock()
	for _, ph := range hosts {
		ph.mu.Lock()
		if ph.db != nil {
			ph.db.Close()
			ph.db = nil
		}
		ph.mu.Unlock()
	}
}
