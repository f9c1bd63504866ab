package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPSender submits the probe message over SMTP submission: STARTTLS
// (587), implicit TLS (465) or plain, with AUTH PLAIN or LOGIN when a
// username is given.
type SMTPSender struct {
	Addr     string
	TLS      TLSMode
	TLSOpts  TLSOptions
	Username string
	Password string
	// Helo is the name given in EHLO (default "localhost").
	Helo string
	// SourceIP is the local address to connect from (default: the
	// system's choice), for multi-homed hosts and for proving which
	// client address the server records.
	SourceIP string
}

var _ sender = (*SMTPSender)(nil)

// Describe names the sender for reports ("smtp 127.0.0.1:587 starttls").
func (s *SMTPSender) Describe() string { return fmt.Sprintf("smtp %s %s", s.Addr, s.TLS) }

// Send submits m and returns when the server has accepted the message
// (250 after DATA), with the server's reply (Postfix: "queued as ID").
// go-smtp has no context: the connection carries ctx's deadline and is
// closed when ctx ends.
func (s *SMTPSender) Send(ctx context.Context, m Message) (Accepted, error) {
	tlsCfg, err := s.TLSOpts.config(s.Addr)
	if err != nil {
		return Accepted{}, err
	}
	conn, err := dialMail(ctx, s.Addr, s.SourceIP, s.TLS, tlsCfg)
	if err != nil {
		return Accepted{}, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	var c *smtp.Client
	if s.TLS == TLSStartTLS {
		c, err = smtp.NewClientStartTLS(conn, tlsCfg)
		if err != nil {
			if strings.Contains(err.Error(), "doesn't support STARTTLS") {
				return Accepted{}, fmt.Errorf("%w: smtp %s: the server does not offer STARTTLS (use --smtp-tls implicit or none if that is meant)", ErrNoTLS, s.Addr)
			}
			return Accepted{}, s.classify(ctx, "STARTTLS", err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	// go-smtp sets a deadline per command from these; keep them inside ctx.
	if dl, ok := ctx.Deadline(); ok {
		c.CommandTimeout = max(time.Until(dl), time.Millisecond)
		c.SubmissionTimeout = c.CommandTimeout
	}
	// Say EHLO now: after STARTTLS go-smtp shakes hands lazily, on the
	// next command, and its Extension() hides that command's error (a
	// certificate not trusted would read as "no AUTH offered").
	helo := s.Helo
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return Accepted{}, s.classify(ctx, "EHLO", err)
	}
	if s.Username != "" {
		if err := s.auth(c); err != nil {
			return Accepted{}, s.classify(ctx, "AUTH", err)
		}
	}
	if err := c.Mail(m.From, nil); err != nil {
		return Accepted{}, s.classify(ctx, "MAIL FROM", err)
	}
	if err := c.Rcpt(m.To, nil); err != nil {
		return Accepted{}, s.classify(ctx, "RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return Accepted{}, s.classify(ctx, "DATA", err)
	}
	if _, err := w.Write(m.Bytes()); err != nil {
		return Accepted{}, s.classify(ctx, "DATA", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return Accepted{}, s.classify(ctx, "end of DATA", err)
	}
	acc := Accepted{At: time.Now(), Reply: resp.StatusText, ID: queueID(resp.StatusText)}
	_ = c.Quit() // the message is queued; a failed QUIT changes nothing
	return acc, nil
}

// auth picks PLAIN, else LOGIN, from what the server offers.
func (s *SMTPSender) auth(c *smtp.Client) error {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return fmt.Errorf("%w: the server offers no AUTH (on a plain connection Postfix offers it only after STARTTLS)", ErrRejected)
	}
	for _, mech := range strings.Fields(strings.ToUpper(mechs)) {
		switch mech {
		case sasl.Plain:
			return c.Auth(sasl.NewPlainClient("", s.Username, s.Password))
		}
	}
	if c.SupportsAuth(sasl.Login) {
		return c.Auth(sasl.NewLoginClient(s.Username, s.Password))
	}
	return fmt.Errorf("%w: the server offers AUTH %s, neither PLAIN nor LOGIN", ErrRejected, mechs)
}

// classify maps an SMTP failure to the package's sentinels: 535 and the
// other authentication codes are ErrAuthFailed, 5xx ErrRejected, 4xx and
// network errors ErrUnavailable.
func (s *SMTPSender) classify(ctx context.Context, step string, err error) error {
	if errors.Is(err, ErrRejected) || errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrCertificate) {
		return fmt.Errorf("smtp %s: %s: %w", s.Addr, step, err)
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		msg := fmt.Sprintf("smtp %s: %s: %d %s", s.Addr, step, se.Code, se.Message)
		switch {
		case se.Code == 535 || se.Code == 534 || (step == "AUTH" && se.Code >= 500):
			return fmt.Errorf("%w: %s", ErrAuthFailed, msg)
		case se.Code >= 500:
			return fmt.Errorf("%w: %s", ErrRejected, msg)
		default:
			return fmt.Errorf("%w: %s", ErrUnavailable, msg)
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
		ctxErr := context.DeadlineExceeded
		return fmt.Errorf("%w: smtp %s: %s: %w (%w)", ErrUnavailable, s.Addr, step, err, ctxErr)
	}
	return unavailableErr(ctx, fmt.Errorf("smtp %s: %s: %w", s.Addr, step, err))
}

// queueID takes the queue ID from Postfix's "2.0.0 Ok: queued as 4ZxY..."
// reply; "" when the reply has none.
func queueID(reply string) string {
	const p = "queued as "
	i := strings.Index(reply, p)
	if i < 0 {
		return ""
	}
	f := strings.Fields(reply[i+len(p):])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
