package mail

import (
	"errors"
	"fmt"
	"strings"
)

// HAProxyConfig is an HAProxy configuration file split into sections and
// words, enough to resolve what each server's health checks do. It is no
// validator: HAProxy's own `haproxy -c` is.
type HAProxyConfig struct {
	File     string
	Sections []*HAProxySection
}

// HAProxySection is one section: global, defaults (named or not),
// frontend, backend, listen, or another kind kept as is.
type HAProxySection struct {
	Kind string // "global", "defaults", "frontend", "backend", "listen", ...
	Name string
	// From names the defaults section a proxy inherits from (`backend b
	// from d`); empty means the last defaults section before it.
	From       string
	Line       int
	Directives []HAProxyDirective
}

// HAProxyDirective is one configuration line, unquoted and unescaped.
type HAProxyDirective struct {
	Line  int
	Words []string
}

// Title is how findings name the section: "backend submission_alt".
func (s *HAProxySection) Title() string {
	if s.Name == "" {
		return s.Kind
	}
	return s.Kind + " " + s.Name
}

// haproxySectionKinds start a section (HAProxy 2.6's list).
var haproxySectionKinds = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"userlist": true, "peers": true, "resolvers": true, "mailers": true, "program": true,
	"http-errors": true, "ring": true, "cache": true, "fcgi-app": true, "crt-store": true,
	"traces": true, "log-forward": true,
}

// ErrHAProxySyntax is a configuration line that cannot be split into words
// or stands outside any section.
var ErrHAProxySyntax = errors.New("haproxy config syntax")

const maxHAProxyLine = 64 << 10

// ParseHAProxy splits an HAProxy configuration into sections. file names
// it in errors.
func ParseHAProxy(file string, data []byte) (*HAProxyConfig, error) {
	cfg := &HAProxyConfig{File: file}
	var cur *HAProxySection
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		if len(raw) > maxHAProxyLine {
			return nil, fmt.Errorf("%s:%d: %w: line longer than %d bytes", file, n, ErrHAProxySyntax, maxHAProxyLine)
		}
		words, err := splitHAProxyLine(strings.TrimSuffix(raw, "\r"))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w: %v", file, n, ErrHAProxySyntax, err)
		}
		if len(words) == 0 {
			continue
		}
		if haproxySectionKinds[words[0]] {
			cur = &HAProxySection{Kind: words[0], Line: n}
			rest := words[1:]
			if len(rest) > 0 && rest[0] != "from" {
				cur.Name, rest = rest[0], rest[1:]
			}
			if len(rest) >= 2 && rest[0] == "from" {
				cur.From = rest[1]
			}
			cfg.Sections = append(cfg.Sections, cur)
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: %w: %q outside any section", file, n, ErrHAProxySyntax, clip(words[0]))
		}
		cur.Directives = append(cur.Directives, HAProxyDirective{Line: n, Words: words})
	}
	return cfg, nil
}

// splitHAProxyLine splits a line the way HAProxy does: words separated by
// blanks, '#' starts a comment outside quotes, backslash escapes the next
// character, "double" quotes (with escapes) and 'single' quotes (literal)
// group words. Environment variables are left unexpanded.
func splitHAProxyLine(line string) ([]string, error) {
	var words []string
	var b strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
		case c == '#':
			if inWord {
				words = append(words, b.String())
			}
			return words, nil
		case c == '\\':
			if i+1 >= len(line) {
				return nil, errors.New("backslash at the end of the line")
			}
			i++
			b.WriteByte(line[i])
			inWord = true
		case c == '"' || c == '\'':
			end := -1
			for j := i + 1; j < len(line); j++ {
				if c == '"' && line[j] == '\\' && j+1 < len(line) {
					j++
					continue
				}
				if line[j] == c {
					end = j
					break
				}
			}
			if end < 0 {
				return nil, fmt.Errorf("unterminated %c quote", c)
			}
			q := line[i+1 : end]
			if c == '"' {
				q = unescapeHAProxy(q)
			}
			b.WriteString(q)
			inWord = true
			i = end
		default:
			b.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, b.String())
	}
	return words, nil
}

