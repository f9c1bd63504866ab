package dnssync_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
)

func powerDNSSpec(t *testing.T, name string, s *labtest.PowerDNS) dnssync.ServerSpec {
	t.Helper()
	f := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(f, []byte(s.APIKey), 0o600); err != nil {
		t.Fatal(err)
	}
	return dnssync.ServerSpec{Name: name, Type: dnssync.TypePowerDNS, URL: s.URL, APIKeyFile: f, DNS: s.DNSAddr}
}

func TestSyncKindMetrics(t *testing.T) {
	t.Parallel()
	src, _, srcSrv := startPowerDNSProvider(t, "primary")
	seedZone(t, src)
	_, _, tgtSrv := startPowerDNSProvider(t, "secondary")
	spec := dnssync.SyncSpec{Source: powerDNSSpec(t, "primary", srcSrv), Targets: []dnssync.ServerSpec{powerDNSSpec(t, "secondary", tgtSrv)}}
	reg := prometheus.NewRegistry()
	now := time.Unix(1700000000, 0)
	run := func(apply bool) job.Result {
		spec.Apply = apply
		j, err := dnssync.NewSyncJob(spec, job.Deps{Name: "dns", Registerer: reg, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return j.Run(t.Context(), nopLogger())
	}
	if res := run(false); res.Status != job.StatusFailed || res.Counters["drift_records"] != 7 {
		t.Fatalf("check-only run: %s %v, want failed with 7 drift records", res.Status, res.Counters)
	}
	want := `
# HELP labops_dns_drift_records Records the last sync run found different on each target (before applying).
# TYPE labops_dns_drift_records gauge
labops_dns_drift_records{server="secondary"} 7
# HELP labops_dns_sync_failures Server errors in the last sync run.
# TYPE labops_dns_sync_failures gauge
labops_dns_sync_failures 0
# HELP labops_dns_zones Zones each server serves (built-in zones aside), as the last run saw.
# TYPE labops_dns_zones gauge
labops_dns_zones{server="primary"} 1
labops_dns_zones{server="secondary"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if res := run(true); res.Status != job.StatusOK {
		t.Fatalf("apply run: %s %s %v", res.Status, res.Error, res.Findings)
	}
	// No last success before one: a failed one-shot run must not push a 0
	// over the time the Pushgateway holds.
	lastSync := `# HELP labops_dns_last_sync_timestamp_seconds When a sync run last ended with every target equal to the source.
# TYPE labops_dns_last_sync_timestamp_seconds gauge
labops_dns_last_sync_timestamp_seconds 1.7e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(lastSync+strings.NewReplacer(
		`server="secondary"} 0`, `server="secondary"} 1`).Replace(want)), "labops_dns_last_sync_timestamp_seconds", "labops_dns_zones"); err != nil {
		t.Error(err)
	}
}
