package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/mail"
)

func TestMailRoundtripUsage(t *testing.T) {
	t.Parallel()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--to", "a@x", "--imap", "h:993"}, "give --smtp HOST:PORT or --brevo-key-file FILE"},
		{[]string{"--smtp", "h:587", "--brevo-key-file", pw, "--to", "a@x", "--imap", "h:993"}, "not both"},
		{[]string{"--smtp", "h:587", "--imap", "h:993"}, "--to is required"},
		{[]string{"--smtp", "h:587", "--to", "a@x"}, "--imap HOST:PORT is required"},
		{[]string{"--smtp", "h:587", "--to", "a@x", "--imap", "h:993", "--username", "u"}, "--username needs --password-file"},
		{[]string{"--smtp", "h:587", "--to", "a@x", "--imap", "h:993"}, "IMAP needs a login"},
		{[]string{"--smtp", "h:587", "--smtp-tls", "ssl", "--to", "a@x", "--imap", "h", "--username", "u", "--password-file", pw, "--expect-client-ip", "nope"},
			`labops: --expect-client-ip: "nope" is not an IP address` + "\n" + `--smtp-tls: "ssl" is not a TLS mode (valid: starttls, implicit, none)` + "\n" + `--imap: "h" is not host:port` + "\n"},
		{[]string{"--smtp", "h:587", "--to", "a@x", "--imap", "h:993", "--username", "u", "--password-file", "/nonexistent/pw"}, "reading secret"},
		{[]string{"--smtp", "h:587", "--to", "a@x", "--imap", "h:993", "--username", "u", "--password-file", pw, "--timeout", "0s"}, "--timeout 0s"},
	} {
		code, _, stderr := run(t, t.Context(), t.TempDir(), nil, append([]string{"mail", "roundtrip"}, tc.args...)...)
		if code != ExitUsage || !strings.Contains(stderr, tc.says) || !strings.Contains(stderr, "try: labops mail roundtrip --help") {
			t.Errorf("%v: exit %d, stderr %q; want 2 saying %q", tc.args, code, stderr, tc.says)
		}
	}
}

func TestMailRoundtripUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret-do-not-print\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, t.Context(), t.TempDir(), nil, "mail", "roundtrip", "--smtp", closed, "--to", "a@x.test",
		"--imap", closed, "--username", "u", "--password-file", pw)
	if code != ExitIncomplete || !strings.Contains(stderr, "the probe is incomplete: before sending: unavailable: connecting to "+closed) {
		t.Errorf("exit %d, stderr %q; want 3 naming the unreachable IMAP server", code, stderr)
	}
	if !strings.Contains(stdout, "mail roundtrip: incomplete") || strings.Contains(stdout+stderr, "s3cret") {
		t.Errorf("stdout %q", stdout)
	}
}

// TestMailRoundtripRealStack runs the command against the real stack:
// through HAProxy's public submission path from 127.0.0.9, expecting that
// address in the Received header (exit 0), expecting HAProxy's own
// address (exit 1), with a wrong password (exit 1), and as the
// mail-roundtrip job through `labops run` with the password from ${ENV}.
func TestMailRoundtripRealStack(t *testing.T) {
	t.Parallel()
	s := labtest.StartMailStack(t, labtest.MailStackOptions{})
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(s.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrong, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"mail", "roundtrip", "--smtp", s.PublicSubmission, "--smtp-source-ip", "127.0.0.9",
		"--username", s.User, "--to", s.User, "--imap", s.IMAPS, "--ca-file", s.CertFile, "--timeout", "30s"}
	withPW := func(file string, extra ...string) []string {
		return append(append(append([]string{}, base...), "--password-file", file), extra...)
	}

	code, stdout, stderr := run(t, t.Context(), dir, nil, withPW(pw, "--expect-client-ip", "127.0.0.9")...)
	if code != ExitOK || !strings.Contains(stdout, "client      127.0.0.9") || !strings.Contains(stdout, "recorded by "+s.Hostname) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("labops mail roundtrip:\n%s", stdout)

	code, stdout, stderr = run(t, t.Context(), dir, nil, withPW(pw, "--expect-client-ip", s.LBSource, "--json", "--imap-poll-interval", "50ms")...)
	var rep mail.RoundtripReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if code != ExitFailed || rep.Findings[0].Kind != "client-ip-mismatch" || rep.Client.FromIP.String() != "127.0.0.9" || !rep.Deleted || rep.Idle {
		t.Errorf("expecting the balancer's address: exit %d, report %+v, stderr %q", code, rep, stderr)
	}
	t.Logf("polling every 50ms: round trip %.3fs (send %.3fs, delivery %.3fs)", rep.RoundtripSeconds, rep.SendSeconds, rep.DeliverySeconds)

	code, stdout, _ = run(t, t.Context(), dir, nil, withPW(wrong)...)
	if code != ExitFailed || !strings.Contains(stdout, "login-refused") {
		t.Errorf("wrong password: exit %d, stdout %q; want 1 with login-refused", code, stdout)
	}

	cfg := fmt.Sprintf(`jobs:
  - name: mail-probe
    kind: mail-roundtrip
    spec:
      to: %[1]s
      from: %[1]s
      expect_client_ip: 127.0.0.9
      smtp: {addr: "%[2]s", username: %[1]s, password: "${PROBE_PASSWORD}", ca_file: %[3]s, source_ip: 127.0.0.9}
      imap: {addr: "%[4]s", username: %[1]s, password_file: %[5]s, ca_file: %[3]s}
`, s.User, s.PublicSubmission, s.CertFile, s.IMAPS, pw)
	cdir, path := writeConfig(t, cfg)
	code, stdout, stderr = run(t, t.Context(), cdir, map[string]string{"PROBE_PASSWORD": s.Password}, "run", "mail-probe", "--config", path, "--json")
	if code != ExitOK || strings.Contains(stdout+stderr, s.Password) {
		t.Fatalf("labops run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var reports []runReport
	if err := json.Unmarshal([]byte(stdout), &reports); err != nil || len(reports) != 1 || reports[0].Result.Counters["roundtrip_seconds"] <= 0 {
		t.Errorf("labops run --json: %v %s", err, stdout)
	}
}
