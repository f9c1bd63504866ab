package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ParseLinkFile parses the content of a registry:2 link file: exactly one
// digest, no newline, as the registry writes and insists on reading.
func ParseLinkFile(b []byte) (string, bool) {
	if len(b) > maxLinkSize {
		return "", false
	}
	s := string(b)
	return s, storageDigest(s)
}

// storageDigest reports whether d is a sha256 or sha512 digest, the only
// algorithms registry:2's storage layout holds. It is ValidDigest for
// those two, without a regular expression: the scan checks one per file.
func storageDigest(d string) bool {
	switch {
	case len(d) == 7+64 && d[:7] == "sha256:":
		return isLowerHex(d[7:])
	case len(d) == 7+128 && d[:7] == "sha512:":
		return isLowerHex(d[7:])
	}
	return false
}

func quoteShort(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%q... (%d bytes)", b[:80], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// digestFromDir turns a link or blob directory name under an algorithm
// directory into a digest, or "" when it is not one.
func digestFromDir(alg, name string) string {
	d := alg + ":" + name
	if !storageDigest(d) {
		return ""
	}
	return d
}

// ParseStartedAt parses an upload's startedat file: an RFC 3339 time, as
// the registry writes it.
func ParseStartedAt(b []byte) (time.Time, bool) {
	if len(b) > 64 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	return t, err == nil
}

// parseStored parses a manifest blob whose digest should be d.
func parseStored(d string, body []byte) *storedManifest {
	if err := verifyDigest(d, body); err != nil {
		return &storedManifest{state: StateCorrupt, msg: innermost(err)}
	}
	if m := parseFast(body); m != nil {
		return &storedManifest{m: m}
	}
	m, err := ParseManifest("", body)
	switch {
	case err == nil:
		return &storedManifest{m: m}
	case errors.Is(err, ErrUnsupportedMedia):
		if refs, ok := schema1Refs(body); ok {
			return &storedManifest{refs: refs}
		}
		return &storedManifest{state: StateUnsupported, msg: innermost(err)}
	default:
		return &storedManifest{state: StateInvalid, msg: innermost(err)}
	}
}

// parseFast parses the common case, a manifest or index that names its
// media type and holds sha256 or sha512 digests and no nulls, in one pass
// and without regular expressions. It returns nil for anything else, and
// ParseManifest then decides: whatever parseFast accepts, ParseManifest
// accepts as the same Manifest (FuzzParseStored holds it to that).
func parseFast(body []byte) *Manifest {
	if bytes.Contains(body, []byte("null")) {
		return nil
	}
	var f struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Config        json.RawMessage `json:"config"`
		Layers        []Descriptor    `json:"layers"`
		Manifests     []Descriptor    `json:"manifests"`
		FSLayers      json.RawMessage `json:"fsLayers"`
	}
	if json.Unmarshal(body, &f) != nil || f.SchemaVersion != 2 || f.FSLayers != nil {
		return nil
	}
	m := &Manifest{SchemaVersion: 2, MediaType: f.MediaType, Layers: f.Layers, Manifests: f.Manifests}
	switch f.MediaType {
	case MediaTypeOCIIndex, MediaTypeDockerList:
		if f.Config != nil || f.Layers != nil || !fastDescriptors(f.Manifests) {
			return nil
		}
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
		if f.Manifests != nil || f.Config == nil || json.Unmarshal(f.Config, &m.Config) != nil ||
			!fastDescriptors([]Descriptor{m.Config}) || !fastDescriptors(f.Layers) {
			return nil
		}
	default:
		return nil
	}
	return m
}

func fastDescriptors(ds []Descriptor) bool {
	for _, d := range ds {
		if !storageDigest(d.Digest) || d.Size < 0 {
			return false
		}
	}
	return true
}

// schema1Refs returns the layers of a Docker schema1 manifest, which
// registry:2 still serves and its collector still follows.
func schema1Refs(body []byte) ([]string, bool) {
	var m struct {
		SchemaVersion int `json:"schemaVersion"`
		FSLayers      []struct {
			BlobSum string `json:"blobSum"`
		} `json:"fsLayers"`
	}
	if json.Unmarshal(body, &m) != nil || m.SchemaVersion != 1 {
		return nil, false
	}
	var refs []string
	for _, l := range m.FSLayers {
		if !ValidDigest(l.BlobSum) {
			return nil, false
		}
		refs = append(refs, l.BlobSum)
	}
	return refs, true
}
