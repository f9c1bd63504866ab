package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labops/labops/internal/labtest"
)

func TestDNSTSIGCheck(t *testing.T) {
	t.Parallel()
	zone := []labtest.BINDZone{{Name: "ex.test.", Data: "ex.test. 300 IN SOA ns1.ex.test. h.ex.test. 1 3600 600 86400 300\nex.test. 300 IN NS ns1.ex.test.\nns1.ex.test. 300 IN A 127.0.0.1\n"}}
	dir := t.TempDir()
	entry := func(name, addr, key, secret string) string {
		f := filepath.Join(dir, name+".secret")
		if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("{name: %s, dns: %q, zones: [ex.test.], tsig: {name: %s, secret_file: %q}}", name, addr, key, f)
	}
	good := labtest.StartBIND(t, labtest.BINDOptions{Zones: zone})
	bad := labtest.StartBIND(t, labtest.BINDOptions{Zones: zone, Permissive: true})
	_, cfg := writeConfig(t, fmt.Sprintf(`jobs:
  - name: good
    kind: dns-tsigcheck
    schedule: "@hourly"
    spec: {servers: [%s]}
  - name: bad
    kind: dns-tsigcheck
    schedule: "@hourly"
    spec: {servers: [%s]}
`, entry("enforcing", good.Addr, good.KeyName, good.KeySecret), entry("permissive", bad.Addr, bad.KeyName, bad.KeySecret)))
	code, out, errOut := run(t, t.Context(), dir, nil, "dns", "tsigcheck", "good", "--config", cfg)
	if code != ExitOK || !strings.Contains(out, "enforcing ex.test.: enforced (signed NOERROR, unsigned REFUSED") {
		t.Errorf("enforcing BIND: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, t.Context(), dir, nil, "dns", "tsigcheck", "bad", "--config", cfg)
	if code != ExitFailed || !strings.Contains(out, "unsigned-accepted permissive/ex.test.") {
		t.Errorf("permissive BIND: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, _, errOut := run(t, t.Context(), dir, nil, "dns", "tsigcheck", "--config", cfg); code != ExitUsage || !strings.Contains(errOut, "good, bad") {
		t.Errorf("two jobs, none named: exit %d, stderr:\n%s", code, errOut)
	}
}
