package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/labtest"
)

// dnsServer starts a PowerDNS server and returns its config entry, with
// the API key in a file under dir.
func dnsServer(t *testing.T, dir, name string) (*labtest.PowerDNS, string) {
	t.Helper()
	s := labtest.StartPowerDNS(t)
	keyFile := filepath.Join(dir, name+".key")
	if err := os.WriteFile(keyFile, []byte(s.APIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s, fmt.Sprintf("{name: %s, type: powerdns, url: %q, api_key_file: %q, dns: %q}", name, s.URL, keyFile, s.DNSAddr)
}

// seedDNS creates ex.test. on s with a few records.
func seedDNS(t *testing.T, s *labtest.PowerDNS) {
	t.Helper()
	p, err := dnssync.NewPowerDNS(dnssync.PowerDNSOptions{URL: s.URL, APIKey: s.APIKey})
	if err != nil {
		t.Fatal(err)
	}
	soa, _ := dnssync.ParseRecord("ex.test. 300 IN SOA ns1.ex.test. h.ex.test. 5 3600 600 86400 300")
	www, _ := dnssync.ParseRecord("www.ex.test. 300 IN A 192.0.2.1")
	if err := p.CreateZone(t.Context(), "ex.test.", soa); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(t.Context(), "ex.test.", []dnssync.RRsetChange{{Name: www.Name, Type: www.Type, New: []dnssync.Record{www}}}); err != nil {
		t.Fatal(err)
	}
}

func TestDNSSync(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, srcEntry := dnsServer(t, dir, "primary")
	_, tgtEntry := dnsServer(t, dir, "secondary")
	seedDNS(t, src)
	_, cfg := writeConfig(t, fmt.Sprintf(`jobs:
  - name: dns-secondaries
    kind: dns-sync
    schedule: "*/5 * * * *"
    spec:
      source: %s
      targets: [%s]
`, srcEntry, tgtEntry))
	ctx := t.Context()

	code, out, errOut := run(t, ctx, dir, nil, "dns", "sync", "--config", cfg)
	if code != ExitFailed || !strings.Contains(out, "zone ex.test.: create") || !strings.Contains(out, "+ www.ex.test. 300 A 192.0.2.1") {
		t.Fatalf("dry run with drift: exit %d, want 1 and the plan\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, ctx, dir, nil, "dns", "sync", "dns-secondaries", "--config", cfg, "--apply")
	if code != ExitOK || !strings.Contains(out, "applied and verified") {
		t.Fatalf("--apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, ctx, dir, nil, "dns", "sync", "--config", cfg, "--json")
	if code != ExitOK {
		t.Fatalf("rerun: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var rep struct {
		Status  string `json:"status"`
		Targets []struct {
			Target string `json:"target"`
			Zones  []struct {
				Zone, Action string
			} `json:"zones"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if rep.Status != "ok" || len(rep.Targets) != 1 || rep.Targets[0].Zones[0].Action != "in-sync" {
		t.Errorf("--json after apply: %+v, want ok and ex.test. in-sync", rep)
	}
}

func TestDNSSyncUsage(t *testing.T) {
	t.Parallel()
	dir, cfg := writeConfig(t, `jobs:
  - name: bad
    kind: dns-sync
    schedule: "@hourly"
    spec:
      source: {name: a, type: bogus}
      targets: []
`)
	code, _, errOut := run(t, t.Context(), dir, nil, "dns", "sync", "--config", cfg)
	if code != ExitUsage || !strings.Contains(errOut, "source.type") || !strings.Contains(errOut, "targets: required") {
		t.Errorf("bad spec: exit %d, stderr:\n%s\nwant 2 naming source.type and targets", code, errOut)
	}
	dir, cfg = writeConfig(t, "jobs: []\n")
	if code, _, errOut := run(t, t.Context(), dir, nil, "dns", "sync", "--config", cfg); code != ExitUsage || !strings.Contains(errOut, "dns-sync jobs: none") {
		t.Errorf("no dns-sync job: exit %d, stderr:\n%s", code, errOut)
	}
}
