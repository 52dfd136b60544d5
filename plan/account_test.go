package plan

import "testing"

func TestAccountHostMatches(t *testing.T) {
	tests := []struct {
		pattern, addr string
		want          bool
	}{
		{"%", "198.18.0.11", true},
		{"198.18.0.%", "198.18.0.11", true},
		{"198.18.0.%", "198.18.1.11", false},
		{"198.18.0.1_", "198.18.0.11", true},
		{"198.18.0.1_", "198.18.0.111", false},
		{"198.18.0.11", "198.18.0.11", true},
		{"198.18.0.0/255.255.255.0", "198.18.0.42", true},
		{"198.18.0.0/255.255.255.0", "198.18.1.42", false},
		{"10.%", "198.18.0.11", false},
		{"%.%.%.%", "198.18.0.11", true},
	}
	for _, tt := range tests {
		if got := AccountHostMatches(tt.pattern, tt.addr); got != tt.want {
			t.Errorf("AccountHostMatches(%q, %q) = %v, want %v", tt.pattern, tt.addr, got, tt.want)
		}
	}
}
