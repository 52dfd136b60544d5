package flavor

// MySQL's CLONE plugin (8.0.17 and later): the statements mmm sends for a
// physical clone of a donor into a recipient, the compatibility rules, and
// parsers for performance_schema.clone_status and clone_progress. Built from
// the MySQL 8.0 reference manual (clone-plugin-remote.html,
// clone-plugin-monitoring.html, performance-schema-clone-status-table.html,
// performance-schema-clone-progress-table.html, clone-plugin-limitations.html);
// no MySQL server runs where mmm is developed, so the parsers are tested on
// hand-written rows shaped as those pages describe.

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// ClonePlugin is MySQL's clone plugin. It must be ACTIVE on donor and recipient.
var ClonePlugin = Plugin{Name: "clone", Soname: "mysql_clone.so"}

// ClonePluginStatusQuery returns the clone plugin's PLUGIN_STATUS (no row when
// it is not installed).
const ClonePluginStatusQuery = "SELECT PLUGIN_STATUS FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'clone'"

// InstallClonePlugin loads the clone plugin. The server records it in
// mysql.plugin, so it stays loaded across restarts (and is in the donor's
// copy of mysql.plugin anyway once cloned).
func InstallClonePlugin() Stmt {
	return plain("INSTALL PLUGIN " + ClonePlugin.Name + " SONAME " + QuoteString(ClonePlugin.Soname))
}

// ClonePluginNeedsInstall reads the answer of ClonePluginStatusQuery: install
// when there is no row; an error when the plugin is there but not ACTIVE
// (DISABLED by clone=OFF, or failed to initialise), which INSTALL PLUGIN
// cannot fix.
func ClonePluginNeedsInstall(host string, found bool, status string) (bool, error) {
	if !found {
		return true, nil
	}
	if strings.EqualFold(strings.TrimSpace(status), "ACTIVE") {
		return false, nil
	}
	return false, fmt.Errorf("the clone plugin on %s is %s, not ACTIVE; enable it (clone=ON in the server's configuration) and restart the server", host, status)
}

// ReplicaRunningQueryMySQL counts MySQL replication threads that are not OFF
// (receiver or applier of any channel). MySQL 8 has no SLAVE_RUNNING status.
const ReplicaRunningQueryMySQL = "SELECT (SELECT COUNT(*) FROM performance_schema.replication_connection_status WHERE SERVICE_STATE <> 'OFF') + " +
	"(SELECT COUNT(*) FROM performance_schema.replication_applier_status WHERE SERVICE_STATE <> 'OFF')"

// CloneServerQuery reads what CheckCloneCompatible compares.
const CloneServerQuery = "SELECT @@global.version, @@global.version_compile_os, @@global.version_compile_machine"

// CloneServer is what decides whether one server can clone from another.
type CloneServer struct {
	Version string // @@version
	OS      string // @@version_compile_os
	Machine string // @@version_compile_machine
}

// CheckCloneCompatible says why recipient cannot clone from donor with the
// CLONE plugin, or nil when it can. The manual (clone plugin limitations):
// donor and recipient run the same operating system and platform and the same
// release series; before 8.0.37 also the same point release (suffixes such
// as "-log" do not count); in series after 8.0 (8.4, 9.x) the series suffices.
func CheckCloneCompatible(donor, recipient CloneServer) error {
	df, err := Parse(donor.Version)
	if err != nil {
		return fmt.Errorf("donor: %w", err)
	}
	rf, err := Parse(recipient.Version)
	if err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	for _, s := range []struct {
		role string
		f    Flavor
	}{{"donor", df}, {"recipient", rf}} {
		if !s.f.MinMySQL(8, 0, 17) {
			return fmt.Errorf("the %s runs %s: the CLONE plugin needs MySQL 8.0.17 or later (MariaDB: use the logical method or mariabackup)", s.role, s.f)
		}
	}
	if !strings.EqualFold(donor.OS, recipient.OS) || !strings.EqualFold(donor.Machine, recipient.Machine) {
		return fmt.Errorf("the donor is built for %s/%s and the recipient for %s/%s: CLONE needs the same platform",
			donor.OS, donor.Machine, recipient.OS, recipient.Machine)
	}
	same := df.Major == rf.Major && df.Minor == rf.Minor
	switch {
	case same && df.Patch == rf.Patch:
		return nil
	case same && (df.Major > 8 || df.Minor > 0):
		return nil
	case same && df.Patch >= 37 && rf.Patch >= 37:
		return nil
	case same:
		return fmt.Errorf("the donor runs %s and the recipient %s: before 8.0.37 CLONE needs the same point release; upgrade both to the same version", df, rf)
	}
	return fmt.Errorf("the donor runs %s and the recipient %s: CLONE needs the same release series; upgrade one of them", df, rf)
}

