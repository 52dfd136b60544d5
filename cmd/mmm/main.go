// Command mmm keeps a MySQL/MariaDB multi-master cluster in the shape one HCL
// file declares. main only wires the CLI and maps errors to exit codes.
package main

import (
	"os"

	"github.com/mysql-mmm/mmm/internal/cli"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(cli.Main(os.Args[1:], version))
}
