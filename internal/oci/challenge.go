package oci

import (
	"fmt"
	"strings"
)

// Challenge is one auth challenge from a WWW-Authenticate header, e.g.
// Bearer realm="https://auth/token",service="registry",scope="...".
type Challenge struct {
	Scheme string            // lower case: "basic", "bearer"
	Params map[string]string // keys lower case
}

// ParseChallenges parses a WWW-Authenticate header value into its
// challenges (RFC 9110 section 11.6.1). It accepts several challenges in
// one value and both token and quoted-string parameter values. The header
// comes from the network: anything malformed is an error, never a panic.
func ParseChallenges(h string) ([]Challenge, error) {
	p := &hparser{s: h}
	var out []Challenge
	for {
		p.skipSpaceComma()
		if p.eof() {
			break
		}
		scheme := p.token()
		if scheme == "" {
			return nil, fmt.Errorf("WWW-Authenticate %q: expected an auth scheme at offset %d", h, p.i)
		}
		c := Challenge{Scheme: strings.ToLower(scheme), Params: map[string]string{}}
		p.skipSpace()
		// Parameters until the next scheme (a token not followed by '=').
		for !p.eof() {
			save := p.i
			p.skipSpaceComma()
			key := p.token()
			p.skipSpace()
			if key == "" || p.eof() || p.s[p.i] != '=' {
				p.i = save
				break
			}
			p.i++ // '='
			p.skipSpace()
			var val string
			if !p.eof() && p.s[p.i] == '"' {
				v, err := p.quoted()
				if err != nil {
					return nil, fmt.Errorf("WWW-Authenticate %q: %w", h, err)
				}
				val = v
			} else {
				val = p.token68()
			}
			c.Params[strings.ToLower(key)] = val
			p.skipSpace()
			if !p.eof() && p.s[p.i] != ',' {
				return nil, fmt.Errorf("WWW-Authenticate %q: expected ',' at offset %d", h, p.i)
			}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("WWW-Authenticate %q: no challenge", h)
	}
	return out, nil
}

// ParseLinkNext returns the target of the rel="next" link in a Link header
// value (RFC 8288), as registries use it to paginate the catalog and tag
// lists. ok is false when there is none.
func ParseLinkNext(h string) (target string, ok bool, err error) {
	p := &hparser{s: h}
	for {
		p.skipSpaceComma()
		if p.eof() {
			return "", false, nil
		}
		if p.s[p.i] != '<' {
			return "", false, fmt.Errorf("link header %q: expected '<' at offset %d", h, p.i)
		}
		end := strings.IndexByte(p.s[p.i:], '>')
		if end < 0 {
			return "", false, fmt.Errorf("link header %q: unterminated <", h)
		}
		uri := p.s[p.i+1 : p.i+end]
		if strings.ContainsRune(uri, '<') {
			return "", false, fmt.Errorf("link header %q: '<' inside a link target", h)
		}
		p.i += end + 1
		isNext := false
		for {
			p.skipSpace()
			if p.eof() || p.s[p.i] == ',' {
				break
			}
			if p.s[p.i] != ';' {
				return "", false, fmt.Errorf("link header %q: expected ';' at offset %d", h, p.i)
			}
			p.i++
			p.skipSpace()
			key := p.token()
			if key == "" {
				return "", false, fmt.Errorf("link header %q: expected a parameter at offset %d", h, p.i)
			}
			p.skipSpace()
			val := ""
			if !p.eof() && p.s[p.i] == '=' {
				p.i++
				p.skipSpace()
				if !p.eof() && p.s[p.i] == '"' {
					v, err := p.quoted()
					if err != nil {
						return "", false, fmt.Errorf("link header %q: %w", h, err)
					}
					val = v
				} else {
					val = p.token()
				}
			}
			if strings.EqualFold(key, "rel") {
				for _, r := range strings.Fields(val) {
					if strings.EqualFold(r, "next") {
						isNext = true
					}
				}
			}
		}
		if isNext {
			return uri, true, nil
		}
	}
}

type hparser struct {
	s string
	i int
}

func (p *hparser) eof() bool { return p.i >= len(p.s) }

func (p *hparser) skipSpace() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *hparser) skipSpaceComma() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

func isTchar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (p *hparser) token() string {
	start := p.i
	for !p.eof() && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// token68 also allows '/' and trailing '=' as in base64 values.
func (p *hparser) token68() string {
	start := p.i
	for !p.eof() && (isTchar(p.s[p.i]) || p.s[p.i] == '/' || p.s[p.i] == '=' || p.s[p.i] == ':') {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *hparser) quoted() (string, error) {
	start := p.i
	p.i++ // opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return b.String(), nil
		case '\\':
			p.i++
			if p.eof() {
				return "", fmt.Errorf("unterminated escape at offset %d", p.i)
			}
			b.WriteByte(p.s[p.i])
		default:
			b.WriteByte(c)
		}
		p.i++
	}
	return "", fmt.Errorf("unterminated quoted string at offset %d", start)
}
