package flavor

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// ReplicaColumns names the columns of SHOW SLAVE/REPLICA STATUS mmm reads.
// MySQL 8.0.22+ answers SHOW REPLICA STATUS with Source_*/Replica_* names;
// MariaDB (under either keyword) and older MySQL with Master_*/Slave_*.
type ReplicaColumns struct {
	SourceHost, SourcePort, SourceUser string
	ConnectRetry                       string
	IORunning, SQLRunning              string
	SecondsBehind                      string
	LastIOErrno, LastIOError           string
	LastSQLErrno, LastSQLError         string
	SSLAllowed                         string
	UsingGTID                          string // MariaDB Using_Gtid, MySQL Auto_Position
	RetrievedGTIDSet                   string // MariaDB Gtid_IO_Pos, MySQL Retrieved_Gtid_Set
	ExecutedGTIDSet                    string // MySQL only; "" on MariaDB
}

var (
	sourceColumns = ReplicaColumns{
		SourceHost: "Source_Host", SourcePort: "Source_Port", SourceUser: "Source_User",
		ConnectRetry: "Connect_Retry",
		IORunning:    "Replica_IO_Running", SQLRunning: "Replica_SQL_Running",
		SecondsBehind: "Seconds_Behind_Source",
		LastIOErrno:   "Last_IO_Errno", LastIOError: "Last_IO_Error",
		LastSQLErrno: "Last_SQL_Errno", LastSQLError: "Last_SQL_Error",
		SSLAllowed:       "Source_SSL_Allowed",
		UsingGTID:        "Auto_Position",
		RetrievedGTIDSet: "Retrieved_Gtid_Set", ExecutedGTIDSet: "Executed_Gtid_Set",
	}
	masterColumnsMySQL = ReplicaColumns{
		SourceHost: "Master_Host", SourcePort: "Master_Port", SourceUser: "Master_User",
		ConnectRetry: "Connect_Retry",
		IORunning:    "Slave_IO_Running", SQLRunning: "Slave_SQL_Running",
		SecondsBehind: "Seconds_Behind_Master",
		LastIOErrno:   "Last_IO_Errno", LastIOError: "Last_IO_Error",
		LastSQLErrno: "Last_SQL_Errno", LastSQLError: "Last_SQL_Error",
		SSLAllowed:       "Master_SSL_Allowed",
		UsingGTID:        "Auto_Position",
		RetrievedGTIDSet: "Retrieved_Gtid_Set", ExecutedGTIDSet: "Executed_Gtid_Set",
	}
	masterColumnsMariaDB = ReplicaColumns{
		SourceHost: "Master_Host", SourcePort: "Master_Port", SourceUser: "Master_User",
		ConnectRetry: "Connect_Retry",
		IORunning:    "Slave_IO_Running", SQLRunning: "Slave_SQL_Running",
		SecondsBehind: "Seconds_Behind_Master",
		LastIOErrno:   "Last_IO_Errno", LastIOError: "Last_IO_Error",
		LastSQLErrno: "Last_SQL_Errno", LastSQLError: "Last_SQL_Error",
		SSLAllowed:       "Master_SSL_Allowed",
		UsingGTID:        "Using_Gtid",
		RetrievedGTIDSet: "Gtid_IO_Pos",
	}
)

// ReplicaColumns returns the column names of f's ShowReplicaStatus.
func (f Flavor) ReplicaColumns() ReplicaColumns {
	switch {
	case f.IsMariaDB():
		return masterColumnsMariaDB
	case f.HasReplicaColumns():
		return sourceColumns
	}
	return masterColumnsMySQL
}

// alternate is the other naming of a column, so a row read with either keyword
// (MySQL 8.0.22-8.0.x still answers SHOW SLAVE STATUS with the old names) parses.
func alternate(col string) string {
	for _, pair := range [][2]string{
		{"Source_", "Master_"}, {"Replica_", "Slave_"}, {"_Source", "_Master"},
	} {
		if strings.Contains(col, pair[0]) {
			return strings.Replace(col, pair[0], pair[1], 1)
		}
		if strings.Contains(col, pair[1]) {
			return strings.Replace(col, pair[1], pair[0], 1)
		}
	}
	return col
}

// ParseReplicaStatus reads one row of SHOW SLAVE/REPLICA STATUS, keyed by
// column name. An empty row (no replication configured) gives nil. A NULL
// Seconds_Behind_* (threads stopped or reconnecting) gives a nil
// SecondsBehind: unknown, never zero.
func ParseReplicaStatus(f Flavor, row map[string]sql.NullString) (*topology.ReplicaStatus, error) {
	if len(row) == 0 {
		return nil, nil
	}
	c := f.ReplicaColumns()
	get := func(col string) (string, bool) {
		if col == "" {
			return "", false
		}
		v, ok := row[col]
		if !ok {
			v, ok = row[alternate(col)]
		}
		return v.String, ok && v.Valid
	}
	str := func(col string) string { v, _ := get(col); return v }
	var firstErr error
	num := func(col string) int {
		v, ok := get(col)
		if !ok || v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("replica status: column %s: %q is not a number", col, v)
		}
		return n
	}

	r := &topology.ReplicaStatus{
		SourceHost:       str(c.SourceHost),
		SourcePort:       num(c.SourcePort),
		SourceUser:       str(c.SourceUser),
		IORunning:        str(c.IORunning),
		SQLRunning:       str(c.SQLRunning),
		LastIOErrno:      num(c.LastIOErrno),
		LastIOError:      str(c.LastIOError),
		LastSQLErrno:     num(c.LastSQLErrno),
		LastSQLError:     str(c.LastSQLError),
		RetrievedGTIDSet: compactGTIDSet(str(c.RetrievedGTIDSet)),
		ExecutedGTIDSet:  compactGTIDSet(str(c.ExecutedGTIDSet)),
		ConnectRetry:     num(c.ConnectRetry),
		SSL:              str(c.SSLAllowed) == "Yes",
	}
	if v, ok := get(c.SecondsBehind); ok && v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("replica status: column %s: %q is not a number", c.SecondsBehind, v)
		}
		r.SecondsBehind = &n
	}
	using := str(c.UsingGTID)
	if f.IsMySQL() {
		if using == "1" {
			using = "Auto_Position"
		} else {
			using = "No"
		}
	}
	r.UsingGTID = using
	if firstErr != nil {
		return nil, firstErr
	}
	return r, nil
}

// compactGTIDSet removes the line breaks MySQL puts between UUIDs of a set.
func compactGTIDSet(s string) string {
	return strings.Join(strings.Fields(s), "")
}

// UsesGTID reports whether a parsed replica replicates by GTID the way mmm
// configures it (MariaDB Slave_Pos, MySQL auto-position).
func UsesGTID(r *topology.ReplicaStatus) bool {
	return r != nil && (r.UsingGTID == "Slave_Pos" || r.UsingGTID == "Auto_Position")
}
