package dnssync_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/job"
)

func TestReadyKindMetrics(t *testing.T) {
	t.Parallel()
	a, _, aSrv := startPowerDNSProvider(t, "a")
	seedZone(t, a)
	_, _, bSrv := startPowerDNSProvider(t, "b")
	bSrv.Stop()
	spec := dnssync.ReadySpec{Servers: []dnssync.ServerSpec{powerDNSSpec(t, "a", aSrv), powerDNSSpec(t, "b", bSrv)}}
	reg := prometheus.NewRegistry()
	j, err := dnssync.NewReadyJob(spec, job.Deps{Registerer: reg, Now: func() time.Time { return time.Unix(1, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	res := j.Run(t.Context(), nopLogger())
	if res.Status != job.StatusFailed || len(res.Findings) != 1 || res.Findings[0].Kind != "unreachable" {
		t.Fatalf("with b down: %s %v; want failed with one unreachable finding", res.Status, res.Findings)
	}
	want := `
# HELP labops_dns_ready Whether the last gate run found every server answering and equal (1), overridden or not, or not (0).
# TYPE labops_dns_ready gauge
labops_dns_ready 0
# HELP labops_dns_ready_overridden Whether the last gate run passed only by --override (its reason is in the run's result).
# TYPE labops_dns_ready_overridden gauge
labops_dns_ready_overridden 0
# HELP labops_dns_server_up Whether each server answered its API and DNS queries in the last gate run.
# TYPE labops_dns_server_up gauge
labops_dns_server_up{server="a"} 1
labops_dns_server_up{server="b"} 0
# HELP labops_dns_zones Zones each server serves (built-in zones aside), as the last run saw.
# TYPE labops_dns_zones gauge
labops_dns_zones{server="a"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "labops_dns_ready", "labops_dns_ready_overridden", "labops_dns_server_up", "labops_dns_zones"); err != nil {
		t.Error(err)
	}
	if _, err := dnssync.NewReadyJob(dnssync.ReadySpec{Servers: spec.Servers[:1]}, job.Deps{}); err == nil || !strings.Contains(err.Error(), "servers: at least two") {
		t.Errorf("one server: %v", err)
	}
}
