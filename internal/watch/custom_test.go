package watch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

func TestCustomCheck(t *testing.T) {
	t.Setenv("MMM_ADMIN_PASSWORD", "not-for-checks")
	h := &topology.Host{Name: "master1", Address: "198.18.0.11"}
	check := func(script string, timeout time.Duration) Result {
		ch := &topology.Check{Name: "custom", Command: []string{"/bin/sh", "-c", script, "check"}, Timeout: timeout}
		return Custom(context.Background(), ch, h)
	}
	r := check(`echo "$MMM_HOST $MMM_ADDRESS $1 $2 ${MMM_ADMIN_PASSWORD:-none}"`, 5*time.Second)
	if !r.OK || r.Detail != "OK: master1 198.18.0.11 master1 198.18.0.11 none" {
		t.Errorf("got %+v", r)
	}
	r = check(`echo checking; echo 'replica lag 120s'; exit 2`, 5*time.Second)
	if r.OK || r.Detail != "ERROR: exit status 2: replica lag 120s" {
		t.Errorf("got %+v", r)
	}
	t0 := time.Now()
	r = check(`sleep 30 & sleep 30`, 200*time.Millisecond)
	if r.OK || !strings.Contains(r.Detail, "no answer within 200ms") || time.Since(t0) > 2*time.Second {
		t.Errorf("got %+v after %s", r, time.Since(t0))
	}
	if r := Custom(context.Background(), &topology.Check{Name: "x"}, h); r.OK || r.Detail != "ERROR: no command" {
		t.Errorf("got %+v", r)
	}
}
