package inspect

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
)

// FuzzAccountQuoting round-trips account names and passwords through a real
// server whose global sql_mode has NO_BACKSLASH_ESCAPES: mmm's statement
// builders create the account on an admin session (conn.Open, which pins the
// session's sql_mode), the account must exist under exactly that name, a
// login with the password must work, and the account is dropped again. A
// quoting bug shows as a syntax error, an account under another name, or a
// password that does not log in. The seed corpus (hand-picked cases and 200
// drawn ones) runs in `go test`.
func FuzzAccountQuoting(f *testing.F) {
	for _, s := range [][2]string{
		{"plain", "secret"},
		{"o'brien", `it's`},
		{`back\slash`, `ends with a backslash\`},
		{`\'`, `\'`},
		{`x\`, `'`},
		{`' OR 1=1 -- x`, `'); DROP USER root; -- x`},
		{`\\'); DROP USER 'root'@'%'; --x`, `\\\'`},
		{"new\nline", "tab\tcr\rctrl-z\x1a"},
		{"nul", "a\x00b"},
		{"`tick`", `"double" "quotes"`},
		{"ünïcödé", "пароль密码"},
		{"%", "%"},
		{"_", `\%\_`},
	} {
		f.Add(s[0], s[1])
	}
	// More seeds drawn from the characters quoting is about, the same every
	// run. They stand in for `go test -fuzz`, whose worker processes would
	// each run TestMain and start their own lab on this package's subnet.
	rng := rand.New(rand.NewPCG(14, 5))
	hostile := []rune("'\\\"`%_;-#/* \t\n\r\x1a\x00aZ9@.é€")
	draw := func(max int) string {
		r := make([]rune, 1+rng.IntN(max))
		for i := range r {
			r[i] = hostile[rng.IntN(len(hostile))]
		}
		return string(r)
	}
	for range 200 {
		f.Add(strings.ReplaceAll(strings.TrimRight(draw(20), " "), "\x00", "0")+"x", draw(40))
	}

	l := labtest.Get(f)
	h := l.Cluster().Host("master1")
	raw := rawDB(f, l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var global string
	if err := raw.QueryRowContext(ctx, "SELECT @@GLOBAL.sql_mode").Scan(&global); err != nil {
		f.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, "SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')"); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := raw.ExecContext(ctx, "SET GLOBAL sql_mode = ?", global); err != nil {
			f.Errorf("restore the global sql_mode %q: %v", global, err)
		}
	})

	// A new session without the pin inherits NO_BACKSLASH_ESCAPES: the
	// server is in the state the test is about.
	var unpinned, pinned, version string
	plainDB := rawDB(f, l)
	if err := plainDB.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&unpinned); err != nil {
		f.Fatal(err)
	}
	if !strings.Contains(unpinned, "NO_BACKSLASH_ESCAPES") {
		f.Fatalf("a new session's sql_mode is %q, want NO_BACKSLASH_ESCAPES in it", unpinned)
	}

	db, err := conn.Open(ctx, h, conn.Timeouts{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	admin, err := db.Conn(ctx)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { admin.Close() })
	if err := admin.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode, VERSION()").Scan(&pinned, &version); err != nil {
		f.Fatal(err)
	}
	want := slices.DeleteFunc(strings.Split(unpinned, ","), func(m string) bool { return m == "NO_BACKSLASH_ESCAPES" })
	if got := strings.Split(pinned, ","); !slices.Equal(got, want) {
		f.Fatalf("pinned session sql_mode %q, want the server's %q without NO_BACKSLASH_ESCAPES", pinned, unpinned)
	}
	fl, err := flavor.Parse(version)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, name, password string) {
		// Names come from HCL (UTF-8); an empty name is the anonymous
		// account; the login handshake ends a name at a NUL byte; MariaDB keeps at most 80 characters of a user name, in
		// utf8mb3 (no 4-byte characters); trailing spaces are not significant in
		// its comparisons. mmm's builders refuse "%s" in a name.
		if name == "" || strings.ContainsRune(name, 0) || !utf8.ValidString(name) || !utf8.ValidString(password) ||
			utf8.RuneCountInString(name) > 80 || strings.TrimRight(name, " ") != name || hasWideRune(name) {
			t.Skip("not an account name the server keeps as given")
		}
		create, err := fl.CreateUser(name, "%", password)
		if err != nil {
			if strings.Contains(name, "%s") {
				t.Skip(err)
			}
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, create.SQL()); err != nil {
			t.Fatalf("%s: %v", create.Redacted(), err)
		}
		defer func() {
			if _, err := admin.ExecContext(ctx, fl.DropUser(name, "%").SQL()); err != nil {
				t.Errorf("drop %q: %v", name, err)
			}
			var n int
			if err := admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = '%'", name).Scan(&n); err != nil || n != 0 {
				t.Errorf("account %q still there after the drop (%d, %v)", name, n, err)
			}
		}()
		var n int
		if err := admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = '%'", name).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: %d accounts named %q (%v)", create.Redacted(), n, name, err)
		}

		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr = "tcp", conn.Addr(h)
		cfg.User, cfg.Passwd = name, password
		cfg.AllowNativePasswords = true
		cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 5*time.Second, 5*time.Second, 5*time.Second
		connector, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		login := sql.OpenDB(connector)
		defer login.Close()
		var user string
		if err := login.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&user); err != nil {
			var me *mysql.MySQLError
			if errors.As(err, &me) && me.Number == 1045 {
				t.Fatalf("login as %q with its password (%q) refused: the password was stored differently", name, password)
			}
			t.Fatal(err)
		}
		if want := name + "@%"; user != want {
			t.Fatalf("logged in as %q, want %q", user, want)
		}
	})
}

// rawDB is a pool of sessions to master1 as the lab opens them: without
// mmm's sql_mode pin.
func rawDB(f *testing.F, l *lab.Lab) *sql.DB {
	db, err := l.DB("master1")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	return db
}

// hasWideRune reports a character outside the Basic Multilingual Plane, which
// MariaDB's utf8mb3 account tables cannot hold.
func hasWideRune(s string) bool {
	for _, r := range s {
		if r > 0xFFFF {
			return true
		}
	}
	return false
}
