package conn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/topology"
)

func TestErrorMessages(t *testing.T) {
	h := &topology.Host{Name: "master1", Address: "198.18.0.11", Port: 3306,
		Admin: topology.Account{User: "root", Password: topology.NewSecret("pw", "test")}}
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	tests := []struct {
		err  error
		want string
	}{
		{&mysql.MySQLError{Number: 1045, SQLState: [5]byte{'2', '8', '0', '0', '0'}, Message: "Access denied for user 'root'@'198.18.0.1' (using password: YES)"},
			"inspect master1 (198.18.0.11:3306): Access denied for user 'root'@'198.18.0.1' (using password: YES) (check the admin user and password: defaults.admin or the host's admin block)"},
		{dial(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}),
			"(nothing listens there; is the server running and is the port right?)"},
		{dial(os.ErrDeadlineExceeded), "(no answer within 2s;"},
		{context.DeadlineExceeded, "(no answer within 2s;"},
		{dial(&os.SyscallError{Syscall: "connect", Err: syscall.EHOSTUNREACH}), "(no route to the address;"},
		{fmt.Errorf("read grants: %w", &mysql.MySQLError{Number: 1142, Message: "SELECT command denied"}),
			"inspect master1 (198.18.0.11:3306): read grants: SELECT command denied (the admin account lacks a privilege"},
	}
	for _, tt := range tests {
		err := WithOp("inspect", h, &Error{Host: h.Name, Addr: Addr(h), Err: tt.err, Timeout: 2 * time.Second})
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got  %s\nwant %s", err, tt.want)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("%v does not unwrap to the driver error", err)
		}
	}
}

func TestConfigKeepsPasswordOutOfAddr(t *testing.T) {
	h := &topology.Host{Name: "m", Address: "198.18.0.11", Admin: topology.Account{User: "root", Password: topology.NewSecret("s3cret", "test")}}
	cfg := Config(h, Timeouts{})
	if cfg.Addr != "198.18.0.11:3306" || cfg.Timeout != 2*time.Second || cfg.ReadTimeout != 5*time.Second {
		t.Errorf("config %s timeouts %s/%s", cfg.Addr, cfg.Timeout, cfg.ReadTimeout)
	}
	err := WithOp("inspect", h, errors.New("boom"))
	if strings.Contains(err.Error(), "s3cret") {
		t.Error("error shows the password")
	}
}
