package gtid

import "testing"

const (
	u1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	u2 = "4f22fa47-71ca-11e1-9e33-c80aa9429562"
)

func TestParseString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"0-1-100", "0-1-100"},
		{"1-2-7,0-1-100", "0-1-100,1-2-7"},
		{" 0-1-100,\n 1-2-7", "0-1-100,1-2-7"},
		{u1 + ":1-5:7-9", u1 + ":1-5:7-9"},
		{u1 + ":7-9:1-6", u1 + ":1-9"},
		{u2 + ":3," + u1 + ":1-2", u1 + ":1-2," + u2 + ":3"},
		{"3E11FA47-71CA-11E1-9E33-C80AA9429562:1", u1 + ":1"},
	}
	for _, tt := range tests {
		s, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := s.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"0-1", "a-b-c", "0-1-2-3", "nouuid:1-2", u1 + ":0", u1 + ":5-3", u1 + ":x"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q): no error", in)
		}
	}
}

func TestContainsSubtract(t *testing.T) {
	tests := []struct {
		a, b     string
		contains bool   // a ⊇ b
		aMinusB  string // a − b
	}{
		{"0-1-100", "0-1-100", true, ""},
		{"0-1-101", "0-1-100", true, "0-1-101"},
		{"0-1-100", "0-1-101", false, ""},
		{"0-2-101", "0-1-100", true, "0-2-101"},
		{"0-1-100", "", true, "0-1-100"},
		{"", "0-1-100", false, ""},
		{"0-1-100,1-2-5", "0-1-100", true, "1-2-5"},
		{"0-1-100", "0-1-100,1-2-5", false, ""},
		// same sequence number, different server: diverged both ways.
		{"0-2-100", "0-1-100", false, "0-2-100"},
		{u1 + ":1-10", u1 + ":1-5", true, u1 + ":6-10"},
		{u1 + ":1-5", u1 + ":1-10", false, ""},
		{u1 + ":1-10", u1 + ":3-4:8", true, u1 + ":1-2:5-7:9-10"},
		{u1 + ":1-10," + u2 + ":1", u1 + ":1-10", true, u2 + ":1"},
		{u1 + ":1-10", u1 + ":1-10," + u2 + ":1", false, ""},
		{u1 + ":1-3", "", true, u1 + ":1-3"},
	}
	for _, tt := range tests {
		a, b := MustParse(tt.a), MustParse(tt.b)
		if got := a.Contains(b); got != tt.contains {
			t.Errorf("%q.Contains(%q) = %v, want %v", tt.a, tt.b, got, tt.contains)
		}
		if got := a.Subtract(b).String(); got != tt.aMinusB {
			t.Errorf("%q.Subtract(%q) = %q, want %q", tt.a, tt.b, got, tt.aMinusB)
		}
	}
}

func TestUnionCount(t *testing.T) {
	tests := []struct {
		a, b, union string
		count       uint64
	}{
		{"0-1-100", "0-2-101,1-1-3", "0-2-101,1-1-3", 104},
		{"0-1-100", "", "0-1-100", 100},
		{u1 + ":1-5", u1 + ":4-9," + u2 + ":2", u1 + ":1-9," + u2 + ":2", 10},
		{"", u1 + ":1", u1 + ":1", 1},
	}
	for _, tt := range tests {
		u := MustParse(tt.a).Union(MustParse(tt.b))
		if u.String() != tt.union {
			t.Errorf("%q ∪ %q = %q, want %q", tt.a, tt.b, u, tt.union)
		}
		if u.Count() != tt.count {
			t.Errorf("count(%q) = %d, want %d", u, u.Count(), tt.count)
		}
		if !u.Contains(MustParse(tt.a)) || !u.Contains(MustParse(tt.b)) {
			t.Errorf("%q does not contain its parts", u)
		}
	}
}

func TestOnlyServer(t *testing.T) {
	if got := MustParse("0-1-100,1-2-7,2-1-3").OnlyServer(1).String(); got != "0-1-100,2-1-3" {
		t.Errorf("OnlyServer(1) = %q", got)
	}
	if got := MustParse(u1 + ":1-3").OnlyServer(1).String(); got != u1+":1-3" {
		t.Errorf("MySQL OnlyServer = %q", got)
	}
}
