package oci

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// Registry is the address of a registry: a scheme and a host[:port].
type Registry struct {
	Scheme string // "https" or "http"
	Host   string // host or host:port
}

// URL returns the base URL of the registry, e.g. "http://127.0.0.1:5000".
func (r Registry) URL() string { return r.Scheme + "://" + r.Host }

func (r Registry) String() string { return r.Host }

// ParseRegistry parses a registry address: "localhost:5000", "host",
// "https://host" or "http://127.0.0.1:5000". Without a scheme, plainHTTP
// chooses http; otherwise https. An explicit http:// always means plain HTTP.
func ParseRegistry(s string, plainHTTP bool) (Registry, error) {
	orig := s
	if s == "" {
		return Registry{}, fmt.Errorf("registry address is empty")
	}
	scheme := "https"
	if plainHTTP {
		scheme = "http"
	}
	if i := strings.Index(s, "://"); i >= 0 {
		switch strings.ToLower(s[:i]) {
		case "http":
			scheme = "http"
		case "https":
			if plainHTTP {
				return Registry{}, fmt.Errorf("registry %q: https:// contradicts plain HTTP", orig)
			}
			scheme = "https"
		default:
			return Registry{}, fmt.Errorf("registry %q: scheme %q is not http or https", orig, s[:i])
		}
		s = s[i+3:]
	}
	s = strings.TrimSuffix(s, "/")
	s = strings.TrimSuffix(s, "/v2")
	if s == "" {
		return Registry{}, fmt.Errorf("registry %q: no host", orig)
	}
	if strings.ContainsAny(s, "/?#@ ") {
		return Registry{}, fmt.Errorf("registry %q: want host[:port] with no path (e.g. localhost:5000)", orig)
	}
	u, err := url.Parse(scheme + "://" + s)
	if err != nil || u.Host == "" {
		return Registry{}, fmt.Errorf("registry %q: not a host[:port]", orig)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return Registry{}, fmt.Errorf("registry %q: bad port %q", orig, p)
		}
	}
	return Registry{Scheme: scheme, Host: u.Host}, nil
}

// Reference names one image in a registry: host/repo[:tag][@digest].
type Reference struct {
	Registry Registry
	Repo     string
	Tag      string // empty when only a digest is given
	Digest   string // empty unless given
}

// Ref is what to ask the registry for: the digest when known, else the tag.
func (r Reference) Ref() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

func (r Reference) String() string {
	s := r.Registry.Host + "/" + r.Repo
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

var (
	repoRe   = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRe    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestRe = regexp.MustCompile(`^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)
)

// ValidRepo reports whether name is a valid repository name.
func ValidRepo(name string) bool { return len(name) <= 255 && repoRe.MatchString(name) }

// ValidTag reports whether tag is a valid tag.
func ValidTag(tag string) bool { return tagRe.MatchString(tag) }

// ValidDigest reports whether d looks like algorithm:encoded, with a known
// length for sha256 and sha512.
func ValidDigest(d string) bool {
	if !digestRe.MatchString(d) {
		return false
	}
	alg, enc, _ := strings.Cut(d, ":")
	switch alg {
	case "sha256":
		return len(enc) == 64 && isLowerHex(enc)
	case "sha512":
		return len(enc) == 128 && isLowerHex(enc)
	}
	return true
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseReference parses host/repo[:tag][@digest], optionally prefixed with
// http:// or https://. The host is required. Without tag or digest the tag
// is "latest".
func ParseReference(s string, plainHTTP bool) (Reference, error) {
	orig := s
	prefix := ""
	if i := strings.Index(s, "://"); i >= 0 {
		prefix, s = s[:i+3], s[i+3:]
	}
	host, rest, ok := strings.Cut(s, "/")
	if !ok || rest == "" {
		return Reference{}, fmt.Errorf("reference %q: want host/repository[:tag][@digest]", orig)
	}
	reg, err := ParseRegistry(prefix+host, plainHTTP)
	if err != nil {
		return Reference{}, fmt.Errorf("reference %q: %w", orig, err)
	}
	ref := Reference{Registry: reg}
	if name, dig, ok := strings.Cut(rest, "@"); ok {
		if !ValidDigest(dig) {
			return Reference{}, fmt.Errorf("reference %q: %q is not a digest (want sha256:<64 hex>)", orig, dig)
		}
		ref.Digest, rest = dig, name
	}
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		ref.Tag, rest = rest[i+1:], rest[:i]
		if !ValidTag(ref.Tag) {
			return Reference{}, fmt.Errorf("reference %q: %q is not a valid tag", orig, ref.Tag)
		}
	}
	if !ValidRepo(rest) {
		return Reference{}, fmt.Errorf("reference %q: %q is not a valid repository name (lower case, digits, separators . _ -)", orig, rest)
	}
	ref.Repo = rest
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	return ref, nil
}
