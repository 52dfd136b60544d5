package apply

import "github.com/mysql-mmm/mmm/internal/topology"

// NewKillRunner returns the kill_clients runner, for executors built outside
// an Applier: mmm watch runs its failover and switchover plans with its own
// guard and its lease-holding VIP runner.
func NewKillRunner(dbs Databases, c *topology.Cluster) StepRunner {
	return &killRunner{dbs: dbs, cluster: c}
}

// NewWaitRunner returns the runner of wait_catch_up steps that name a source
// (switchovers), for executors built outside an Applier.
func NewWaitRunner(dbs Databases, c *topology.Cluster) StepRunner {
	return &waitRunner{dbs: dbs, cluster: c}
}

// Runners tries each StepRunner in turn (nil ones are skipped) until one
// handles the step.
func Runners(rs ...StepRunner) StepRunner { return runners(rs) }
