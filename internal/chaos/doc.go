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
// Everything is in the package's tests:
//
//	go test ./internal/chaos/ -run TestChaos -v -timeout 0          # kill9, freeze, hostcut once
//	FAULTS=all RUNS=5 go test ./internal/chaos/ -run TestChaos -v -timeout 0
package chaos
