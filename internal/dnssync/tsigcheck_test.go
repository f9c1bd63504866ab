package dnssync_test

import (
	"slices"
	"testing"

	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
)

func TestTSIGCheck(t *testing.T) {
	t.Parallel()
	zones := []labtest.BINDZone{{Name: suiteZone, Data: suiteZoneFile()}}
	type server struct {
		name       string
		addr, key  string
		secret     string
		permissive bool
	}
	var servers []server
	for _, permissive := range []bool{false, true} {
		b := labtest.StartBIND(t, labtest.BINDOptions{Zones: zones, Permissive: permissive})
		k := labtest.StartKnot(t, labtest.KnotOptions{Zones: zones, Permissive: permissive})
		servers = append(servers, server{"bind", b.Addr, b.KeyName, b.KeySecret, permissive}, server{"knot", k.Addr, k.KeyName, k.KeySecret, permissive})
	}
	for _, s := range servers {
		t.Run(s.name+map[bool]string{true: " permissive", false: " enforcing"}[s.permissive], func(t *testing.T) {
			target := dnssync.TSIGTarget{Server: s.name, Addr: s.addr, Zone: suiteZone, Key: dnssync.TSIGKey{Name: s.key, Secret: s.secret}}
			rep := dnssync.TSIGCheck(t.Context(), []dnssync.TSIGTarget{target}, 0, nil)
			t.Logf("%+v %v", rep.Zones, rep.Findings)
			var kinds []string
			for _, f := range rep.Findings {
				kinds = append(kinds, f.Kind)
			}
			if s.permissive {
				if rep.Status != job.StatusFailed || !slices.Contains(kinds, "unsigned-accepted") {
					t.Errorf("permissive server: %s %v; want failed with unsigned-accepted", rep.Status, kinds)
				}
			} else if rep.Status != job.StatusOK || !rep.Zones[0].Enforced {
				t.Errorf("enforcing server: %s %v; want ok", rep.Status, kinds)
			}
			// The throwaway records are gone again.
			p := dnssync.NewPlainDNS(dnssync.PlainDNSOptions{Addr: s.addr, Zones: []string{suiteZone}, Key: &target.Key})
			rs := must(p.Records(t.Context(), suiteZone))
			for _, r := range rs {
				if r.Type == "TXT" && r.Name != "txt.suite.test." {
					t.Errorf("left behind: %s", r)
				}
			}
		})
	}
	// Unreachable is incomplete, not ok.
	rep := dnssync.TSIGCheck(t.Context(), []dnssync.TSIGTarget{{Server: "gone", Addr: labtest.FreeAddr(t), Zone: suiteZone,
		Key: dnssync.TSIGKey{Name: "k.", Secret: labtest.NewTSIGSecret(t)}}}, 0, nil)
	if rep.Status != job.StatusIncomplete {
		t.Errorf("unreachable server: %s, want incomplete", rep.Status)
	}
}
