package agent

import (
	"net/http"
	"strings"
	"sync"

	"github.com/mysql-mmm/mmm/internal/pki"
)

// roleAudit logs who changed the roles this agent holds, from where, and
// from what to what: one line per change, not per lease renewal (which
// repeats the same set about once a second).
type roleAudit struct {
	mu   sync.Mutex
	last string // mode and held roles after the last request that changed them
}

// auditRoles logs the change when st (the status after a successful PUT
// /v1/roles or POST /v1/fence) differs from the last one recorded.
func (a *Agent) auditRoles(r *http.Request, st *Status) {
	if st == nil {
		return
	}
	var held []string
	for _, h := range st.Roles {
		held = append(held, h.Role+"="+h.IP)
	}
	now := string(st.Mode) + " [" + strings.Join(held, " ") + "]"
	a.audit.mu.Lock()
	before := a.audit.last
	a.audit.last = now
	a.audit.mu.Unlock()
	if now == before {
		return
	}
	a.log.Info("roles changed", "who", requester(r), "remote", r.RemoteAddr, "request", r.Method+" "+r.URL.Path,
		"before", orUnknown(before), "after", now)
}

// requester names the caller for the audit log: the client certificate's
// mmm identity with a tls block, else the agent token's holder (never the
// token itself).
func requester(r *http.Request) string {
	if id, ok := pki.PeerIdentity(r.TLS); ok {
		return id.String()
	}
	return "agent-token"
}

func orUnknown(s string) string {
	if s == "" {
		return "(not recorded since the agent started)"
	}
	return s
}
