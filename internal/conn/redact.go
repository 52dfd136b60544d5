package conn

import (
	"errors"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// minEchoedPrefix is the shortest start of a secret that RedactSecrets treats
// as the secret cut off by the server's echo of the statement.
const minEchoedPrefix = 4

// RedactSecrets returns err with the secrets of the statement that caused it
// removed from its text. The server quotes a statement back in a syntax
// error ("... near 'IDENTIFIED BY ...' at line 1") as typed, that is with the
// secret quoted, and at most about 80 characters of it, so a long secret may
// show only its start: then the whole echo goes. A MySQL error keeps its
// number (callers decide on it), anything else becomes a plain error with the
// redacted text.
func RedactSecrets(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		q := flavor.QuoteString(s)
		forms = append(forms, q, q[1:len(q)-1], s)
	}
	if !leaks(err.Error(), forms) {
		return err
	}
	redact := func(msg string) string {
		for _, f := range forms {
			msg = strings.ReplaceAll(msg, f, topology.Redacted)
		}
		if leaks(msg, forms) {
			msg = cutEcho(msg)
		}
		return msg
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && err == error(me) {
		return &mysql.MySQLError{Number: me.Number, SQLState: me.SQLState, Message: redact(me.Message)}
	}
	return errors.New(redact(err.Error()))
}

// leaks reports whether msg holds one of forms or a start of one at least
// minEchoedPrefix bytes long.
func leaks(msg string, forms []string) bool {
	for _, f := range forms {
		if strings.Contains(msg, f) {
			return true
		}
		for k := len(f) - 1; k >= minEchoedPrefix; k-- {
			if strings.Contains(msg, f[:k]) {
				return true
			}
		}
	}
	return false
}

// cutEcho replaces the statement the server quoted back ("near '…' at line N")
// with <redacted>; a message without that shape is replaced whole.
func cutEcho(msg string) string {
	i := strings.Index(msg, "near '")
	j := strings.LastIndex(msg, "' at line")
	if i < 0 || j < i {
		return "the server's message quoted a secret; it is not shown"
	}
	return msg[:i] + "near " + topology.Redacted + msg[j+1:]
}
