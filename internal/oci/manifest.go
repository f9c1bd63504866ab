package oci

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"mime"
	"strings"
)

// Manifest media types the walker understands.
const (
	MediaTypeOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"

	MediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"

	MediaTypeOCIConfig    = "application/vnd.oci.image.config.v1+json"
	MediaTypeOCILayer     = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// acceptManifests is the Accept header for manifest GETs: all four types.
var acceptManifests = strings.Join([]string{
	MediaTypeOCIIndex, MediaTypeOCIManifest, MediaTypeDockerList, MediaTypeDockerManifest,
}, ", ")

// Platform is the platform of an index entry.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

func (p *Platform) String() string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Descriptor points at a blob or manifest by digest.
type Descriptor struct {
	MediaType string    `json:"mediaType"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	Platform  *Platform `json:"platform,omitempty"`
}

// Manifest is an image manifest or an index (manifest list), whichever
// MediaType says.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Config        Descriptor   `json:"config,omitzero"`
	Layers        []Descriptor `json:"layers,omitempty"`
	Manifests     []Descriptor `json:"manifests,omitempty"`
}

// IsIndex reports whether m is an OCI index or a Docker manifest list.
func (m *Manifest) IsIndex() bool {
	return m.MediaType == MediaTypeOCIIndex || m.MediaType == MediaTypeDockerList
}

// ParseManifest parses a manifest body. The type comes from the body's
// mediaType field, else from the Content-Type header, else (OCI allows
// omitting mediaType) from the shape of the body. Docker schema1 and
// unknown types are ErrUnsupportedMedia; anything malformed is
// ErrInvalidManifest. The body comes from the network: no panics.
func ParseManifest(contentType string, body []byte) (*Manifest, error) {
	var raw struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Config        json.RawMessage `json:"config"`
		Layers        json.RawMessage `json:"layers"`
		Manifests     json.RawMessage `json:"manifests"`
		FSLayers      json.RawMessage `json:"fsLayers"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	ct, _, _ := mime.ParseMediaType(contentType)
	if raw.SchemaVersion == 1 || ct == MediaTypeDockerSchema1 || ct == MediaTypeDockerSchema1Signed || raw.FSLayers != nil {
		return nil, fmt.Errorf("%w: Docker schema1 manifests are not supported (re-push the image with a current client)", ErrUnsupportedMedia)
	}
	if raw.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion %d, want 2", ErrInvalidManifest, raw.SchemaVersion)
	}
	mt := raw.MediaType
	if mt == "" && (ct == MediaTypeOCIManifest || ct == MediaTypeOCIIndex) {
		mt = ct
	}
	if mt == "" {
		switch {
		case raw.Manifests != nil && raw.Config == nil:
			mt = MediaTypeOCIIndex
		case raw.Config != nil && raw.Manifests == nil:
			mt = MediaTypeOCIManifest
		default:
			return nil, fmt.Errorf("%w: no mediaType and Content-Type %q", ErrUnsupportedMedia, contentType)
		}
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	m.MediaType = mt
	switch mt {
	case MediaTypeOCIIndex, MediaTypeDockerList:
		if raw.Config != nil || raw.Layers != nil {
			return nil, fmt.Errorf("%w: an index with config or layers", ErrInvalidManifest)
		}
		for i, d := range m.Manifests {
			if err := checkDescriptor(d); err != nil {
				return nil, fmt.Errorf("%w: manifests[%d]: %w", ErrInvalidManifest, i, err)
			}
		}
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
		if raw.Manifests != nil {
			return nil, fmt.Errorf("%w: an image manifest with manifests", ErrInvalidManifest)
		}
		if raw.Config == nil {
			return nil, fmt.Errorf("%w: no config", ErrInvalidManifest)
		}
		if err := checkDescriptor(m.Config); err != nil {
			return nil, fmt.Errorf("%w: config: %w", ErrInvalidManifest, err)
		}
		for i, d := range m.Layers {
			if err := checkDescriptor(d); err != nil {
				return nil, fmt.Errorf("%w: layers[%d]: %w", ErrInvalidManifest, i, err)
			}
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedMedia, mt)
	}
	return &m, nil
}

func checkDescriptor(d Descriptor) error {
	if !ValidDigest(d.Digest) {
		return fmt.Errorf("digest %q is not a digest", d.Digest)
	}
	if d.Size < 0 {
		return fmt.Errorf("negative size %d", d.Size)
	}
	return nil
}

// newDigester returns a hash for the digest's algorithm.
func newDigester(digest string) (hash.Hash, error) {
	alg, _, _ := strings.Cut(digest, ":")
	switch alg {
	case "sha256":
		return sha256.New(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedDigest, alg)
}

// Digest returns the sha256 digest of b.
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// verifyDigest checks that body has the given digest.
func verifyDigest(digest string, body []byte) error {
	h, err := newDigester(digest)
	if err != nil {
		return err
	}
	h.Write(body)
	alg, _, _ := strings.Cut(digest, ":")
	got := alg + ":" + hex.EncodeToString(h.Sum(nil))
	if got != digest {
		return fmt.Errorf("%w: content is %s", ErrDigestMismatch, got)
	}
	return nil
}

// MarshalManifest encodes m with its media type, as the pusher sends it.
func MarshalManifest(m *Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