// donorAddr checks a donor address for CLONE statements: IPv6 literals are
// not accepted by the server (an alias is needed), and a "%s" would be taken
// for a secret placeholder.
func donorAddr(addr string, port int) error {
	switch {
	case addr == "":
		return fmt.Errorf("the donor has no address")
	case strings.Contains(addr, ":"):
		return fmt.Errorf("donor address %q: CLONE does not accept IPv6 addresses; use a host name", addr)
	case port <= 0 || port > 65535:
		return fmt.Errorf("donor port %d is out of range", port)
	}
	return hasPlaceholder(addr)
}

// SetCloneValidDonorList allows the recipient to clone from addr:port only
// (clone_valid_donor_list; the recipient refuses any donor not in it).
func SetCloneValidDonorList(addr string, port int) (Stmt, error) {
	if err := donorAddr(addr, port); err != nil {
		return Stmt{}, err
	}
	return plain("SET GLOBAL clone_valid_donor_list = " + QuoteString(addr+":"+strconv.Itoa(port))), nil
}

// CloneInstanceStatement clones the donor at addr:port into the server it runs
// on, logging in to the donor as user with password:
//
//	CLONE INSTANCE FROM 'user'@'addr':port IDENTIFIED BY 'password'
//
// The password is the Stmt's one secret: Redacted() is safe to log, SQL() is
// not. The strings are quoted with backslash escapes, so the session that runs
// it must not have NO_BACKSLASH_ESCAPES in its sql_mode.
func CloneInstanceStatement(user, addr string, port int, password string) (Stmt, error) {
	if user == "" {
		return Stmt{}, fmt.Errorf("CLONE INSTANCE needs a user name")
	}
	if err := donorAddr(addr, port); err != nil {
		return Stmt{}, err
	}
	if err := hasPlaceholder(user); err != nil {
		return Stmt{}, err
	}
	return Stmt{
		Template: "CLONE INSTANCE FROM " + Account(user, addr) + ":" + strconv.Itoa(port) + " IDENTIFIED BY %s",
		Secrets:  []string{password},
	}, nil
}

// Clone states of clone_status (and, but for Failed, of clone_progress rows).
const (
	CloneNotStarted = "Not Started"
	CloneInProgress = "In Progress"
	CloneCompleted  = "Completed"
	CloneFailed     = "Failed"
)

// CloneStatusQuery reads the recipient's one clone_status row (the current or
// last clone; the table is empty when this server never cloned). Scan it into
// eight sql.NullString and give them to ParseCloneStatus.
const CloneStatusQuery = "SELECT ID, STATE, BEGIN_TIME, ERROR_NO, ERROR_MESSAGE, BINLOG_FILE, BINLOG_POSITION, GTID_EXECUTED FROM performance_schema.clone_status"

// CloneStatus is the recipient's clone_status row.
type CloneStatus struct {
	ID             int64
	State          string // CloneNotStarted | CloneInProgress | CloneCompleted | CloneFailed
	BeginTime      string // as the server prints it; with ID, tells one clone from the one before
	ErrorNo        int
	ErrorMessage   string
	BinlogFile     string // the donor's binary log position of the copy
	BinlogPosition int64
	// GTIDExecuted is the donor's gtid_executed at the copy, without the
	// line breaks MySQL puts into long GTID sets.
	GTIDExecuted string
}

