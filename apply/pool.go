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
type Pool struct {
	Cluster  *topology.Cluster
	Timeouts conn.Timeouts

	mu  sync.Mutex
	dbs map[string]*sql.DB
}

// DB returns the pool for host.
func (p *Pool) DB(ctx context.Context, host string) (*sql.DB, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if db, ok := p.dbs[host]; ok {
		return db, nil
	}
	h := p.Cluster.Host(host)
	if h == nil {
		return nil, fmt.Errorf("host %q is not declared in the topology", host)
	}
	db, err := conn.Open(ctx, h, p.Timeouts)
	if err != nil {
		return nil, err
	}
	if p.dbs == nil {
		p.dbs = map[string]*sql.DB{}
	}
	p.dbs[host] = db
	return db, nil
}

// Close closes every pool.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, db := range p.dbs {
		db.Close()
	}
	p.dbs = nil
}
