package mail

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/labops/labops/internal/job"
)

// roundtripTo builds a probe over SMTP submission into st.
func roundtripTo(st *memStack, mode TLSMode) *Roundtrip {
	addr := st.SMTPAddr
	if mode == TLSImplicit {
		addr = st.SMTPSAddr
	}
	return &Roundtrip{
		Sender: &SMTPSender{Addr: addr, TLS: mode, TLSOpts: TLSOptions{CAFile: st.CAFile},
			Username: st.User, Password: st.Pass},
		Mailbox: &IMAP{Addr: st.IMAPAddr, TLS: TLSImplicit, TLSOpts: TLSOptions{CAFile: st.CAFile},
			Username: st.User, Password: st.Pass, PollInterval: 20 * time.Millisecond},
		From:    st.Address,
		To:      st.Address,
		Timeout: 20 * time.Second,
	}
}

func TestRoundtripSMTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mode   TLSMode
		noIdle bool
	}{
		{"starttls idle", TLSStartTLS, false},
		{"implicit idle", TLSImplicit, false},
		{"starttls polling", TLSStartTLS, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := startMemStack(t, memStackOptions{noIdle: tc.noIdle})
			rt := roundtripTo(st, tc.mode)
			rt.ExpectClientIP = netip.MustParseAddr("127.0.0.1")
			rep := rt.Run(t.Context())
			if rep.Status != job.StatusOK {
				t.Fatalf("status %s, error %q, findings %v", rep.Status, rep.Error, rep.Findings)
			}
			if rep.Idle == tc.noIdle {
				t.Errorf("idle = %v, want %v", rep.Idle, !tc.noIdle)
			}
			if rep.Client == nil || rep.Client.FromIP != netip.MustParseAddr("127.0.0.1") || rep.Client.By != "mx.example.test" {
				t.Errorf("client = %+v, want 127.0.0.1 recorded by mx.example.test", rep.Client)
			}
			if !rep.Deleted || st.messages(t) != 0 {
				t.Errorf("deleted = %v, %d messages left; want the probe gone", rep.Deleted, st.messages(t))
			}
			if rep.SeenAt.Before(rep.AcceptedAt) || rep.AcceptedAt.Before(rep.SentAt) || rep.RoundtripSeconds < rep.SendSeconds {
				t.Errorf("times out of order: sent %v accepted %v seen %v", rep.SentAt, rep.AcceptedAt, rep.SeenAt)
			}
			if !strings.HasPrefix(rep.Token, "") || len(rep.ReceivedHeaders) != 1 {
				t.Errorf("received headers %q", rep.ReceivedHeaders)
			}
			t.Logf("round trip %.4fs (send %.4fs, delivery %.4fs)", rep.RoundtripSeconds, rep.SendSeconds, rep.DeliverySeconds)
		})
	}
}

