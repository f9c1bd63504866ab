package oci

import (
	"encoding/json"
	"fmt"
	"time"
)

// maxConfigSize bounds an image config blob read for its creation time.
const maxConfigSize = 8 << 20

// ParseImageCreated reads the `created` field of an image config blob (OCI
// image config and Docker container config alike): an RFC 3339 time. A
// config without it, or with an empty or zero one (reproducible builds set
// 1970-01-01), has no creation time (ok false). The body comes from the
// network: anything malformed is an error, never a panic.
func ParseImageCreated(body []byte) (created time.Time, ok bool, err error) {
	var cfg struct {
		Created *string `json:"created"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		return time.Time{}, false, fmt.Errorf("image config: %w", err)
	}
	if cfg.Created == nil || *cfg.Created == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *cfg.Created)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("image config: created %q is not an RFC 3339 time", *cfg.Created)
	}
	if t.Unix() <= 0 {
		return time.Time{}, false, nil
	}
	return t.UTC(), true, nil
}

// manifestSubject returns the digest in a manifest's `subject` field (an
// OCI 1.1 referrer: a signature, SBOM or attestation), or "".
func manifestSubject(body []byte) string {
	var m struct {
		Subject *struct {
			Digest string `json:"digest"`
		} `json:"subject"`
	}
	if json.Unmarshal(body, &m) != nil || m.Subject == nil {
		return ""
	}
	return m.Subject.Digest
}
