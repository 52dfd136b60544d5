package schema

// Kinds of secrets, for Options.Secrets (and the diagnostics' wording).
const (
	SecretAdmin        = "admin password"
	SecretAgentToken   = "agent token"
	SecretMonitorToken = "monitor token"
	SecretPassword     = "password" // a user block's
)