func TestRoundtripFailures(t *testing.T) {
	t.Parallel()
	closed := rtClosedAddr(t)
	for _, tc := range []struct {
		name      string
		setup     func(st *memStack, rt *Roundtrip)
		status    job.Status
		finding   string // kind of the one finding; "" for none
		errSubstr string
		delivered int32
	}{
		{
			name:      "smtp login refused",
			setup:     func(st *memStack, rt *Roundtrip) { rt.Sender.(*SMTPSender).Password = "wrong" },
			status:    job.StatusFailed,
			finding:   "login-refused",
			errSubstr: "535",
		},
		{
			name:      "imap login refused sends nothing",
			setup:     func(st *memStack, rt *Roundtrip) { rt.Mailbox.(*IMAP).Password = "wrong" },
			status:    job.StatusFailed,
			finding:   "login-refused",
			errSubstr: "before sending: login refused: imap",
		},
		{
			name:      "recipient rejected",
			setup:     func(st *memStack, rt *Roundtrip) { rt.To = "nobody@example.test" },
			status:    job.StatusFailed,
			finding:   "refused",
			errSubstr: "550",
		},
		{
			name: "never arrives",
			setup: func(st *memStack, rt *Roundtrip) {
				st.drop.Store(true)
				rt.Timeout = time.Second
			},
			status:    job.StatusFailed,
			finding:   "not-delivered",
			errSubstr: "did not arrive in imap",
		},
		{
			name: "client address not the expected one",
			setup: func(st *memStack, rt *Roundtrip) {
				rt.ExpectClientIP = netip.MustParseAddr("203.0.113.7")
			},
			status:    job.StatusFailed,
			finding:   "client-ip-mismatch",
			delivered: 1,
		},
		{
			name:      "smtp unreachable",
			setup:     func(st *memStack, rt *Roundtrip) { rt.Sender.(*SMTPSender).Addr = closed },
			status:    job.StatusIncomplete,
			errSubstr: "connection refused",
		},
		{
			name:      "imap unreachable",
			setup:     func(st *memStack, rt *Roundtrip) { rt.Mailbox.(*IMAP).Addr = closed },
			status:    job.StatusIncomplete,
			errSubstr: "before sending: unavailable: connecting to",
		},
		{
			name: "smtp never greets",
			setup: func(st *memStack, rt *Roundtrip) {
				rt.Sender.(*SMTPSender).Addr = rtSilentServer(t)
				rt.Timeout = 500 * time.Millisecond
			},
			status:    job.StatusIncomplete,
			errSubstr: "timeout 500ms reached before the message was sent",
		},
		{
			name: "imap certificate not trusted",
			setup: func(st *memStack, rt *Roundtrip) {
				rt.Mailbox.(*IMAP).TLSOpts = TLSOptions{}
			},
			status:    job.StatusFailed,
			finding:   "tls",
			errSubstr: "certificate not trusted",
		},
		{
			name: "smtp certificate for another name",
			setup: func(st *memStack, rt *Roundtrip) {
				rt.Sender.(*SMTPSender).TLSOpts.ServerName = "mail.example.org"
			},
			status:    job.StatusFailed,
			finding:   "tls",
			errSubstr: "certificate is valid for localhost, not mail.example.org",
		},
		{
			name: "smtp without STARTTLS",
			setup: func(st *memStack, rt *Roundtrip) {
				rt.Sender.(*SMTPSender).Addr = st.PlainAddr
			},
			status:    job.StatusFailed,
			finding:   "tls",
			errSubstr: "does not offer STARTTLS",
		},
		{
			name: "insecure skip verify accepts the test certificate",
			setup: func(st *memStack, rt *Roundtrip) {
				rt.Mailbox.(*IMAP).TLSOpts = TLSOptions{InsecureSkipVerify: true}
				rt.Sender.(*SMTPSender).TLSOpts = TLSOptions{InsecureSkipVerify: true}
			},
			status:    job.StatusOK,
			delivered: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := startMemStack(t, memStackOptions{})
			rt := roundtripTo(st, TLSStartTLS)
			tc.setup(st, rt)
			start := time.Now()
			rep := rt.Run(t.Context())
			if rep.Status != tc.status {
				t.Fatalf("status %s, want %s (error %q, findings %v)", rep.Status, tc.status, rep.Error, rep.Findings)
			}
			if time.Since(start) > 15*time.Second {
				t.Errorf("took %v: something waited past the probe's timeout", time.Since(start))
			}
			if tc.finding == "" && len(rep.Findings) != 0 {
				t.Errorf("findings %v, want none", rep.Findings)
			}
			if tc.finding != "" && (len(rep.Findings) != 1 || rep.Findings[0].Kind != tc.finding) {
				t.Errorf("findings %v, want one %s", rep.Findings, tc.finding)
			}
			if !strings.Contains(strings.ToLower(rep.Error+findingsText(rep)), strings.ToLower(tc.errSubstr)) {
				t.Errorf("error %q / findings %v do not say %q", rep.Error, rep.Findings, tc.errSubstr)
			}
			if got := st.delivered.Load(); got != tc.delivered {
				t.Errorf("%d messages delivered, want %d", got, tc.delivered)
			}
			if st.messages(t) != 0 {
				t.Errorf("%d messages left in INBOX", st.messages(t))
			}
			if strings.Contains(rep.Error+findingsText(rep), st.Pass) {
				t.Errorf("the report shows the password")
			}
		})
	}
}

