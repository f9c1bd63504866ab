package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMailLintExitCodes(t *testing.T) {
	t.Parallel()
	td := filepath.Join("..", "mail", "testdata", "lint")
	bad := filepath.Join(t.TempDir(), "bad.cfg")
	if err := os.WriteFile(bad, []byte("backend b\n  server s \"1.2.3.4:25\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{filepath.Join(td, "incident.cfg")}, ExitFailed, "backend submission_alt, server mail1: sends PROXY (send-proxy-v2)"},
		{[]string{filepath.Join(td, "fix-port.cfg")}, ExitOK, "no PROXY health-check problems found"},
		{[]string{filepath.Join(td, "fix-never-send-local.cfg")}, ExitOK, "no PROXY"},
		{[]string{filepath.Join(td, "fix-linger.cfg")}, ExitOK, "no PROXY"},
		{[]string{filepath.Join(td, "smtpchk.cfg"), "--json"}, ExitFailed, `"kind": "smtpchk-against-postscreen"`},
		{[]string{filepath.Join(td, "fix-port.cfg"), "--json"}, ExitOK, "[]"},
		{[]string{bad}, ExitUsage, "unterminated"},
		{[]string{filepath.Join(td, "missing.cfg")}, ExitUsage, "no such file"},
	} {
		code, stdout, stderr := run(t, t.Context(), t.TempDir(), nil, append([]string{"mail", "lint"}, tt.args...)...)
		if code != tt.code || !strings.Contains(stdout+stderr, tt.contains) {
			t.Errorf("mail lint %v: exit %d, want %d, containing %q\nstdout:\n%s\nstderr:\n%s", tt.args, code, tt.code, tt.contains, stdout, stderr)
		}
	}
}
