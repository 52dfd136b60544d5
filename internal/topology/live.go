package topology

import "strings"

// Live is what inspection saw on the servers, in the same vocabulary as Cluster.
type Live struct {
	// Hosts by host name; every declared host has an entry, reachable or not.
	Hosts map[string]*LiveHost
	// VIPs by address: which hosts hold it (more than one is a fault). Nil when
	// VIP holders were not read (no agents yet).
	VIPs map[string][]string
	// Agents by host name, when the cluster has agents (Agent.Enabled).
	Agents map[string]*LiveAgent
}

// LiveAgent is what a host's agent said, or why it could not be asked.
type LiveAgent struct {
	Reachable bool
	Error     string
	// Mode is "lease" while a `mmm watch` renews the exclusive roles' lease
	// (then the watch owns role placement), "static" otherwise.
	Mode string
	// IPs the host holds, as its agent read them from the interface.
	IPs []string
}

// LiveHost is one server as inspected.
type LiveHost struct {
	Name    string
	Address string
	Port    int

	// Reachable is false when mmm could not connect or query; Error says why
	// ("connect 198.18.0.11:3306: i/o timeout", "Access denied for user 'root'").
	Reachable bool
	Error     string
	// ErrorNumber is the server's error number when the server itself
	// refused (1045 access denied, 1040 too many connections), 0 otherwise.
	ErrorNumber uint16

	// Version is @@version as the server reports it, e.g. "10.11.6-MariaDB-0+deb12u2".
	// Package flavor parses it.
	Version         string
	ServerID        uint32
	LogBin          bool
	LogSlaveUpdates bool
	ReadOnly        bool
	SuperReadOnly   bool // MySQL only

	// GTID state. MariaDB: gtid_binlog_pos / gtid_slave_pos / gtid_current_pos,
	// gtid_strict_mode. MySQL: gtid_mode, gtid_executed (in GTIDExecuted) and
	// enforce_gtid_consistency.
	GTIDMode       string // MySQL gtid_mode ("ON"); "" on MariaDB
	GTIDStrictMode bool   // MariaDB gtid_strict_mode; MySQL enforce_gtid_consistency
	GTIDBinlogPos  string // MariaDB
	GTIDSlavePos   string // MariaDB
	GTIDCurrentPos string // MariaDB
	GTIDExecuted   string // MySQL; on MariaDB a copy of GTIDCurrentPos

	AutoIncrementIncrement int
	AutoIncrementOffset    int

	// ReplicaNetTimeout is slave_net_timeout (replica_net_timeout) in
	// seconds: how long a replica waits on a silent source before it calls
	// the connection lost, and so how soon replicas can confirm a dead writer.
	ReplicaNetTimeout int

	SemiSyncMasterEnabled bool
	SemiSyncSlaveEnabled  bool
	// SemiSyncSourceActive is the source side's effective state
	// (Rpl_semi_sync_master_status, Rpl_semi_sync_source_status): false
	// while the server fell back to asynchronous replication because no
	// replica acknowledged within the timeout. Nil when not read (the
	// source side is off, or the server did not say).
	SemiSyncSourceActive *bool
	// Uptime is the server's Uptime status in seconds (0: not read).
	Uptime int64

	// Replica is the replication channel, nil when none is configured.
	Replica *ReplicaStatus

	// Users holds the declared accounts, keyed by AccountKey(name, host).
	// A declared account that does not exist has an entry with Exists=false.
	Users map[string]*LiveUser
	// AccountsUnread: the accounts were not read (the watch never reads
	// them: accounts are mmm apply's business), so a plan leaves them alone.
	AccountsUnread bool

	// UserSchemas lists databases other than the system ones (mysql,
	// information_schema, performance_schema, sys). Empty + empty GTID state
	// means an empty server (bootstrap).
	UserSchemas []string
}

// ReplicaStatus is SHOW SLAVE STATUS / SHOW REPLICA STATUS, parsed.
type ReplicaStatus struct {
	SourceHost string
	SourcePort int
	SourceUser string
	// UsingGTID: MariaDB "Slave_Pos" | "Current_Pos" | "No"; MySQL "1"/"0"
	// (Auto_Position) mapped to "Auto_Position" | "No".
	UsingGTID        string
	IORunning        string // "Yes" | "No" | "Connecting"
	SQLRunning       string // "Yes" | "No"
	SecondsBehind    *int64 // nil = unknown (NULL), never zero by default
	LastIOErrno      int
	LastIOError      string
	LastSQLErrno     int
	LastSQLError     string
	RetrievedGTIDSet string // MariaDB Gtid_IO_Pos
	ExecutedGTIDSet  string // MySQL Executed_Gtid_Set
	ConnectRetry     int    // seconds
	HeartbeatPeriod  float64
	SSL              bool
}

// Running reports whether both replication threads run.
func (r *ReplicaStatus) Running() bool {
	return r != nil && r.IORunning == "Yes" && r.SQLRunning == "Yes"
}

// PasswordState says whether a stored password equals the declared one. It is
// computed by hashing the declared password the server's way; the password
// itself is never read back or printed.
type PasswordState string

const (
	PasswordMatch    PasswordState = "match"
	PasswordMismatch PasswordState = "mismatch"
	PasswordUnknown  PasswordState = "unknown" // e.g. an auth plugin mmm cannot verify
)

// LiveUser is one declared account as found on a server.
type LiveUser struct {
	Name     string
	Host     string
	Exists   bool
	Password PasswordState
	Plugin   string
	// Grants, normalised as in Grant (one entry per object).
	Grants []Grant
}

// IsServerSchema reports whether a name SHOW DATABASES lists is the
// server's own rather than user data: the system schemas, and directories
// of the data directory that are no databases (MariaDB and MySQL 5.x list a
// mount point's lost+found as "#mysql50#lost+found"). An empty server shows
// only these, so they never make a new slave look like it holds data.
func IsServerSchema(name string) bool {
	switch strings.ToLower(name) {
	case "mysql", "information_schema", "performance_schema", "sys":
		return true
	}
	return strings.HasPrefix(name, "#mysql50#")
}