func findingsText(rep *RoundtripReport) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		b.WriteString(f.Message + "\n")
	}
	return b.String()
}

// closedAddr is a loopback address where nothing listens.
func rtClosedAddr(t *testing.T) string {
	l := rtListen(t)
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentServer accepts connections and never says anything.
func rtSilentServer(t *testing.T) string {
	l := rtListen(t)
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return l.Addr().String()
}

// A probe of an earlier run that arrived after its deadline is deleted by
// the next run once it is older than an hour; a probe of a run that may
// still be going, a message with a header labops would not write, and
// every other message stay.
func TestRoundtripSweepsStaleProbes(t *testing.T) {
	t.Parallel()
	st := startMemStack(t, memStackOptions{})
	old := NewMessage(st.Address, st.Address, time.Now().Add(-3*time.Hour))
	recent := NewMessage(st.Address, st.Address, time.Now().Add(-time.Minute))
	st.put(t, string(old.Bytes()))
	st.put(t, string(recent.Bytes()))
	st.put(t, "Subject: mine\r\n"+ProbeHeader+": 1-not-a-token\r\n\r\nkeep\r\n")
	st.put(t, "Subject: hello\r\n\r\nkeep\r\n")
	rep := roundtripTo(st, TLSStartTLS).Run(t.Context())
	if rep.Status != job.StatusOK || !rep.Deleted || rep.Swept != 1 {
		t.Fatalf("status %s, deleted %v, swept %d; want ok, deleted, 1 swept (error %q)", rep.Status, rep.Deleted, rep.Swept, rep.Error)
	}
	if n := st.messages(t); n != 3 {
		t.Errorf("%d messages left, want 3", n)
	}
}

// Without UIDPLUS a plain EXPUNGE would also remove messages someone else
// flagged \Deleted: the probe then stays flagged and says so.
func TestRoundtripWithoutUIDPlus(t *testing.T) {
	t.Parallel()
	for _, othersDeleted := range []bool{false, true} {
		t.Run(fmt.Sprintf("others deleted %v", othersDeleted), func(t *testing.T) {
			t.Parallel()
			st := startMemStack(t, memStackOptions{noUIDPlus: true})
			if othersDeleted {
				st.put(t, "Subject: theirs\r\n\r\nflagged by the user\r\n", imap.FlagDeleted)
			}
			rep := roundtripTo(st, TLSStartTLS).Run(t.Context())
			if rep.Status != job.StatusOK {
				t.Fatalf("status %s (error %q)", rep.Status, rep.Error)
			}
			if rep.Deleted == othersDeleted {
				t.Errorf("deleted = %v with others flagged \\Deleted %v", rep.Deleted, othersDeleted)
			}
			if othersDeleted && (len(rep.Findings) != 1 || rep.Findings[0].Kind != "probe-not-deleted" || !strings.Contains(rep.Findings[0].Message, "no UIDPLUS")) {
				t.Errorf("findings %v", rep.Findings)
			}
			want := uint32(0)
			if othersDeleted {
				want = 2
			}
			if n := st.messages(t); n != want {
				t.Errorf("%d messages left, want %d", n, want)
			}
		})
	}
}

func TestTokenTime(t *testing.T) {
	t.Parallel()
	now := time.Unix(1764601200, 0)
	m := NewMessage("a@x", "b@x", now)
	if got, ok := tokenTime(m.Token); !ok || !got.Equal(now) {
		t.Errorf("tokenTime(%q) = %v, %v", m.Token, got, ok)
	}
	for _, bad := range []string{"", "1-", "-0123456789abcdef", "x-0123456789abcdef", "1-0123456789abcdeg", "1-0123", "0-0123456789abcdef"} {
		if _, ok := tokenTime(bad); ok {
			t.Errorf("tokenTime(%q) ok", bad)
		}
	}
}
