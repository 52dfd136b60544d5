// Package cli holds mmm's commands, one kong struct and one file each. Commands
// return errors; Main maps them to exit codes.
package cli

import (
	"github.com/go-sql-driver/mysql"

	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/alecthomas/kong"
)

// Exit codes, shared by every command (Terraform's -detailed-exitcode contract).
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitChanges = 2 // plan --detailed-exitcode: there is something to do
)

// ExitError carries an exit code through a command's error return. A nil Err
// with a non-zero Code means "exit quietly with this code": the command has
// already said everything.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Globals are the flags every command shares.
type Globals struct {
	Config   string            `help:"Topology file or directory of .hcl files." env:"MMM_CONFIG" default:"." type:"path" short:"c"`
	Var      map[string]string `help:"Set a variable (NAME=VALUE); also MMM_VAR_NAME in the environment." placeholder:"NAME=VALUE"`
	LogLevel string            `help:"Log level: debug, info, warn, error." env:"MMM_LOG_LEVEL" default:"info" enum:"debug,info,warn,error"`
	EnvFile  string            `help:"Read env() and MMM_VAR_NAME values from this KEY=VALUE file (mode 0600) before the environment." env:"MMM_ENV_FILE" type:"path" placeholder:"FILE"`

	Stdout  io.Writer    `kong:"-"`
	Stderr  io.Writer    `kong:"-"`
	Stdin   io.Reader    `kong:"-"`
	Logger  *slog.Logger `kong:"-"`
	Version string       `kong:"-"`
}

// CLI is the whole command line.
type CLI struct {
	Globals

	Version    VersionCmd    `cmd:"" help:"Print the version."`
	Validate   ValidateCmd   `cmd:"" help:"Check the topology offline (no server, no secrets needed)."`
	Fmt        FmtCmd        `cmd:"" help:"Rewrite topology files in the canonical format."`
	Plan       PlanCmd       `cmd:"" help:"Read the live cluster and show what would change."`
	Apply      ApplyCmd      `cmd:"" help:"Make the cluster match the file (a fresh plan, or a saved one)."`
	Lab        LabCmd        `cmd:"" help:"Run a local lab of real MariaDB servers for the file's hosts."`
	Agent      AgentCmd      `cmd:"" help:"Run the data-node daemon that owns this host's virtual IPs."`
	Watch      WatchCmd      `cmd:"" help:"Run the monitor: health checks, host states, role placement, automatic failover."`
	Show       ShowCmd       `cmd:"" help:"Show every host's state and roles (asks the running watch)."`
	Checks     ChecksCmd     `cmd:"" help:"Show the health checks of every host, or of one."`
	SetOnline  SetOnlineCmd  `cmd:"" name:"set-online" help:"Set a host ONLINE (from AWAITING_RECOVERY or ADMIN_OFFLINE)."`
	SetOffline SetOfflineCmd `cmd:"" name:"set-offline" help:"Set a host ADMIN_OFFLINE: it gives up its roles."`
	MoveRole   MoveRoleCmd   `cmd:"" name:"move-role" help:"Move an exclusive role (the writer) to a host: a planned switchover."`
	Mode       ModeCmd       `cmd:"" help:"Switch the watch between active, passive and manual."`
	Doc        DocCmd        `cmd:"" help:"Print the reference built into mmm (mmm doc language)."`
	Simulate   SimulateCmd   `cmd:"" help:"Say what the watch would do now if hosts failed (changes nothing)."`
	Drill      DrillCmd      `cmd:"" help:"Rehearse switchovers under a write load and measure them (writes blocked, rows lost)."`
	Import     ImportCmd     `cmd:"" help:"Write a topology file for an existing cluster: from MySQL-MMM 2 configuration or from the running servers."`
	TLS        TLSCmd        `cmd:"" name:"tls" help:"Make the certificates of the cluster's mutual TLS (mmm tls init)."`
}

// Main runs the command line and returns the exit code.
func Main(args []string, version string) int {
	return Run(args, version, os.Stdin, os.Stdout, os.Stderr)
}

// Run is Main with explicit streams, for tests (testscript).
func Run(args []string, version string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c CLI
	exitCode := -1
	parser, err := kong.New(&c,
		kong.Name("mmm"),
		kong.Description("Keep a MySQL/MariaDB multi-master cluster in the shape one HCL file declares."),
		kong.UsageOnError(),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil {
		fmt.Fprintln(stderr, "mmm:", err)
		return ExitFailure
	}
	if len(args) == 0 {
		// Bare mmm: the help, not kong's "expected one of ...".
		args = []string{"--help"}
	}
	kctx, err := parser.Parse(args)
	if exitCode >= 0 { // --help and friends
		return exitCode
	}
	if err != nil {
		fmt.Fprintf(stderr, "mmm: %v (mmm --help lists the commands and flags)\n", err)
		return ExitFailure
	}
	c.Globals.Stdout, c.Globals.Stderr, c.Globals.Stdin = stdout, stderr, stdin
	c.Globals.Version = version
	c.Globals.Logger = newLogger(stderr, c.Globals.LogLevel)
	slog.SetDefault(c.Globals.Logger)
	// The driver prints what it retries by itself ("closing bad idle
	// connection" after a server restarted) on the standard logger: keep
	// that for --log-level debug.
	_ = mysql.SetLogger(driverLogger{c.Globals.Logger})

	err = kctx.Run(&c.Globals)
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, "mmm:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "mmm:", err)
	return ExitFailure
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// driverLogger passes the MySQL driver's messages to slog at debug level.
type driverLogger struct{ log *slog.Logger }

func (d driverLogger) Print(v ...any) { d.log.Debug("mysql driver: " + fmt.Sprint(v...)) }