func unescapeHAProxy(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// defaultsFor returns the defaults section proxy p inherits from: the one
// named in `from`, else the last defaults section above it.
func (c *HAProxyConfig) defaultsFor(p *HAProxySection) (*HAProxySection, error) {
	var last *HAProxySection
	for _, s := range c.Sections {
		if s == p {
			break
		}
		if s.Kind != "defaults" {
			continue
		}
		if p.From != "" && s.Name == p.From {
			return s, nil
		}
		last = s
	}
	if p.From != "" {
		return nil, fmt.Errorf("%s:%d: %s inherits from defaults %q, which is not defined above it", c.File, p.Line, p.Title(), p.From)
	}
	return last, nil
}

// chain returns p's defaults ancestry, farthest first, then p itself.
func (c *HAProxyConfig) chain(p *HAProxySection) ([]*HAProxySection, error) {
	var out []*HAProxySection
	seen := map[*HAProxySection]bool{}
	for s := p; s != nil; {
		if seen[s] {
			return nil, fmt.Errorf("%s:%d: defaults inherit in a loop", c.File, s.Line)
		}
		seen[s] = true
		out = append([]*HAProxySection{s}, out...)
		if s.Kind == "defaults" && s.From == "" {
			break // an unnamed parent is not implied for defaults
		}
		d, err := c.defaultsFor(s)
		if err != nil {
			return nil, err
		}
		s = d
	}
	return out, nil
}

// haproxyServerArgs are server and default-server keywords that take a
// value; every other keyword is a flag.
var haproxyServerArgs = map[string]bool{
	"addr": true, "agent-addr": true, "agent-inter": true, "agent-port": true, "agent-send": true,
	"alpn": true, "ca-file": true, "check-alpn": true, "check-proto": true, "check-sni": true,
	"ciphers": true, "ciphersuites": true, "cookie": true, "crl-file": true, "crt": true, "curves": true,
	"downinter": true, "error-limit": true, "fall": true, "fastinter": true, "guid": true, "hash-key": true,
	"id": true, "init-addr": true, "inter": true, "log-proto": true, "maxconn": true, "maxqueue": true,
	"max-reuse": true, "minconn": true, "namespace": true, "npn": true, "observe": true, "on-error": true,
	"on-marked-down": true, "on-marked-up": true, "pool-conn-name": true, "pool-low-conn": true,
	"pool-max-conn": true, "pool-purge-delay": true, "port": true, "proto": true, "proxy-v2-options": true,
	"redir": true, "resolve-net": true, "resolve-opts": true, "resolve-prefer": true, "resolvers": true,
	"rise": true, "set-proxy-v2-tlv-fmt": true, "shard": true, "sigalgs": true, "client-sigalgs": true,
	"slowstart": true, "sni": true, "socks4": true, "source": true, "usesrc": true, "interface": true,
	"ssl-max-ver": true, "ssl-min-ver": true, "tcp-ut": true, "track": true, "verify": true,
	"verifyhost": true, "weight": true, "ws": true,
}

// serverSettings is a server's effective keywords after default-server,
// each with the line that set it.
type serverSettings map[string]serverSetting

type serverSetting struct {
	value string
	line  int
	// inherited is true when a default-server line set it.
	inherited bool
}

// apply adds the keywords of one server or default-server line's
// parameters; `no-X` removes X.
func (s serverSettings) apply(params []string, line int, inherited bool) {
	for i := 0; i < len(params); i++ {
		k := params[i]
		if haproxyServerArgs[k] && i+1 < len(params) {
			s[k] = serverSetting{params[i+1], line, inherited}
			i++
			continue
		}
		if neg, ok := strings.CutPrefix(k, "no-"); ok {
			delete(s, neg)
			if neg == "send-proxy" || neg == "send-proxy-v2" {
				delete(s, "send-proxy-v2-ssl")
				delete(s, "send-proxy-v2-ssl-cn")
			}
			continue
		}
		s[k] = serverSetting{"", line, inherited}
	}
}

func (s serverSettings) has(k string) bool { _, ok := s[k]; return ok }

func (s serverSettings) clone() serverSettings {
	c := make(serverSettings, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

// sendsProxy names the PROXY keyword in effect, if any.
func (s serverSettings) sendsProxy() string {
	for _, k := range []string{"send-proxy-v2", "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn", "send-proxy"} {
		if s.has(k) {
			return k
		}
	}
	return ""
}
