package clone

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

func TestRestartingAfterClone(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"returned normally", nil, true},
		{"EOF", io.EOF, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"invalid connection", mysql.ErrInvalidConn, true},
		{"wrapped invalid connection", fmt.Errorf("exec: %w", mysql.ErrInvalidConn), true},
		{"bad connection", driver.ErrBadConn, true},
		{"connection reset", reset, true},
		{"broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, true},
		{"3707 no supervisor", &mysql.MySQLError{Number: 3707, Message: "Restart server failed (mysqld is not managed by supervisor process)."}, true},
		{"1053 shutdown", &mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"}, true},
		{"1045 donor refused the login", &mysql.MySQLError{Number: 1045, Message: "Access denied for user 'root'@'198.18.0.15' (using password: YES)"}, false},
		{"3862 version mismatch", &mysql.MySQLError{Number: 3862, Message: "Clone Donor Error: 3862 : Clone Donor MySQL version: 8.0.36 is different from Recipient MySQL version 8.0.35."}, false},
		{"3869 donor not allowed", &mysql.MySQLError{Number: 3869, Message: "Clone system configuration: 198.18.0.13:3306 is not found in clone_valid_donor_list: "}, false},
		{"wrapped 3707", fmt.Errorf("exec: %w", &mysql.MySQLError{Number: 3707}), true},
		{"wrapped 1045", fmt.Errorf("exec: %w", &mysql.MySQLError{Number: 1045}), false},
		{"other error", errors.New("something else"), false},
		{"cancelled", context.Canceled, false},
	}
	for _, tt := range tests {
		if got := restartingAfterClone(tt.err); got != tt.want {
			t.Errorf("%s: restartingAfterClone(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestCloneStatementErrorHidesPassword(t *testing.T) {
	const password = `s3cr'et`
	what := "CLONE INSTANCE FROM root@198.18.0.13:3306 (donor slave1)"
	tests := []struct {
		name   string
		err    error
		number uint16 // kept MySQL error number; 0 = not a MySQL error
		want   string
	}{
		{"syntax error quoting the statement back",
			&mysql.MySQLError{Number: 1064, SQLState: [5]byte{'4', '2', '0', '0', '0'},
				Message: `You have an error in your SQL syntax; check the manual near 'IDENTIFIED BY 's3cr''et'' at line 1`},
			1064, `near 'IDENTIFIED BY <redacted>' at line 1`},
		{"raw password in a driver error",
			errors.New("connection to root:s3cr'et failed"), 0, "root:<redacted> failed"},
		{"no password in the message",
			&mysql.MySQLError{Number: 1045, Message: "Access denied for user 'root'@'198.18.0.15' (using password: YES)"},
			1045, "Access denied for user 'root'"},
	}
	for _, tt := range tests {
		err := statementError("slave3", what, tt.err, password)
		msg := err.Error()
		if strings.Contains(msg, "s3cr") {
			t.Errorf("%s: the password shows: %s", tt.name, msg)
		}
		if !strings.Contains(msg, "clone slave3: "+what+" on slave3: ") || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: got %q, want it to name the statement and contain %q", tt.name, msg, tt.want)
		}
		var me *mysql.MySQLError
		if tt.number != 0 && (!errors.As(err, &me) || me.Number != tt.number) {
			t.Errorf("%s: MySQL error number %d lost: %#v", tt.name, tt.number, err)
		}
	}
	plain := &mysql.MySQLError{Number: 3862, Message: "version differs"}
	if got := conn.RedactSecrets(plain, password); got != error(plain) {
		t.Errorf("an error without the password was replaced: %v", got)
	}
	if got := conn.RedactSecrets(plain, ""); got != error(plain) {
		t.Errorf("an empty password replaced text: %v", got)
	}
}

func TestJudgeAfterClone(t *testing.T) {
	old := cloneRecord{found: true, status: flavor.CloneStatus{ID: 1, State: flavor.CloneCompleted, BeginTime: "2024-01-01 09:00:00"}}
	ours := func(state string) cloneRecord {
		return cloneRecord{found: true, status: flavor.CloneStatus{ID: 1, State: state, BeginTime: "2024-03-01 10:00:00",
			ErrorNo: 3862, ErrorMessage: "Clone Donor MySQL version differs", GTIDExecuted: "uuid:1-9"}}
	}
	tests := []struct {
		name      string
		prev      cloneRecord
		look      afterClone
		done      bool
		err, wait string // substrings; "" = none expected
	}{
		{"completed and restarted", old, afterClone{restarted: true, record: ours(flavor.CloneCompleted)}, true, "", ""},
		{"first clone of this server", cloneRecord{}, afterClone{restarted: true, record: ours(flavor.CloneCompleted)}, true, "", ""},
		{"failed", old, afterClone{restarted: true, record: ours(flavor.CloneFailed)}, false, "error 3862: Clone Donor MySQL version differs", ""},
		{"failed before any restart", old, afterClone{restarted: false, record: ours(flavor.CloneFailed)}, false, "failed", ""},
		{"completed, not restarted (3707)", old, afterClone{restarted: false, record: ours(flavor.CloneCompleted)}, false, "", "service manager"},
		{"in progress, not restarted", old, afterClone{restarted: false, record: ours(flavor.CloneInProgress)}, false, "", "to restart"},
		{"restarted, still recovering", old, afterClone{restarted: true, record: ours(flavor.CloneInProgress)}, false, "", "recovery"},
		{"restarted, old status only", old, afterClone{restarted: true, record: old}, false, "did not run", ""},
		{"restarted, no status", cloneRecord{}, afterClone{restarted: true}, false, "did not run", ""},
		{"not restarted, old status", old, afterClone{restarted: false, record: old}, false, "", "clone_status"},
	}
	for _, tt := range tests {
		done, wait, err := judgeAfterClone("slave3", tt.prev, tt.look)
		if done != tt.done {
			t.Errorf("%s: done = %v, want %v", tt.name, done, tt.done)
		}
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
		}
		if err != nil && !strings.Contains(err.Error(), "slave3") {
			t.Errorf("%s: the error does not name the host: %v", tt.name, err)
		}
		if !strings.Contains(wait, tt.wait) || (tt.wait == "" && wait != "") {
			t.Errorf("%s: waiting = %q, want %q", tt.name, wait, tt.wait)
		}
	}
}

func TestInstanceStartedSince(t *testing.T) {
	if !startedSince(3*time.Second, 10*time.Second) {
		t.Error("a server up 3s did not start within the last 10s")
	}
	if startedSince(time.Hour, 10*time.Second) {
		t.Error("a server up an hour started within the last 10s")
	}
	if startedSince(10*time.Second, 10*time.Second) {
		t.Error("equal uptime counted as a restart")
	}
}

func TestInstanceUserSchemas(t *testing.T) {
	tests := []struct {
		schemas []string
		user    []string
		partial bool
	}{
		{[]string{"mysql", "information_schema", "performance_schema", "sys"}, nil, false},
		{[]string{"mysql", "sys", MarkerSchema}, nil, true},
		{[]string{"mysql", MarkerSchema, "shop"}, []string{"shop"}, true},
		{[]string{"MySQL", "shop", "crm"}, []string{"shop", "crm"}, false},
	}
	for _, tt := range tests {
		user, partial := userSchemas(tt.schemas)
		if fmt.Sprint(user) != fmt.Sprint(tt.user) || partial != tt.partial {
			t.Errorf("userSchemas(%v) = %v, %v; want %v, %v", tt.schemas, user, partial, tt.user, tt.partial)
		}
	}
}

// CloneInstance refuses a donor that is the target before connecting anywhere.
func TestCloneInstanceRefusesItself(t *testing.T) {
	h := &topology.Host{Name: "slave3", Address: "198.18.0.15", Port: 3306}
	_, err := CloneInstance(context.Background(), h, h, InstanceOptions{})
	if err == nil || !strings.Contains(err.Error(), "the donor is the target itself") {
		t.Fatalf("err = %v", err)
	}
}
