package schema

import (
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Kinds of secrets, for Options.Secrets (and the diagnostics' wording).
const (
	SecretAdmin = "admin password"
	// SecretOtherAdmin is another host's admin password when Options.Host
	// names the one host a command serves (mmm agent): not needed.
	SecretOtherAdmin   = "another host's admin password"
	SecretAgentToken   = "agent token"
	SecretMonitorToken = "monitor token"
	SecretPassword     = "password" // a user block's
	// SecretCloneToken (agent.clone_token) is needed only by the commands
	// that list it (mmm agent); elsewhere an unset one is no error: the
	// agent refuses a clone or backup without it, saying so.
	SecretCloneToken = "agent clone token"
)

// blankToken refuses a token that is set but empty or only spaces: every
// API would then accept anyone who sends "Authorization: Bearer ".
func (b *builder) blankToken(a *hcl.Attribute, tok topology.Secret, what string) {
	if a == nil || !tok.Set || strings.TrimSpace(tok.Value()) != "" {
		return
	}
	b.errorf(a.Expr.Range().Ptr(), "Blank "+what,
		"The %s from %s is empty or only spaces, so it would authenticate nobody (or anybody); give it a long random value, e.g. from openssl rand -hex 32.", what, tok.Source)
}
