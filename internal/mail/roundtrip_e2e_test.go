package mail

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
)

// Addresses the end-to-end tests connect from, so the Received header can
// only name them if the client address really survived: neither the
// test's default 127.0.0.1 nor HAProxy's LBSource.
const (
	e2eClientIP = "127.0.0.9"
	e2eRelayIP  = "127.0.0.10"
)

// realRoundtrip builds a probe against the real stack: submission to
// smtpAddr (STARTTLS, AUTH through Dovecot), IMAP at imapAddr.
func realRoundtrip(s *labtest.MailStack, smtpAddr, imapAddr string, imapTLS TLSMode) *Roundtrip {
	tlsOpts := TLSOptions{CAFile: s.CertFile, ServerName: s.Hostname}
	return &Roundtrip{
		Sender: &SMTPSender{Addr: smtpAddr, TLS: TLSStartTLS, TLSOpts: tlsOpts, Username: s.User, Password: s.Password,
			Helo: "probe.client.example", SourceIP: e2eClientIP},
		Mailbox: &IMAP{Addr: imapAddr, TLS: imapTLS, TLSOpts: tlsOpts, Username: s.User, Password: s.Password},
		From:    s.User,
		To:      s.User,
		Timeout: 30 * time.Second,
	}
}

// TestRoundtripRealStack sends through real Postfix submission (stock and
// through HAProxy's public path with PROXY v2) and finds the message
// through real Dovecot IMAP (implicit TLS, and through HAProxy with
// STARTTLS); the Received header names the real client, not HAProxy.
func TestRoundtripRealStack(t *testing.T) {
	t.Parallel()
	s := labtest.StartMailStack(t, labtest.MailStackOptions{})
	client := netip.MustParseAddr(e2eClientIP)
	// A probe an earlier run lost three hours ago: the first run sweeps it.
	old := NewMessage(s.User, s.User, time.Now().Add(-3*time.Hour))
	oldFile := filepath.Join(s.MaildirPath, "new", "1.labtest.old")
	owned := []string{filepath.Dir(s.MaildirPath), s.MaildirPath}
	for _, sub := range []string{"cur", "new", "tmp"} {
		d := filepath.Join(s.MaildirPath, sub)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		owned = append(owned, d)
	}
	if err := os.WriteFile(oldFile, old.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(owned, oldFile) {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	swept := 0
	for _, tc := range []struct {
		name           string
		smtp, imap     string
		imapTLS        TLSMode
		expect         netip.Addr
		status         job.Status
		wantFindingFor string
		poll           time.Duration
	}{
		{name: "stock submission, imaps", smtp: s.Submission, imap: s.IMAPS, imapTLS: TLSImplicit, expect: client, status: job.StatusOK},
		{name: "public submission through haproxy, public imap", smtp: s.PublicSubmission, imap: s.PublicIMAP, imapTLS: TLSStartTLS, expect: client, status: job.StatusOK},
		{name: "again, warm", smtp: s.PublicSubmission, imap: s.PublicIMAP, imapTLS: TLSStartTLS, expect: client, status: job.StatusOK},
		{name: "polling every 20ms", smtp: s.PublicSubmission, imap: s.IMAPS, imapTLS: TLSImplicit, expect: client, status: job.StatusOK, poll: 20 * time.Millisecond},
		{name: "polling every 20ms, again", smtp: s.PublicSubmission, imap: s.IMAPS, imapTLS: TLSImplicit, expect: client, status: job.StatusOK, poll: 20 * time.Millisecond},
		{name: "expecting the load balancer's address fails", smtp: s.PublicSubmission, imap: s.IMAPS, imapTLS: TLSImplicit,
			expect: netip.MustParseAddr(s.LBSource), status: job.StatusFailed, wantFindingFor: "client-ip-mismatch"},
	} {
		// Sequential: one mailbox, and the times are worth comparing.
		rt := realRoundtrip(s, tc.smtp, tc.imap, tc.imapTLS)
		rt.ExpectClientIP = tc.expect
		rt.Mailbox.(*IMAP).Poll = tc.poll
		rep := rt.Run(t.Context())
		if rep.Status != tc.status {
			t.Fatalf("%s: status %s, want %s; error %q, findings %v\npostfix log:\n%s", tc.name, rep.Status, tc.status, rep.Error, rep.Findings, rtTail(s.PostfixLog(), 30))
		}
		if tc.wantFindingFor != "" && (len(rep.Findings) != 1 || rep.Findings[0].Kind != tc.wantFindingFor) {
			t.Errorf("%s: findings %v, want one %s", tc.name, rep.Findings, tc.wantFindingFor)
		}
		if rep.Client == nil || rep.Client.FromIP != client {
			t.Errorf("%s: client %+v, want %s; Received: %q", tc.name, rep.Client, client, rep.ReceivedHeaders)
		}
		if rep.Client != nil && rep.Client.By != s.Hostname {
			t.Errorf("%s: recorded by %q, want %s", tc.name, rep.Client.By, s.Hostname)
		}
		if !rep.Deleted {
			t.Errorf("%s: probe not deleted", tc.name)
		}
		swept += rep.Swept
		if rep.Idle != (tc.poll == 0) {
			t.Errorf("%s: idle = %v; Dovecot offers IDLE, used unless told to poll", tc.name, rep.Idle)
		}
		t.Logf("%s: round trip %.3fs (accepted after %.3fs as %s, seen %.3fs later); client %s",
			tc.name, rep.RoundtripSeconds, rep.SendSeconds, rep.AcceptedID, rep.DeliverySeconds, rep.Client.FromIP)
	}
	if n := maildirCount(t, s); n != 0 || swept != 1 {
		t.Errorf("%d messages left in the Maildir, %d stale probes swept; want 0 and 1", n, swept)
	}
	if f := s.PostfixLogLines("fatal"); len(f) > 0 {
		t.Errorf("postfix fatals:\n%s", strings.Join(f, "\n"))
	}
}

// TestRoundtripRealStackBrevo: the probe goes to the fake Brevo API, which
// relays it from its own address through HAProxy's public port 25 path
// (PROXY v2 to postscreen, then smtpd) into real Postfix; Dovecot serves
// it. The Received header names the relay's address.
func TestRoundtripRealStackBrevo(t *testing.T) {
	t.Parallel()
	s := labtest.StartMailStack(t, labtest.MailStackOptions{})
	fb := startFakeBrevo(t, s.PublicSMTP, e2eRelayIP)
	rt := realRoundtrip(s, "", s.IMAPS, TLSImplicit)
	rt.Sender = &BrevoSender{URL: fb.URL, APIKey: fb.Key}
	rt.ExpectClientIP = netip.MustParseAddr(e2eRelayIP)
	for i := range 2 {
		rep := rt.Run(t.Context())
		if rep.Status != job.StatusOK {
			t.Fatalf("run %d: status %s; error %q, findings %v, received %q\npostfix log:\n%s", i, rep.Status, rep.Error, rep.Findings, rep.ReceivedHeaders, rtTail(s.PostfixLog(), 30))
		}
		if !rep.Deleted {
			t.Errorf("run %d: probe not deleted", i)
		}
		t.Logf("run %d (postscreen greet wait on the first): round trip %.3fs (API accepted after %.3fs as %s, seen %.3fs later); client %s (%s)",
			i, rep.RoundtripSeconds, rep.SendSeconds, rep.AcceptedID, rep.DeliverySeconds, rep.Client.FromIP, rep.Client.Helo)
	}
}

// TestRoundtripRealStackRefused: a wrong submission password gets 535
// from Postfix (SASL through Dovecot), a wrong IMAP password NO from
// Dovecot; each is a failure, and nothing is left in the mailbox.
func TestRoundtripRealStackRefused(t *testing.T) {
	t.Parallel()
	s := labtest.StartMailStack(t, labtest.MailStackOptions{})
	for _, tc := range []struct {
		name  string
		setup func(rt *Roundtrip)
		says  string
	}{
		{"smtp", func(rt *Roundtrip) { rt.Sender.(*SMTPSender).Password = "wrong" }, "535"},
		{"imap", func(rt *Roundtrip) { rt.Mailbox.(*IMAP).Password = "wrong" }, "before sending: login refused: imap"},
	} {
		rt := realRoundtrip(s, s.Submission, s.IMAPS, TLSImplicit)
		tc.setup(rt)
		rep := rt.Run(t.Context())
		if rep.Status != job.StatusFailed || len(rep.Findings) != 1 || rep.Findings[0].Kind != "login-refused" {
			t.Fatalf("%s: status %s, findings %v, error %q; want failed with login-refused", tc.name, rep.Status, rep.Findings, rep.Error)
		}
		if !strings.Contains(rep.Error, tc.says) {
			t.Errorf("%s: error %q does not say %q", tc.name, rep.Error, tc.says)
		}
		t.Logf("%s: %s", tc.name, rep.Error)
	}
	time.Sleep(500 * time.Millisecond) // a wrongly accepted message would land by now
	if n := maildirCount(t, s); n != 0 {
		t.Errorf("%d messages in the Maildir after refused logins", n)
	}
}

func maildirCount(t *testing.T, s *labtest.MailStack) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"new", "cur"} {
		entries, _ := os.ReadDir(filepath.Join(s.MaildirPath, sub))
		n += len(entries)
	}
	return n
}

func rtTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
