package dnssync_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
)

func readyOnce(t *testing.T, o dnssync.ReadyOptions) *dnssync.ReadyReport {
	t.Helper()
	rep := dnssync.Ready(t.Context(), o)
	var b strings.Builder
	rep.WriteText(&b)
	t.Logf("ready:\n%s", b.String())
	return rep
}

func findingKinds(fs []job.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind+" "+f.Subject)
	}
	slices.Sort(out)
	return out
}

// TestReady syncs BIND to two PowerDNS servers, then breaks them one way
// at a time and sees the gate catch each.
func TestReady(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := labtest.StartBIND(t, labtest.BINDOptions{Zones: []labtest.BINDZone{{Name: suiteZone, Data: suiteZoneFile()}}})
	bind := dnssync.NewPlainDNS(dnssync.PlainDNSOptions{Name: "bind", Addr: b.Addr, Zones: []string{suiteZone},
		Key: &dnssync.TSIGKey{Name: b.KeyName, Secret: b.KeySecret}})
	p1, _, s1 := startPowerDNSProvider(t, "pdns1")
	p2, _, s2 := startPowerDNSProvider(t, "pdns2")
	resync := func() {
		t.Helper()
		rep := dnssync.Sync(ctx, dnssync.SyncOptions{Source: bind, Targets: []dnssync.Provider{p1, p2}, Apply: true,
			Plan: dnssync.PlanOptions{Force: true, PruneZones: true}})
		if rep.Status != job.StatusOK {
			t.Fatalf("sync: %s %s %v", rep.Status, rep.Error, rep.Findings)
		}
	}
	resync()
	o := dnssync.ReadyOptions{Servers: []dnssync.ReadyServer{{Provider: bind, DNS: b.Addr}, {Provider: p1, DNS: s1.DNSAddr}, {Provider: p2, DNS: s2.DNSAddr}}}
	if rep := readyOnce(t, o); !rep.Ready || rep.Status != job.StatusOK {
		t.Fatalf("after sync: ready %v, findings %v", rep.Ready, rep.Findings)
	}

	breaks := []struct {
		name   string
		break_ func(t *testing.T)
		want   []string
		lag    uint32
	}{
		{"a record deleted", func(t *testing.T) {
			if err := p2.Apply(ctx, suiteZone, []dnssync.RRsetChange{{Name: "txt.suite.test.", Type: "TXT"}}); err != nil {
				t.Fatal(err)
			}
		}, []string{"content-mismatch pdns2/suite.test."}, 0},
		{"a record changed, same count", func(t *testing.T) {
			if err := p1.Apply(ctx, suiteZone, []dnssync.RRsetChange{{Name: "ns1.suite.test.", Type: "A",
				New: []dnssync.Record{rec("ns1.suite.test. 300 IN A 127.0.0.2")}}}); err != nil {
				t.Fatal(err)
			}
		}, []string{"content-mismatch pdns1/suite.test."}, 0},
		{"a serial bumped", func(t *testing.T) {
			if err := p1.Apply(ctx, suiteZone, []dnssync.RRsetChange{{Name: suiteZone, Type: "SOA",
				New: []dnssync.Record{rec("suite.test. 300 IN SOA ns1.suite.test. hostmaster.suite.test. 2024010105 3600 600 86400 300")}}}); err != nil {
				t.Fatal(err)
			}
		}, []string{"serial-mismatch pdns1/suite.test."}, 4},
		{"an extra zone", func(t *testing.T) {
			if err := p2.CreateZone(ctx, "extra.test.", rec("extra.test. 300 IN SOA a. b. 1 2 3 4 5")); err != nil {
				t.Fatal(err)
			}
		}, []string{"zone-missing bind/extra.test.", "zone-missing pdns1/extra.test."}, 0},
		{"a server stopped", func(t *testing.T) {
			s2.Stop()
			t.Cleanup(s2.Start)
		}, []string{"unreachable pdns2"}, 0},
	}
	for _, bk := range breaks {
		t.Run(bk.name, func(t *testing.T) {
			bk.break_(t)
			rep := readyOnce(t, o)
			if rep.Ready || rep.Status != job.StatusFailed {
				t.Errorf("ready %v, status %s; want not ready, failed", rep.Ready, rep.Status)
			}
			if got := findingKinds(rep.Findings); !slices.Equal(got, bk.want) {
				t.Errorf("findings %q, want %q", got, bk.want)
			}
			if rep.SerialLag != bk.lag {
				t.Errorf("serial lag %d, want %d", rep.SerialLag, bk.lag)
			}
			if bk.name == "a server stopped" {
				ov := o
				ov.Override = "pdns2 is being rebuilt"
				rep := readyOnce(t, ov)
				if rep.Status != job.StatusOK || rep.Ready || !strings.Contains(strings.Join(findingMessages(rep.Findings), "\n"), "pdns2 is being rebuilt") {
					t.Errorf("override: status %s, ready %v, findings %v; want ok, not ready, the reason recorded", rep.Status, rep.Ready, rep.Findings)
				}
				return
			}
			resync()
			if rep := readyOnce(t, o); !rep.Ready {
				t.Fatalf("after resync: findings %v", rep.Findings)
			}
		})
	}
}
