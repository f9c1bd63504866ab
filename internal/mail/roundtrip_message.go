package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ProbeHeader carries the probe's token in every message labops sends, so
// that IMAP can find exactly this message and nothing else.
const ProbeHeader = "X-Labops-Probe"

// Message is one probe message.
type Message struct {
	From, To string
	// Token is unique per run: "<unix seconds>-<16 random hex digits>". It
	// is in the Subject, in the X-Labops-Probe header and in the Message-ID.
	Token string
	Date  time.Time
}

// NewMessage builds a probe message with a fresh token.
func NewMessage(from, to string, now time.Time) Message {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return Message{From: from, To: to, Date: now, Token: strconv.FormatInt(now.Unix(), 10) + "-" + hex.EncodeToString(b[:])}
}

// Subject is the probe's subject line.
func (m Message) Subject() string { return "labops mail roundtrip " + m.Token }

// Body is the probe's plain-text body.
func (m Message) Body() string {
	return "This message was sent by labops mail roundtrip to prove that mail\r\n" +
		"arrives. It is deleted as soon as it is seen; if it stays, the probe\r\n" +
		"could not delete it.\r\n"
}

// MessageID is the probe's Message-ID, made from its token.
func (m Message) MessageID() string {
	domain := "labops.invalid"
	if i := strings.LastIndexByte(m.From, '@'); i >= 0 && i+1 < len(m.From) {
		domain = m.From[i+1:]
	}
	return "<labops-probe-" + m.Token + "@" + domain + ">"
}

// Bytes is the RFC 5322 message, CRLF line ends, as SMTP submits it.
func (m Message) Bytes() []byte {
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", m.From)
	h("To", m.To)
	h("Subject", m.Subject())
	h("Date", m.Date.Format(time.RFC1123Z))
	h("Message-ID", m.MessageID())
	h(ProbeHeader, m.Token)
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=us-ascii")
	h("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	b.WriteString(m.Body())
	return b.Bytes()
}

// Accepted is what a sender got back when the message was taken.
type Accepted struct {
	At time.Time
	// ID is the sender's handle on the message: Postfix's queue ID, or the
	// HTTP API's messageId.
	ID string
	// Reply is the server's full acceptance reply.
	Reply string
}

// sender hands a message to the mail system: SMTP submission or an HTTP
// API (Brevo). Errors wrap ErrAuthFailed, ErrRejected or ErrUnavailable.
type sender interface {
	Send(ctx context.Context, m Message) (Accepted, error)
	// Describe names the sender for reports, without secrets.
	Describe() string
}

// tokenTime reads the time a probe token was made; ok is false for
// anything NewMessage would not have made.
func tokenTime(tok string) (time.Time, bool) {
	secs, rnd, found := strings.Cut(strings.TrimSpace(tok), "-")
	if !found || len(rnd) != 16 {
		return time.Time{}, false
	}
	if _, err := hex.DecodeString(rnd); err != nil {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}
