package agent

import (
	"net/http"
	"strings"
	"testing"
)

// The clone endpoints refuse what they must before touching anything: the
// physical copy stops the server, so a wrong request may not get near that.
func TestCloneRequestsRefused(t *testing.T) {
	h := newHarness(t, "slave1") // no Server: the agent cannot restart its server
	tests := []struct {
		name, method, path, token, body string
		code                            int
		msg                             string
	}{
		{"backup without a token", "GET", "/v1/backup", "", "", http.StatusUnauthorized, "missing bearer token"},
		{"clone with a wrong token", "POST", "/v1/clone", "wrong-token-xyz", `{"cluster":"shop","host":"slave1","donor":"master1"}`, http.StatusUnauthorized, "wrong token"},
		{"clone for another host", "POST", "/v1/clone", testToken, `{"cluster":"shop","host":"master2","donor":"master1"}`, http.StatusForbidden, `this agent is host "slave1"`},
		{"clone for another cluster", "POST", "/v1/clone", testToken, `{"cluster":"blog","host":"slave1","donor":"master1"}`, http.StatusForbidden, `serves cluster "shop"`},
		{"clone from itself", "POST", "/v1/clone", testToken, `{"cluster":"shop","host":"slave1","donor":"slave1"}`, http.StatusBadRequest, `donor "slave1" is not another declared host`},
		{"clone from an unknown host", "POST", "/v1/clone", testToken, `{"cluster":"shop","host":"slave1","donor":"nope"}`, http.StatusBadRequest, `donor "nope"`},
		{"clone with an unknown field", "POST", "/v1/clone", testToken, `{"cluster":"shop","host":"slave1","donor":"master1","wipe":true}`, http.StatusBadRequest, "malformed JSON"},
		{"clone without server control", "POST", "/v1/clone", testToken, `{"cluster":"shop","host":"slave1","donor":"master1"}`, http.StatusNotImplemented, "--server-start"},
		{"backup without server control", "GET", "/v1/backup", testToken, "", http.StatusNotImplemented, "--server-start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := h.do(t, tt.method, tt.path, tt.token, tt.body)
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Errorf("%s %s: %d %q, want %d with %q", tt.method, tt.path, code, msg, tt.code, tt.msg)
			}
		})
	}
	if _, changes := h.net.state(); changes != 0 {
		t.Errorf("%d network changes from refused requests", changes)
	}
}
