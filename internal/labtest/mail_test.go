package labtest

import (
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMailStackStartsAndStops(t *testing.T) {
	s := StartMailStack(t, MailStackOptions{})
	for _, a := range []string{s.SMTP, s.Health, s.Submission} {
		if err := expectGreeting(a, "220 "); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	if err := expectGreeting(s.IMAP, "* OK"); err != nil {
		t.Errorf("imap: %v", err)
	}
	stop := time.Now()
	s.Stop()
	t.Logf("stopped in %v", time.Since(stop).Round(time.Millisecond))
	if fatals := s.PostfixLogLines("fatal"); len(fatals) > 0 {
		t.Errorf("postfix log has fatals:\n%s", strings.Join(fatals, "\n"))
	}
}

// TestMailStackDeliversThroughTheLoadBalancer sends a message through
// HAProxy's public SMTP frontend (PROXY v2 to postscreen, then smtpd,
// then virtual delivery) and finds it in the Maildir, with the test's own
// address, not HAProxy's, in the Received header; then logs in to IMAP
// through HAProxy's public IMAP frontend.
func TestMailStackDeliversThroughTheLoadBalancer(t *testing.T) {
	t.Parallel()
	s := StartMailStack(t, MailStackOptions{})
	c := dialText(t, s.PublicSMTP)
	expect(t, c, "", 220)
	expect(t, c, "EHLO client.example", 250)
	expect(t, c, "MAIL FROM:<sender@client.example>", 250)
	expect(t, c, "RCPT TO:<"+s.User+">", 250)
	expect(t, c, "DATA", 354)
	expect(t, c, "Subject: labtest\r\n\r\nhello\r\n.", 250)
	expect(t, c, "QUIT", 221)

	var msg []byte
	for deadline := time.Now().Add(10 * time.Second); msg == nil; time.Sleep(50 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(s.MaildirPath, "new", "*"))
		if len(files) > 0 {
			msg, _ = os.ReadFile(files[0])
		} else if time.Now().After(deadline) {
			out, _ := exec.Command("find", s.Dir+"/mail", "-ls").CombinedOutput()
			t.Fatalf("no message in %s\n%s\n%s", s.MaildirPath, out, s.logs())
		}
	}
	if !strings.Contains(string(msg), "[127.0.0.1]") || strings.Contains(string(msg), "["+s.LBSource+"]") {
		t.Errorf("Received header does not name the real client 127.0.0.1:\n%s", msg)
	}

	ic := dialText(t, s.PublicIMAP)
	line, err := ic.ReadLine()
	if err != nil || !strings.HasPrefix(line, "* OK") {
		t.Fatalf("imap greeting %q: %v\n%s", line, err, s.logs())
	}
	ic.PrintfLine("a LOGIN %s %s", s.User, s.Password)
	for {
		line, err := ic.ReadLine()
		if err != nil {
			t.Fatalf("imap login: %v\n%s", err, s.logs())
		}
		if strings.HasPrefix(line, "a ") {
			if !strings.HasPrefix(line, "a OK") {
				t.Fatalf("imap login: %s\n%s", line, s.logs())
			}
			break
		}
	}
	if !strings.Contains(s.DovecotLog(), "rip=127.0.0.1") {
		t.Errorf("dovecot did not log the real client address rip=127.0.0.1:\n%s", s.DovecotLog())
	}
}

func dialText(t *testing.T, addr string) *textproto.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := textproto.NewConn(nc)
	t.Cleanup(func() { c.Close() })
	return c
}

func expect(t *testing.T, c *textproto.Conn, cmd string, code int) {
	t.Helper()
	if cmd != "" {
		if err := c.PrintfLine("%s", cmd); err != nil {
			t.Fatal(err)
		}
	}
	if _, msg, err := c.ReadResponse(code); err != nil {
		t.Fatalf("%q: %v %s", cmd, err, msg)
	}
}
