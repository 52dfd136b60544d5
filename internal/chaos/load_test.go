package chaos

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// attempt is one INSERT the load tried (or one connection it could not make).
type attempt struct {
	N       int       `json:"n,omitempty"` // 0: no INSERT was sent (no connection)
	Client  string    `json:"client"`
	Start   time.Time `json:"start"` // the INSERT was sent (or the connection tried)
	End     time.Time `json:"end"`   // its answer
	Outcome string    `json:"outcome"`
	SID     uint32    `json:"server_id,omitempty"` // the server of the connection
	Err     string    `json:"err,omitempty"`
}

// Outcomes.
const (
	acked     = "ack"       // committed: the client got OK
	failed    = "failed"    // the server refused it (an error packet): not committed
	ambiguous = "ambiguous" // sent, no answer (timeout, connection lost): unknown
	noConn    = "noconn"    // no connection: nothing was sent
)

// load writes through the writer VIP as the application: client "conn" opens
// one connection per INSERT, client "persist" keeps one connection and
// reconnects after any error. A connection reaches one server for its whole
// life (a TCP connection cannot move with the VIP), so the server_id read
// right after connecting is the server of every INSERT acknowledged on it.
type load struct {
	s    *suite
	next atomic.Int64

	mu       sync.Mutex
	attempts []attempt

	stopCh chan struct{}
	wg     sync.WaitGroup
}

func (s *suite) startLoad(base int) *load {
	ld := &load{s: s, stopCh: make(chan struct{})}
	ld.next.Store(int64(base))
	conn := s.appConnector()
	ld.wg.Add(2)
	go ld.perConnection(conn)
	go ld.persistent(conn)
	return ld
}

func (ld *load) stopped() bool {
	select {
	case <-ld.stopCh:
		return true
	default:
		return false
	}
}

func (ld *load) stop() {
	if !ld.stopped() {
		close(ld.stopCh)
	}
	ld.wg.Wait()
}

func (ld *load) sleep(d time.Duration) {
	select {
	case <-ld.stopCh:
	case <-time.After(d):
	}
}

func (ld *load) record(a attempt) {
	ld.mu.Lock()
	ld.attempts = append(ld.attempts, a)
	ld.mu.Unlock()
}

func (ld *load) snapshot() []attempt {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return append([]attempt(nil), ld.attempts...)
}

// dial opens one connection through the VIP and reads its server_id.
func dial(connector driver.Connector) (*sql.DB, *sql.Conn, uint32, error) {
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, 0, err
	}
	var sid uint32
	if err := c.QueryRowContext(ctx, "SELECT @@server_id").Scan(&sid); err != nil {
		c.Close()
		db.Close()
		return nil, nil, 0, err
	}
	return db, c, sid, nil
}

const insertSQL = "INSERT INTO shop.chaos (n, at) VALUES (?, NOW(6))"

// insert sends one INSERT of n on c and classifies the answer.
func (ld *load) insert(client string, c *sql.Conn, sid uint32) attempt {
	n := int(ld.next.Add(1))
	a := attempt{N: n, Client: client, SID: sid, Start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err := c.ExecContext(ctx, insertSQL, n)
	cancel()
	a.End = time.Now()
	var me *mysql.MySQLError
	switch {
	case err == nil:
		a.Outcome = acked
	case errors.As(err, &me):
		a.Outcome, a.Err = failed, err.Error()
	default:
		a.Outcome, a.Err = ambiguous, err.Error()
	}
	ld.record(a)
	return a
}

func (ld *load) perConnection(connector driver.Connector) {
	defer ld.wg.Done()
	for !ld.stopped() {
		start := time.Now()
		db, c, sid, err := dial(connector)
		if err != nil {
			ld.record(attempt{Client: "conn", Start: start, End: time.Now(), Outcome: noConn, Err: err.Error()})
			ld.sleep(20 * time.Millisecond)
			continue
		}
		ld.insert("conn", c, sid)
		c.Close()
		db.Close()
		ld.sleep(20 * time.Millisecond)
	}
}

func (ld *load) persistent(connector driver.Connector) {
	defer ld.wg.Done()
	var db *sql.DB
	var c *sql.Conn
	var sid uint32
	defer func() {
		if c != nil {
			c.Close()
			db.Close()
		}
	}()
	for !ld.stopped() {
		if c == nil {
			start := time.Now()
			var err error
			if db, c, sid, err = dial(connector); err != nil {
				ld.record(attempt{Client: "persist", Start: start, End: time.Now(), Outcome: noConn, Err: err.Error()})
				ld.sleep(20 * time.Millisecond)
				continue
			}
		}
		if a := ld.insert("persist", c, sid); a.Outcome != acked {
			c.Close()
			db.Close()
			c, db = nil, nil
			ld.sleep(20 * time.Millisecond)
			continue
		}
		ld.sleep(10 * time.Millisecond)
	}
}
