package conn

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestRedactSecrets(t *testing.T) {
	long := strings.Repeat("long-secret-", 10)
	tests := []struct {
		name    string
		err     error
		secrets []string
		want    string // the redacted message must contain it
	}{
		{"syntax error quoting the statement back",
			&mysql.MySQLError{Number: 1064, Message: `You have an error in your SQL syntax; check the manual near 'IDENTIFIED BY 's3cr''et'' at line 1`},
			[]string{`s3cr'et`}, `near 'IDENTIFIED BY <redacted>' at line 1`},
		{"backslash escaped in the echo",
			&mysql.MySQLError{Number: 1064, Message: `near 'MASTER_PASSWORD='a\\bcdef', MASTER_USE_GTID=slave_pos' at line 1`},
			[]string{`a\bcdef`}, `near 'MASTER_PASSWORD=<redacted>, MASTER_USE_GTID`},
		{"echo cut inside a long secret",
			&mysql.MySQLError{Number: 1064, Message: `check the manual near 'IDENTIFIED BY '` + long[:40] + `' at line 1`},
			[]string{long}, `near <redacted> at line 1`},
		{"raw secret in a driver error",
			errors.New("connection to root:pw-123 failed"), []string{"pw-123"}, "root:<redacted> failed"},
		{"two secrets",
			errors.New("a=first-one b=second-one"), []string{"first-one", "second-one"}, "a=<redacted> b=<redacted>"},
	}
	for _, tt := range tests {
		got := RedactSecrets(tt.err, tt.secrets...)
		msg := got.Error()
		for _, s := range tt.secrets {
			if strings.Contains(msg, s[:4]) {
				t.Errorf("%s: the secret shows: %s", tt.name, msg)
			}
		}
		if !strings.Contains(msg, tt.want) {
			t.Errorf("%s: got %q, want it to contain %q", tt.name, msg, tt.want)
		}
		var me, orig *mysql.MySQLError
		if errors.As(tt.err, &orig) && (!errors.As(got, &me) || me.Number != orig.Number) {
			t.Errorf("%s: MySQL error number lost: %#v", tt.name, got)
		}
	}
	plain := errors.New("Access denied for user 'root'@'198.18.0.15' (using password: YES)")
	if got := RedactSecrets(plain, "pw"); got != plain {
		t.Errorf("an error without the secret changed: %v", got)
	}
	if got := RedactSecrets(plain); got != plain {
		t.Errorf("no secrets: error changed: %v", got)
	}
	if RedactSecrets(nil, "x") != nil {
		t.Error("nil error became non-nil")
	}
}
