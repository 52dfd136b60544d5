package apply

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/plan"
)

// fakeRunner records the order steps ran in and fails the ones it is told to.
// It stands in for the servers only to test scheduling; SQL behaviour is tested
// against the lab.
type fakeRunner struct {
	mu    sync.Mutex
	order []string
	fail  map[string]bool
	delay map[string]time.Duration
}

func (f *fakeRunner) RunStep(ctx context.Context, s plan.Step) error {
	if d := f.delay[s.ID]; d > 0 {
		time.Sleep(d)
	}
	f.mu.Lock()
	f.order = append(f.order, s.ID)
	f.mu.Unlock()
	if f.fail[s.ID] {
		return errors.New("boom")
	}
	return nil
}

func step(id, host string, deps ...string) plan.Step {
	return plan.Step{ID: id, Host: host, Kind: plan.KindSetVariable, DependsOn: deps}
}

func TestExecuteOrderAndFailures(t *testing.T) {
	tests := []struct {
		name   string
		steps  []plan.Step
		fail   []string
		delay  map[string]time.Duration
		want   map[string]Status
		before [][2]string // pairs: first must have run before second
	}{
		{
			name: "all applied, cross-host dependency waits",
			steps: []plan.Step{
				step("m1:user", "m1"),
				step("s1:user", "s1"),
				step("s1:source", "s1", "m1:user"),
			},
			delay:  map[string]time.Duration{"m1:user": 30 * time.Millisecond},
			want:   map[string]Status{"m1:user": Applied, "s1:user": Applied, "s1:source": Applied},
			before: [][2]string{{"m1:user", "s1:source"}},
		},
		{
			name: "failure stops dependents and the rest of its host, not other hosts",
			steps: []plan.Step{
				step("m1:user", "m1"),
				step("m1:ro", "m1"),
				step("s1:user", "s1"),
				step("s1:source", "s1", "m1:user"),
				step("s1:start", "s1", "s1:source"),
				step("s2:user", "s2"),
			},
			fail: []string{"m1:user"},
			want: map[string]Status{
				"m1:user": Failed, "m1:ro": NotRun,
				"s1:user": Applied, "s1:source": NotRun, "s1:start": NotRun,
				"s2:user": Applied,
			},
		},
		{
			name:  "dependency on a later step is refused",
			steps: []plan.Step{step("a", "h", "b"), step("b", "h2")},
			want:  map[string]Status{"a": NotRun, "b": Applied},
		},
		{
			name:  "unknown dependency is refused",
			steps: []plan.Step{step("a", "h", "nope")},
			want:  map[string]Status{"a": NotRun},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRunner{fail: map[string]bool{}, delay: tt.delay}
			for _, id := range tt.fail {
				f.fail[id] = true
			}
			ex := &Executor{Runner: f}
			res := ex.Execute(context.Background(), &plan.Plan{Steps: tt.steps})
			got := map[string]Status{}
			for _, r := range res.Steps {
				got[r.Step.ID] = r.Status
				if r.Status == NotRun && r.Reason == "" {
					t.Errorf("%s not run without a reason", r.Step.ID)
				}
			}
			for id, st := range tt.want {
				if got[id] != st {
					t.Errorf("%s: got %s, want %s", id, got[id], st)
				}
			}
			pos := map[string]int{}
			for i, id := range f.order {
				pos[id] = i
			}
			for _, b := range tt.before {
				if pos[b[0]] > pos[b[1]] {
					t.Errorf("%s ran after %s; order %v", b[0], b[1], f.order)
				}
			}
			if (res.Count(Failed) > 0) != (res.Err() != nil) {
				t.Errorf("Err() = %v with %d failed", res.Err(), res.Count(Failed))
			}
		})
	}
}

func TestGuardFailsStepWithoutRunningIt(t *testing.T) {
	f := &fakeRunner{fail: map[string]bool{}}
	ex := &Executor{Runner: f, Guard: func(ctx context.Context, s plan.Step) error {
		if s.ID == "m2:ro" {
			return errors.New("master1 is writable")
		}
		return nil
	}}
	res := ex.Execute(context.Background(), &plan.Plan{Steps: []plan.Step{step("m2:ro", "m2"), step("m2:next", "m2")}})
	if res.Steps[0].Status != Failed || res.Steps[1].Status != NotRun {
		t.Fatalf("got %s/%s", res.Steps[0].Status, res.Steps[1].Status)
	}
	if len(f.order) != 0 {
		t.Fatalf("runner ran %v despite the guard", f.order)
	}
}

func TestIsSelect(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT MASTER_GTID_WAIT('0-1-5', 10)": true,
		"  select 1":                           true,
		"SET GLOBAL read_only = ON":            false,
		"SEL":                                  false,
	} {
		if got := isSelect(q); got != want {
			t.Errorf("isSelect(%q) = %v", q, got)
		}
	}
}
