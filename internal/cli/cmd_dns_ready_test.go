package cli

import (
	"fmt"
	"strings"
	"testing"
)

func TestDNSReady(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, aEntry := dnsServer(t, dir, "primary")
	_, bEntry := dnsServer(t, dir, "secondary")
	seedDNS(t, a)
	_, cfg := writeConfig(t, fmt.Sprintf(`jobs:
  - name: sync
    kind: dns-sync
    schedule: "@hourly"
    spec: {source: %[1]s, targets: [%[2]s]}
  - name: gate
    kind: dns-ready
    schedule: "@hourly"
    spec:
      servers: [%[1]s, %[2]s]
`, aEntry, bEntry))
	ctx := t.Context()
	code, out, errOut := run(t, ctx, dir, nil, "dns", "ready", "--config", cfg)
	if code != ExitFailed || !strings.Contains(out, "zone-missing secondary/ex.test.") || !strings.Contains(out, "NOT ready") {
		t.Fatalf("secondary lacks the zone: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, ctx, dir, nil, "dns", "ready", "gate", "--config", cfg, "--override", "secondary is new, INC-7")
	if code != ExitOK || !strings.Contains(out, "INC-7") || !strings.Contains(errOut, "INC-7") {
		t.Fatalf("--override: exit %d, want 0 with the reason shown and logged\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, out, errOut := run(t, ctx, dir, nil, "dns", "sync", "sync", "--config", cfg, "--apply"); code != ExitOK {
		t.Fatalf("sync --apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := run(t, ctx, dir, nil, "dns", "ready", "gate", "--config", cfg); code != ExitOK || !strings.Contains(out, "ready: every server") {
		t.Fatalf("after sync: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, _, errOut := run(t, ctx, dir, nil, "dns", "ready", "sync", "--config", cfg); code != ExitUsage || !strings.Contains(errOut, "not dns-ready") {
		t.Errorf("a dns-sync job given to ready: exit %d, stderr:\n%s", code, errOut)
	}
	if code, _, _ := run(t, ctx, dir, nil, "dns", "ready", "gate", "--config", cfg, "--override", " "); code != ExitUsage {
		t.Errorf("--override without a reason: exit %d, want 2", code)
	}
}
