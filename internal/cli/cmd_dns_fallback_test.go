package cli

import (
	"strings"
	"testing"

	"github.com/labops/labops/internal/labtest"
)

func TestDNSFallback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r1, _ := dnsServer(t, dir, "r1")
	r2, _ := dnsServer(t, dir, "r2")
	seedDNS(t, r1)
	seedDNS(t, r2)
	args := []string{"dns", "fallback", "--name", "www.ex.test", "--resolver", r1.DNSAddr, "--resolver", r2.DNSAddr,
		"--unreachable", labtest.FreeAddr(t), "--bound", "1m"}
	code, out, errOut := run(t, t.Context(), dir, nil, args...)
	if code != ExitOK || !strings.Contains(out, "resolved through "+r2.DNSAddr) {
		t.Fatalf("both up: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	r1.Stop()
	code, out, errOut = run(t, t.Context(), dir, nil, args...)
	if code != ExitFailed || !strings.Contains(out, "resolver-down "+r1.DNSAddr) || !strings.Contains(out, "resolved through "+r2.DNSAddr) {
		t.Errorf("first stopped: exit %d, want 1 with the fallback proven\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, _, errOut := run(t, t.Context(), dir, nil, "dns", "fallback", "--name", "x.test"); code != ExitUsage || !strings.Contains(errOut, "resolv_conf") {
		t.Errorf("no resolvers: exit %d, stderr:\n%s", code, errOut)
	}
}
