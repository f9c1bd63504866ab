package dnssync_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
)

func TestFallback(t *testing.T) {
	t.Parallel()
	var addrs []string
	var servers []*labtest.PowerDNS
	for _, n := range []string{"r1", "r2"} {
		p, _, s := startPowerDNSProvider(t, n)
		seedZone(t, p)
		addrs = append(addrs, s.DNSAddr)
		servers = append(servers, s)
	}
	// A loopback port nobody listens on: down, answering with a refusal.
	o := dnssync.FallbackOptions{Resolvers: addrs, Name: "www.suite.test", Unreachable: labtest.FreeAddr(t), Bound: time.Minute}
	rep := dnssync.Fallback(t.Context(), o)
	logFallback(t, rep)
	if rep.Status != job.StatusOK || !rep.DrillOK || rep.DrillAnswered != addrs[1] || len(rep.Resolvers) != 2 || !rep.Resolvers[0].Up {
		t.Fatalf("both up: %s, drill %v through %s, findings %v", rep.Status, rep.DrillOK, rep.DrillAnswered, rep.Findings)
	}
	// The first resolver stopped: a finding, and the fallback still works.
	servers[0].Stop()
	rep = dnssync.Fallback(t.Context(), o)
	logFallback(t, rep)
	if rep.Status != job.StatusFailed || !rep.DrillOK || len(rep.Findings) != 1 || rep.Findings[0].Kind != "resolver-down" {
		t.Errorf("first stopped: %s, drill %v, findings %v; want failed by resolver-down only, drill ok", rep.Status, rep.DrillOK, rep.Findings)
	}
	// Every resolver stopped: the drill fails too.
	servers[1].Stop()
	rep = dnssync.Fallback(t.Context(), o)
	if rep.DrillOK || !strings.Contains(strings.Join(findingMessages(rep.Findings), "\n"), "fallback-failed") {
		t.Errorf("all stopped: drill %v, findings %v; want fallback-failed", rep.DrillOK, rep.Findings)
	}
	// One resolver is no fallback.
	rep = dnssync.Fallback(t.Context(), dnssync.FallbackOptions{Resolvers: addrs[:1], Name: "www.suite.test"})
	if !strings.Contains(strings.Join(findingMessages(rep.Findings), "\n"), "no-fallback") {
		t.Errorf("one resolver: %v, want no-fallback", rep.Findings)
	}
}

func logFallback(t *testing.T, r *dnssync.FallbackReport) {
	t.Helper()
	var b strings.Builder
	r.WriteText(&b)
	t.Log("\n" + b.String())
}

func TestParseResolvConf(t *testing.T) {
	t.Parallel()
	rc, err := dnssync.ParseResolvConf([]byte("# comment\nsearch lan\nnameserver 10.0.0.53\nnameserver fe80::1%eth0\n; x\noptions timeout:1 attempts:1 rotate\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := dnssync.ResolvConf{Nameservers: []string{"10.0.0.53:53", "[fe80::1]:53"}, Timeout: time.Second, Attempts: 1}
	if diff := cmp.Diff(want, rc); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := dnssync.ParseResolvConf([]byte("nameserver dns.example\n")); err == nil {
		t.Error("a host name as nameserver: no error")
	}
}
