package secrets

import (
	"fmt"
	"log/slog"
	"time"
)

// Secret is a credential value that never shows itself: fmt, slog and JSON
// all see "[redacted]". Reveal gives the value to the one call that needs it.
type Secret struct{ v string }

const redacted = "[redacted]"

// NewSecret wraps v.
func NewSecret(v string) Secret { return Secret{v: v} }

// Reveal returns the value. Call it only where a request carries it.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether there is no value.
func (s Secret) Empty() bool { return s.v == "" }

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return redacted }

// Format makes every verb (%s, %v, %q, %x, ...) print "[redacted]".
func (Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, redacted) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (YAML, text encoders).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Credential is what a source returns: a password, usually a username, and
// when the source rotates it (Vault's static roles), how long it is valid.
type Credential struct {
	Username string
	Password Secret
	// TTL is how long until the source rotates the password; 0 when the
	// source does not say (files, KV).
	TTL time.Duration
	// LastRotation is when the source last rotated it (zero if unknown).
	LastRotation time.Time
	// Version identifies the value where the source has versions (KV v2).
	Version string
}
