package cli

// LabCmd manages the local lab (internal/lab). Filled in by the lab work.
type LabCmd struct {
	Up     struct{} `cmd:"" help:"Start a namespace and a MariaDB server for every host of the file."`
	Down   struct{} `cmd:"" help:"Stop the lab's servers and remove its namespaces and bridge."`
	Status struct{} `cmd:"" help:"List the lab's hosts, pids, addresses and whether each answers SQL."`
}
