package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/labops/labops/internal/job"
)

// DefaultRoundtripTimeout bounds one probe: connecting, sending and waiting
// for the message. postscreen's greet pause alone delays a new client's
// first message by about 6 s.
const DefaultRoundtripTimeout = 2 * time.Minute

// cleanupTimeout bounds the deletion of the probe message, which runs even
// when the message arrived just before the deadline.
const cleanupTimeout = 15 * time.Second

// staleProbeAge is how old a probe message left by an earlier run must be
// (at least; twice the timeout if that is longer) before a run deletes it.
const staleProbeAge = time.Hour

// errProbeDeadline is the cause of the probe's own deadline.
var errProbeDeadline = errors.New("probe deadline reached")

// Roundtrip is one configured probe: send by Sender, find it through
// Mailbox. Secrets are already read into the sender and mailbox.
type Roundtrip struct {
	Sender  sender
	Mailbox mailboxOpener
	From    string
	To      string
	// Timeout bounds the whole probe (default DefaultRoundtripTimeout).
	Timeout time.Duration
	// ExpectClientIP, when valid, is the address the receiving server must
	// have recorded in the Received header for the probe to pass.
	ExpectClientIP netip.Addr
	Now            func() time.Time
	Logger         *slog.Logger
}

// RoundtripReport is what one probe saw. Times are seconds; T0 is the
// start of sending, T1 the sender's acceptance, T2 the first IMAP search
// that found the message.
type RoundtripReport struct {
	Status   job.Status    `json:"status"`
	Error    string        `json:"error,omitempty"`
	Findings []job.Finding `json:"findings,omitempty"`

	Sender  string `json:"sender"`
	Mailbox string `json:"mailbox"`
	Token   string `json:"token,omitempty"`
	// AcceptedID is the sender's handle: Postfix's queue ID or Brevo's messageId.
	AcceptedID  string    `json:"accepted_id,omitempty"`
	SenderReply string    `json:"sender_reply,omitempty"`
	Started     time.Time `json:"started"`
	SentAt      time.Time `json:"sent_at,omitzero"`
	AcceptedAt  time.Time `json:"accepted_at,omitzero"`
	SeenAt      time.Time `json:"seen_at,omitzero"`
	// SendSeconds is T1-T0, DeliverySeconds T2-T1, RoundtripSeconds T2-T0.
	SendSeconds      float64 `json:"send_seconds,omitempty"`
	DeliverySeconds  float64 `json:"delivery_seconds,omitempty"`
	RoundtripSeconds float64 `json:"roundtrip_seconds,omitempty"`
	// Client is the topmost Received hop with an address: what the
	// receiving server recorded as its client.
	Client          *Received `json:"client,omitempty"`
	ExpectClientIP  string    `json:"expect_client_ip,omitempty"`
	ReceivedHeaders []string  `json:"received_headers,omitempty"`
	Idle            bool      `json:"idle"`
	Deleted         bool      `json:"deleted"`
	// Swept counts probe messages of earlier runs deleted by this one.
	Swept    int           `json:"swept,omitempty"`
	Duration time.Duration `json:"duration"`
}