// ParseCloneStatus reads a row of CloneStatusQuery.
func ParseCloneStatus(row []sql.NullString) (CloneStatus, error) {
	if len(row) != 8 {
		return CloneStatus{}, fmt.Errorf("clone_status: %d columns, want 8", len(row))
	}
	var s CloneStatus
	var err error
	if s.ID, err = nullInt(row[0], "ID"); err != nil {
		return CloneStatus{}, err
	}
	s.State = strings.TrimSpace(row[1].String)
	switch s.State {
	case CloneNotStarted, CloneInProgress, CloneCompleted, CloneFailed:
	default:
		return CloneStatus{}, fmt.Errorf("clone_status: unknown STATE %q", row[1].String)
	}
	s.BeginTime = row[2].String
	n, err := nullInt(row[3], "ERROR_NO")
	if err != nil {
		return CloneStatus{}, err
	}
	s.ErrorNo = int(n)
	s.ErrorMessage = strings.TrimSpace(row[4].String)
	s.BinlogFile = row[5].String
	if s.BinlogPosition, err = nullInt(row[6], "BINLOG_POSITION"); err != nil {
		return CloneStatus{}, err
	}
	s.GTIDExecuted = NormalizeGTIDSet(row[7].String)
	return s, nil
}

// NormalizeGTIDSet removes the line breaks and blanks MySQL prints between
// the UUIDs of a GTID set ("uuid:1-5,\nuuid:1-3").
func NormalizeGTIDSet(s string) string {
	return strings.Join(strings.Fields(s), "")
}

func nullInt(v sql.NullString, col string) (int64, error) {
	t := strings.TrimSpace(v.String)
	if !v.Valid || t == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("clone_status: %s %q is not a number", col, v.String)
	}
	return n, nil
}

// Err is nil for a Completed clone, and otherwise says what happened on host:
// the state and, for a failure, the server's error number and message.
func (s CloneStatus) Err(host string) error {
	switch s.State {
	case CloneCompleted:
		return nil
	case CloneFailed:
		msg := s.ErrorMessage
		if msg == "" {
			msg = "no message"
		}
		return fmt.Errorf("the clone on %s failed: error %d: %s", host, s.ErrorNo, msg)
	}
	return fmt.Errorf("the clone on %s is %q, not Completed", host, s.State)
}

// CloneProgressQuery reads the recipient's clone_progress: one row per stage
// (DROP DATA, FILE COPY, PAGE_COPY, REDO_COPY, FILE_SYNC, RESTART, RECOVERY)
// of the current or last clone. Scan each row into four sql.NullString.
const CloneProgressQuery = "SELECT STAGE, STATE, ESTIMATE, DATA FROM performance_schema.clone_progress ORDER BY BEGIN_TIME IS NULL, BEGIN_TIME"

// CloneProgress is how far a running clone is.
type CloneProgress struct {
	Stage string // the stage In Progress, "" when none is
	Done  int64  // bytes copied by the copy stages
	Total int64  // bytes the copy stages will copy (the server's estimates)
}

// copyStages move the data; the other stages (dropping the recipient's data,
// syncing, the restart, recovery) report no bytes worth counting.
var copyStages = map[string]bool{"FILE_COPY": true, "PAGE_COPY": true, "REDO_COPY": true}

// ParseCloneProgress sums the rows of CloneProgressQuery. A stage that is done
// counts what it copied, also when that differs from its estimate; a stage not
// done counts its estimate, or what it copied already when that is more (the
// estimate of a busy donor grows while it is copied).
func ParseCloneProgress(rows [][]sql.NullString) (CloneProgress, error) {
	var p CloneProgress
	for i, r := range rows {
		if len(r) != 4 {
			return CloneProgress{}, fmt.Errorf("clone_progress row %d: %d columns, want 4", i+1, len(r))
		}
		stage := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(r[0].String), " ", "_"))
		state := strings.TrimSpace(r[1].String)
		estimate, err := nullInt(r[2], "ESTIMATE")
		if err != nil {
			return CloneProgress{}, fmt.Errorf("clone_progress row %d: %w", i+1, err)
		}
		data, err := nullInt(r[3], "DATA")
		if err != nil {
			return CloneProgress{}, fmt.Errorf("clone_progress row %d: %w", i+1, err)
		}
		if state == CloneInProgress {
			p.Stage = strings.TrimSpace(r[0].String)
		}
		if !copyStages[stage] {
			continue
		}
		p.Done += data
		if state == CloneCompleted || estimate < data {
			p.Total += data
		} else {
			p.Total += estimate
		}
	}
	return p, nil
}
