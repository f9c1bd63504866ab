package mail

import (
	"net/netip"
	"strings"
)

// Received is what one Received header says about a hop: the name the
// client gave (HELO), the name and address the receiving server saw, and
// who received it. Only the address inside the server's own comment is
// trusted; the HELO name is whatever the client claimed.
type Received struct {
	Helo     string     `json:"helo,omitempty"`
	FromHost string     `json:"from_host,omitempty"`
	FromIP   netip.Addr `json:"from_ip,omitzero"`
	By       string     `json:"by,omitempty"`
	With     string     `json:"with,omitempty"`
	ID       string     `json:"id,omitempty"`
}

// ParseReceived reads one Received header value (without "Received:"),
// in the forms Postfix, Sendmail and Exim write:
//
//	from helo.example (host.example [192.0.2.7]) by mx.example (Postfix) with ESMTPSA id 4Zx...; date
//	from [127.0.0.1] (localhost [IPv6:::1]) by ...
//	from host.example ([192.0.2.7] helo=helo.example) by ...
//
// It reports false when the header has no from clause with an address in
// the receiving server's comment (a local submission "by host (Postfix,
// from userid 0)", or garbage). It never panics, whatever the input.
func ParseReceived(v string) (Received, bool) {
	var r Received
	// The date follows the last ';'; nothing before it is a date.
	if i := strings.LastIndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	toks := tokenizeReceived(v)
	found := false
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.comment {
			continue
		}
		next := func() (string, bool) {
			if i+1 < len(toks) && !toks[i+1].comment {
				i++
				return toks[i].text, true
			}
			return "", false
		}
		switch strings.ToLower(t.text) {
		case "from":
			h, ok := next()
			if !ok {
				// "from (comment)": no HELO given.
				h = ""
			}
			r.Helo = h
			// The server's comment(s) right after the HELO name.
			for i+1 < len(toks) && toks[i+1].comment {
				i++
				host, ip, ok := parseFromComment(toks[i].text)
				if ok && !found {
					r.FromHost, r.FromIP, found = host, ip, true
				}
			}
		case "by":
			r.By, _ = next()
		case "with":
			r.With, _ = next()
		case "id":
			r.ID, _ = next()
		}
	}
	return r, found
}

// parseFromComment finds the client address in the comment a server writes
// after the HELO name: "host [ip]", "[ip]", "unknown [IPv6:::1]:25",
// "[ip] helo=name". The first bracketed literal that parses wins.
func parseFromComment(c string) (host string, ip netip.Addr, ok bool) {
	rest := c
	for {
		open := strings.IndexByte(rest, '[')
		if open < 0 {
			return "", netip.Addr{}, false
		}
		end := strings.IndexByte(rest[open:], ']')
		if end < 0 {
			return "", netip.Addr{}, false
		}
		lit := rest[open+1 : open+end]
		if len(lit) > 5 && strings.EqualFold(lit[:5], "ipv6:") {
			lit = lit[5:]
		}
		if a, err := netip.ParseAddr(lit); err == nil {
			before := strings.TrimSpace(c[:len(c)-len(rest)+open])
			if f := strings.Fields(before); len(f) > 0 {
				host = f[len(f)-1]
			}
			return host, a.Unmap(), true
		}
		rest = rest[open+end+1:]
	}
}

type receivedToken struct {
	text    string
	comment bool // the text inside one top-level (...), nesting kept
}

// tokenize splits a header into words and top-level parenthesized
// comments (RFC 5322 CFWS, with backslash quoting inside comments).
func tokenizeReceived(s string) []receivedToken {
	var out []receivedToken
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			depth, j := 0, i
			for ; j < len(s); j++ {
				if s[j] == '\\' {
					j++
					continue
				}
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			end := min(j, len(s))
			out = append(out, receivedToken{text: s[i+1 : end], comment: true})
			i = end + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n(", rune(s[j])) {
				j++
			}
			out = append(out, receivedToken{text: s[i:j]})
			i = j
		}
	}
	return out
}

// ClientAddress returns the address the receiving server recorded for its
// client: the first (topmost, newest) Received header with one. Headers
// are given in message order. ok is false when none has an address.
func ClientAddress(headers []string) (Received, bool) {
	for _, h := range headers {
		if r, ok := ParseReceived(h); ok {
			return r, true
		}
	}
	return Received{}, false
}
