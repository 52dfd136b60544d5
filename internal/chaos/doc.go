// Package chaos is the chaos suite of mmm (`make chaos`, docs/chaos.md): on
// a lab of its own (four real MariaDB servers in network namespaces, `mmm
// agent` in each, the real `mmm watch` as a child process in the root
// namespace), it runs a write load through the writer VIP as the
// application account, injects one fault at a time (kill -9, SIGSTOP, a cut
// link, a blackholed monitor, a dead agent, a killed watch …), heals it, and
// counts what must never happen: acknowledged rows lost, two writable
// masters or the writer VIP on two hosts, rows acknowledged by two servers,
// errant transactions that spread, diverging replicas, rows nobody saw
// acknowledged, and failovers where none is allowed. It reports the outage
// too.
//
// The raft faults (leaderkill, leadercut, watch2down, …) run after the
// single watch's on the same lab: the suite stops the single watch and
// starts three watch nodes (`mmm watch --node NAME`, each in a namespace of
// its own, 198.18.6.31-.33), then kills or cuts off the leader, a quorum or
// every node (raft_test.go).
//
// Everything is in the package's tests:
//
//	go test ./internal/chaos/ -run TestChaos -v -timeout 0          # kill9, freeze, hostcut once
//	FAULTS=all RUNS=5 go test ./internal/chaos/ -run TestChaos -v -timeout 0
package chaos
