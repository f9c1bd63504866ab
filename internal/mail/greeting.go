package mail

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Greeting is a server's first words on a new connection: SMTP's 220 reply
// (one line or several) or IMAP's untagged status.
type Greeting struct {
	// Protocol is "smtp" or "imap".
	Protocol string `json:"protocol"`
	// Code is the SMTP reply code (220 to serve, 554 to refuse); 0 for IMAP.
	Code int `json:"code,omitempty"`
	// Status is IMAP's OK, PREAUTH or BYE; empty for SMTP.
	Status string `json:"status,omitempty"`
	// Lines are the greeting's lines without their line ends. Postscreen's
	// greeting has two: its "220-" banner, then after its pre-greet pause
	// smtpd's "220 ".
	Lines []string `json:"lines"`
}

// OK reports whether the server offers service: SMTP 220, IMAP OK or
// PREAUTH.
func (g Greeting) OK() bool {
	if g.Protocol == "imap" {
		return g.Status == "OK" || g.Status == "PREAUTH"
	}
	return g.Code == 220
}

// Last is the greeting's last line.
func (g Greeting) Last() string {
	if len(g.Lines) == 0 {
		return ""
	}
	return g.Lines[len(g.Lines)-1]
}

// ErrNotGreeting means the server sent something that is not a greeting of
// the protocol expected (another protocol, garbage, a line too long).
var ErrNotGreeting = errors.New("not a greeting")

// Limits on what a greeting may be; a server past them is not speaking the
// protocol. RFC 5321 caps a reply line at 512 octets; real servers stay far
// below, IMAP's capability lists included.
const (
	maxGreetingLine  = 4096
	maxGreetingLines = 64
)

// ReadSMTPGreeting reads an SMTP greeting: "CCC-text" lines, then the
// final "CCC text" line, all with the same code. It waits through
// postscreen's pre-greet pause between its "220-" banner and the final
// line; the caller's read deadline bounds the wait. A partial greeting
// (the connection closed or timed out before the final line) is an error
// that still returns the lines read so far.
func ReadSMTPGreeting(r *bufio.Reader) (Greeting, error) {
	g := Greeting{Protocol: "smtp"}
	for {
		line, err := readGreetingLine(r)
		if err != nil {
			return g, partial(g, err)
		}
		g.Lines = append(g.Lines, line)
		code, final, err := parseSMTPReplyLine(line)
		if err != nil {
			return g, err
		}
		if g.Code != 0 && code != g.Code {
			return g, fmt.Errorf("%w: reply code changed from %d to %d within the greeting", ErrNotGreeting, g.Code, code)
		}
		g.Code = code
		if final {
			return g, nil
		}
		if len(g.Lines) >= maxGreetingLines {
			return g, fmt.Errorf("%w: more than %d continuation lines", ErrNotGreeting, maxGreetingLines)
		}
	}
}

// parseSMTPReplyLine splits "250-text", "250 text" or "250".
func parseSMTPReplyLine(line string) (code int, final bool, err error) {
	if len(line) < 3 {
		return 0, false, fmt.Errorf("%w: %q is not an SMTP reply", ErrNotGreeting, clip(line))
	}
	for i := range 3 {
		if line[i] < '0' || line[i] > '9' {
			return 0, false, fmt.Errorf("%w: %q is not an SMTP reply", ErrNotGreeting, clip(line))
		}
	}
	if line[0] < '2' || line[0] > '5' {
		return 0, false, fmt.Errorf("%w: %q has no SMTP reply code", ErrNotGreeting, clip(line))
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	switch {
	case len(line) == 3 || line[3] == ' ':
		return code, true, nil
	case line[3] == '-':
		return code, false, nil
	}
	return 0, false, fmt.Errorf("%w: %q is not an SMTP reply", ErrNotGreeting, clip(line))
}

// ReadIMAPGreeting reads IMAP's greeting: "* OK ...", "* PREAUTH ..." or
// "* BYE ..." (RFC 9051 section 7.1), in any letter case.
func ReadIMAPGreeting(r *bufio.Reader) (Greeting, error) {
	g := Greeting{Protocol: "imap"}
	line, err := readGreetingLine(r)
	if err != nil {
		return g, partial(g, err)
	}
	g.Lines = []string{line}
	rest, ok := strings.CutPrefix(line, "* ")
	if !ok {
		return g, fmt.Errorf("%w: %q is not an IMAP greeting", ErrNotGreeting, clip(line))
	}
	word, _, _ := strings.Cut(rest, " ")
	switch s := strings.ToUpper(word); s {
	case "OK", "PREAUTH", "BYE":
		g.Status = s
		return g, nil
	}
	return g, fmt.Errorf("%w: %q is not an IMAP greeting", ErrNotGreeting, clip(line))
}

// ReadGreeting reads the greeting of protocol ("smtp" or "imap").
func ReadGreeting(r *bufio.Reader, protocol string) (Greeting, error) {
	if protocol == "imap" {
		return ReadIMAPGreeting(r)
	}
	return ReadSMTPGreeting(r)
}

// readGreetingLine reads one CRLF- (or LF-) terminated line of at most
// maxGreetingLine bytes; r must buffer at least that much (bufio's default
// 4096 does).
func readGreetingLine(r *bufio.Reader) (string, error) {
	b, err := r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(b) > maxGreetingLine:
		return "", fmt.Errorf("%w: a line longer than %d bytes", ErrNotGreeting, maxGreetingLine)
	case err == io.EOF && len(b) > 0:
		return "", fmt.Errorf("connection closed mid-line after %q: %w", clip(string(b)), io.ErrUnexpectedEOF)
	case err != nil:
		return "", err
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if strings.ContainsAny(s, "\x00\r\n") {
		return "", fmt.Errorf("%w: a line with a NUL or bare CR", ErrNotGreeting)
	}
	return s, nil
}

// partial wraps a read error with how far the greeting got.
func partial(g Greeting, err error) error {
	if err == io.EOF {
		err = fmt.Errorf("connection closed: %w", io.ErrUnexpectedEOF)
	}
	if len(g.Lines) == 0 {
		return err
	}
	return fmt.Errorf("greeting incomplete after %q: %w", clip(g.Last()), err)
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
