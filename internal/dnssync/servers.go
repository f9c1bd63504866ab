package dnssync

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/labops/labops/internal/config"
)

// Server types a ServerSpec can name.
const (
	TypePowerDNS   = "powerdns"
	TypeDNS        = "dns"
	TypeTechnitium = "technitium"
)

// ServerSpec is one DNS server in the config. Secrets come from files,
// read at each run so that a rotated one is picked up.
type ServerSpec struct {
	Name string `yaml:"name" json:"name"`
	// Type is powerdns, dns (AXFR + RFC 2136) or technitium.
	Type string `yaml:"type" json:"type"`
	// URL is the HTTP API's base URL (powerdns, technitium).
	URL string `yaml:"url" json:"url,omitempty"`
	// APIKeyFile holds the PowerDNS API key or the Technitium token.
	APIKeyFile string `yaml:"api_key_file" json:"api_key_file,omitempty"`
	// ServerID is PowerDNS's server id (default localhost).
	ServerID string `yaml:"server_id" json:"server_id,omitempty"`
	// DNS is host:port of the server's DNS service: what dns-type servers
	// are reached on, and what dns ready queries on every server.
	DNS string `yaml:"dns" json:"dns,omitempty"`
	// Zones are the zones a dns-type server serves (it cannot list them).
	Zones []string `yaml:"zones" json:"zones,omitempty"`
	// TSIG signs transfers and updates of a dns-type server.
	TSIG *TSIGSpec `yaml:"tsig" json:"tsig,omitempty"`
	// Timeout bounds each request (default 30s).
	Timeout string `yaml:"timeout" json:"timeout,omitempty"`
}

// TSIGSpec is a TSIG key whose secret is in a file.
type TSIGSpec struct {
	Name       string `yaml:"name" json:"name"`
	Algorithm  string `yaml:"algorithm" json:"algorithm,omitempty"`
	SecretFile string `yaml:"secret_file" json:"secret_file"`
}

var tsigAlgorithms = []string{"hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1"}

// validate returns every problem with paths relative to the spec.
func (s ServerSpec) validate() (time.Duration, config.Problems) {
	var ps config.Problems
	timeout := 30 * time.Second
	if s.Name == "" {
		ps.Add("name", "required")
	}
	checkURL := func() {
		u, err := url.Parse(s.URL)
		if s.URL == "" {
			ps.Add("url", "required for type %s (e.g. http://127.0.0.1:8081)", s.Type)
		} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.Add("url", "%q is not an http(s) URL", s.URL)
		}
		if s.APIKeyFile == "" {
			ps.Add("api_key_file", "required for type %s", s.Type)
		}
	}
	switch s.Type {
	case TypePowerDNS, TypeTechnitium:
		checkURL()
		if s.TSIG != nil && s.DNS == "" {
			ps.Add("tsig", "needs dns (the address to sign transfers to)")
		}
	case TypeDNS:
		if s.DNS == "" {
			ps.Add("dns", "required for type dns (host:port)")
		}
		if len(s.Zones) == 0 {
			ps.Add("zones", "required for type dns: plain DNS cannot list a server's zones")
		}
		if s.URL != "" || s.APIKeyFile != "" {
			ps.Add("url", "type dns has no HTTP API; url and api_key_file go with powerdns or technitium")
		}
	case "":
		ps.Add("type", "required (powerdns, dns or technitium)")
	default:
		ps.Add("type", "%q is not a server type (valid: powerdns, dns, technitium)", s.Type)
	}
	if s.DNS != "" {
		if _, _, err := net.SplitHostPort(s.DNS); err != nil {
			ps.Add("dns", "%q is not host:port", s.DNS)
		}
	}
	if s.TSIG != nil {
		if s.TSIG.Name == "" {
			ps.Add("tsig.name", "required")
		}
		if s.TSIG.SecretFile == "" {
			ps.Add("tsig.secret_file", "required (secrets come from files)")
		}
		if a := strings.TrimSuffix(strings.ToLower(s.TSIG.Algorithm), "."); a != "" && !slices.Contains(tsigAlgorithms, a) {
			ps.Add("tsig.algorithm", "%q is not supported (valid: %s)", s.TSIG.Algorithm, strings.Join(tsigAlgorithms, ", "))
		}
	}
	if s.Timeout != "" {
		d, err := time.ParseDuration(s.Timeout)
		if err != nil || d <= 0 {
			ps.Add("timeout", "%q is not a positive duration (e.g. 30s)", s.Timeout)
		} else {
			timeout = d
		}
	}
	return timeout, ps
}

// Validate checks one server spec.
func (s ServerSpec) Validate() error {
	_, ps := s.validate()
	return ps.Err()
}

// readSecret reads a secret file: trimmed, never empty.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return s, nil
}

// Provider builds the server's provider, reading its secrets now.
func (s ServerSpec) Provider() (Provider, error) {
	timeout, ps := s.validate()
	if err := ps.Err(); err != nil {
		return nil, err
	}
	var key *TSIGKey
	if s.TSIG != nil {
		secret, err := readSecret(s.TSIG.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("server %s: tsig: %w", s.Name, err)
		}
		key = &TSIGKey{Name: s.TSIG.Name, Algorithm: s.TSIG.Algorithm, Secret: secret}
	}
	switch s.Type {
	case TypeDNS:
		return NewPlainDNS(PlainDNSOptions{Name: s.Name, Addr: s.DNS, Zones: s.Zones, Key: key, Timeout: timeout}), nil
	case TypePowerDNS:
		k, err := readSecret(s.APIKeyFile)
		if err != nil {
			return nil, fmt.Errorf("server %s: api_key_file: %w", s.Name, err)
		}
		return NewPowerDNS(PowerDNSOptions{Name: s.Name, URL: s.URL, ServerID: s.ServerID, APIKey: k, Timeout: timeout})
	case TypeTechnitium:
		k, err := readSecret(s.APIKeyFile)
		if err != nil {
			return nil, fmt.Errorf("server %s: api_key_file: %w", s.Name, err)
		}
		return NewTechnitium(TechnitiumOptions{Name: s.Name, URL: s.URL, Token: k, Timeout: timeout})
	}
	return nil, fmt.Errorf("server %s: unknown type %q", s.Name, s.Type)
}
