package topology

import "encoding/json"

// Redacted is what every output prints in place of a secret.
const Redacted = "<redacted>"

// Secret is a sensitive value (password, token). It prints as <redacted> in every
// format (fmt, JSON, slog), so it cannot leak by accident; Value is the only way
// to read it, and only code that talks to a server calls it.
type Secret struct {
	value string
	// Source says where the value came from, e.g. `env("MMM_ADMIN_PASSWORD")`,
	// for messages such as "the password from env(...) is empty".
	Source string
	// Set is false when the source was unset (an unset env var in validate).
	Set bool
}

// NewSecret wraps a value.
func NewSecret(value, source string) Secret {
	return Secret{value: value, Source: source, Set: true}
}

// UnsetSecret is a secret whose source had no value (allowed in validate only).
func UnsetSecret(source string) Secret { return Secret{Source: source} }

// Value returns the secret itself. Never log or print it.
func (s Secret) Value() string { return s.value }

// IsZero reports whether no secret was declared at all.
func (s Secret) IsZero() bool { return !s.Set && s.Source == "" }

func (s Secret) String() string   { return Redacted }
func (s Secret) GoString() string { return Redacted }

// MarshalJSON keeps secrets out of JSON output and plan files.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(Redacted) }

// MarshalText keeps secrets out of text encoders (slog's text handler among them).
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
