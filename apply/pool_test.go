package apply

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// silentServer accepts connections on loopback and never greets: a frozen
// server, whose dial waits out the connect timeout.
func silentServer(t *testing.T) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// A dial to one frozen host must not hold up another host's lookup.
func TestPoolDialsHostsInParallel(t *testing.T) {
	addrA, portA := silentServer(t)
	addrB, portB := silentServer(t)
	c := &topology.Cluster{Hosts: []*topology.Host{
		{Name: "a", Address: addrA, Port: portA, Admin: topology.Account{User: "root"}},
		{Name: "b", Address: addrB, Port: portB, Admin: topology.Account{User: "root"}},
	}}
	p := &Pool{Cluster: c, Timeouts: conn.Timeouts{Connect: 5 * time.Second, Query: time.Second}}
	defer p.Close()

	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	doneA := make(chan error, 1)
	go func() {
		_, err := p.DB(ctxA, "a")
		doneA <- err
	}()
	time.Sleep(100 * time.Millisecond) // a's dial is under way

	ctxB, cancelB := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelB()
	if _, err := p.DB(ctxB, "b"); err == nil {
		t.Fatal("b answered although it never greets")
	}
	select {
	case err := <-doneA:
		t.Fatalf("a's dial ended (%v) before b's lookup returned: the lookups were serialised", err)
	default:
	}
	cancelA()
	if err := <-doneA; err == nil {
		t.Fatal("a answered although it never greets")
	}
}