// Run sends one probe message and waits for it. It opens the mailbox
// first, so that a refused IMAP login sends nothing and IDLE is ready
// before the message can arrive.
func (rt *Roundtrip) Run(ctx context.Context) *RoundtripReport {
	now := rt.Now
	if now == nil {
		now = time.Now
	}
	log := rt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := rt.Timeout
	if timeout <= 0 {
		timeout = DefaultRoundtripTimeout
	}
	rep := &RoundtripReport{Status: job.StatusOK, Sender: rt.Sender.Describe(), Mailbox: rt.Mailbox.Describe(), Started: now()}
	if rt.ExpectClientIP.IsValid() {
		rep.ExpectClientIP = rt.ExpectClientIP.String()
	}
	defer func() { rep.Duration = now().Sub(rep.Started) }()
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errProbeDeadline)
	defer cancel()

	mb, err := rt.Mailbox.Open(ctx)
	if err != nil {
		rep.fail(ctx, "imap", "before sending: ", err, timeout)
		return rep
	}
	defer mb.Close()
	rep.Idle = mb.Idle()

	msg := NewMessage(rt.From, rt.To, now())
	rep.Token = msg.Token
	rep.SentAt = now()
	acc, err := rt.Sender.Send(ctx, msg)
	if err != nil {
		rep.fail(ctx, "sender", "", err, timeout)
		return rep
	}
	rep.AcceptedAt = acc.At
	if rep.AcceptedAt.IsZero() {
		rep.AcceptedAt = now()
	}
	rep.AcceptedID, rep.SenderReply = acc.ID, acc.Reply
	rep.SendSeconds = rep.AcceptedAt.Sub(rep.SentAt).Seconds()
	log.Debug("probe accepted", "sender", rep.Sender, "id", acc.ID, "token", msg.Token)

	arr, err := mb.Await(ctx, msg.Token)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.Canceled) {
			rep.Status = job.StatusFailed
			rep.Error = fmt.Sprintf("the message accepted by %s did not arrive in %s within %v", rep.Sender, rep.Mailbox, timeout)
			rep.Findings = append(rep.Findings, job.Finding{Kind: "not-delivered", Subject: rt.To, Message: rep.Error})
			return rep
		}
		rep.fail(ctx, "imap", "waiting for the message: ", err, timeout)
		return rep
	}
	rep.SeenAt = arr.SeenAt
	rep.DeliverySeconds = rep.SeenAt.Sub(rep.AcceptedAt).Seconds()
	rep.RoundtripSeconds = rep.SeenAt.Sub(rep.SentAt).Seconds()
	rep.ReceivedHeaders = arr.Received
	if c, ok := ClientAddress(arr.Received); ok {
		rep.Client = &c
	}
	rep.checkClient(rt.ExpectClientIP)

	// Delete even when the run's own time is up: a probe left behind
	// fills the mailbox every run.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer ccancel()
	if err := mb.Delete(cctx, arr); err != nil {
		log.Warn("could not delete the probe message", "mailbox", rep.Mailbox, "token", msg.Token, "err", err)
		rep.Findings = append(rep.Findings, job.Finding{Kind: "probe-not-deleted", Subject: rt.To,
			Message: fmt.Sprintf("the probe message (subject %q) is still in the mailbox: %v", msg.Subject(), err)})
	} else {
		rep.Deleted = true
	}
	// Probes of earlier runs that arrived after their deadline are ours
	// too; those older than any run still going are deleted.
	before := now().Add(-max(staleProbeAge, 2*timeout))
	if n, err := mb.Sweep(cctx, before); err != nil {
		log.Warn("could not sweep stale probe messages", "mailbox", rep.Mailbox, "err", err)
	} else if n > 0 {
		rep.Swept = n
		log.Info("deleted stale probe messages of earlier runs", "mailbox", rep.Mailbox, "count", n)
	}
	return rep
}

// fail records err from step ("imap" or "sender"): a refused login or
// message is a failure the probe found; anything else (unreachable,
// timeout, cancelled) leaves the probe incomplete.
func (rep *RoundtripReport) fail(ctx context.Context, step, prefix string, err error, timeout time.Duration) {
	subject := rep.Mailbox
	if step == "sender" {
		subject = rep.Sender
	}
	rep.Error = prefix + err.Error()
	switch {
	case errors.Is(err, ErrAuthFailed):
		rep.Status = job.StatusFailed
		rep.Findings = append(rep.Findings, job.Finding{Kind: "login-refused", Subject: subject, Message: err.Error()})
	case errors.Is(err, ErrRejected):
		rep.Status = job.StatusFailed
		rep.Findings = append(rep.Findings, job.Finding{Kind: "refused", Subject: subject, Message: err.Error()})
	case errors.Is(err, ErrCertificate), errors.Is(err, ErrNoTLS):
		rep.Status = job.StatusFailed
		rep.Findings = append(rep.Findings, job.Finding{Kind: "tls", Subject: subject, Message: err.Error()})
	default:
		rep.Status = job.StatusIncomplete
		if errors.Is(context.Cause(ctx), errProbeDeadline) {
			rep.Error = fmt.Sprintf("timeout %v reached before the message was sent: %s", timeout, rep.Error)
		}
	}
}

// checkClient compares the recorded client address with the expected one.
func (rep *RoundtripReport) checkClient(want netip.Addr) {
	if !want.IsValid() {
		return
	}
	switch {
	case rep.Client == nil:
		rep.Status = job.Worst(rep.Status, job.StatusFailed)
		rep.Findings = append(rep.Findings, job.Finding{Kind: "client-ip-missing", Subject: want.String(),
			Message: fmt.Sprintf("no Received header of the delivered message records a client address; expected %s", want)})
	case rep.Client.FromIP != want.Unmap():
		rep.Status = job.Worst(rep.Status, job.StatusFailed)
		rep.Findings = append(rep.Findings, job.Finding{Kind: "client-ip-mismatch", Subject: want.String(),
			Message: fmt.Sprintf("%s recorded the client as %s, expected %s (is the load balancer's PROXY header lost?)", orUnknown(rep.Client.By), rep.Client.FromIP, want)})
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "the receiving server"
	}
	return s
}

// Result is the report as the job runner sees it.
func (rep *RoundtripReport) Result() job.Result {
	r := job.Result{Status: rep.Status, Findings: rep.Findings, Error: rep.Error, Started: rep.Started, Duration: rep.Duration}
	if !rep.SeenAt.IsZero() {
		r.Counters = map[string]float64{
			"roundtrip_seconds": rep.RoundtripSeconds,
			"send_seconds":      rep.SendSeconds,
			"delivery_seconds":  rep.DeliverySeconds,
		}
	}
	return r
}
