package dnssync_test

import (
	"testing"

	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/labtest"
)

func TestPlainDNSProviderBIND(t *testing.T) {
	t.Parallel()
	testProvider(t, func(t *testing.T) suiteTarget {
		b := labtest.StartBIND(t, labtest.BINDOptions{Zones: []labtest.BINDZone{{Name: suiteZone, Data: suiteZoneFile()}}})
		key := &dnssync.TSIGKey{Name: b.KeyName, Secret: b.KeySecret}
		bad := &dnssync.TSIGKey{Name: b.KeyName, Secret: labtest.NewTSIGSecret(t)}
		return suiteTarget{
			p:       dnssync.NewPlainDNS(dnssync.PlainDNSOptions{Name: "bind", Addr: b.Addr, Zones: []string{suiteZone}, Key: key}),
			badAuth: dnssync.NewPlainDNS(dnssync.PlainDNSOptions{Name: "bind", Addr: b.Addr, Zones: []string{suiteZone}, Key: bad}),
		}
	})
}

// startPowerDNSProvider starts a PowerDNS server and returns a provider
// for it, and one with a wrong API key.
func startPowerDNSProvider(t *testing.T, name string) (*dnssync.PowerDNS, *dnssync.PowerDNS, *labtest.PowerDNS) {
	t.Helper()
	s := labtest.StartPowerDNS(t)
	p := must(dnssync.NewPowerDNS(dnssync.PowerDNSOptions{Name: name, URL: s.URL, APIKey: s.APIKey}))
	bad := must(dnssync.NewPowerDNS(dnssync.PowerDNSOptions{Name: name, URL: s.URL, APIKey: "wrong"}))
	return p, bad, s
}

// seedPowerDNS creates suiteZone through the API.
func seedZone(t *testing.T, p dnssync.Provider) {
	t.Helper()
	if err := p.CreateZone(t.Context(), suiteZone, suiteSOA); err != nil {
		t.Fatal(err)
	}
	sets := map[string]*dnssync.RRsetChange{}
	var order []string
	for _, r := range suiteSeed {
		k := r.Name + " " + r.Type
		if sets[k] == nil {
			sets[k] = &dnssync.RRsetChange{Name: r.Name, Type: r.Type}
			order = append(order, k)
		}
		sets[k].New = append(sets[k].New, r)
	}
	var cs []dnssync.RRsetChange
	for _, k := range order {
		cs = append(cs, *sets[k])
	}
	if err := p.Apply(t.Context(), suiteZone, cs); err != nil {
		t.Fatal(err)
	}
}

func TestPowerDNSProvider(t *testing.T) {
	t.Parallel()
	testProvider(t, func(t *testing.T) suiteTarget {
		p, bad, _ := startPowerDNSProvider(t, "pdns")
		seedZone(t, p)
		return suiteTarget{p: p, badAuth: bad, canCreate: true}
	})
}

func TestPlainDNSProviderKnot(t *testing.T) {
	t.Parallel()
	testProvider(t, func(t *testing.T) suiteTarget {
		k := labtest.StartKnot(t, labtest.KnotOptions{Zones: []labtest.BINDZone{{Name: suiteZone, Data: suiteZoneFile()}}})
		key := &dnssync.TSIGKey{Name: k.KeyName, Secret: k.KeySecret}
		bad := &dnssync.TSIGKey{Name: k.KeyName, Secret: labtest.NewTSIGSecret(t)}
		return suiteTarget{
			p:       dnssync.NewPlainDNS(dnssync.PlainDNSOptions{Name: "knot", Addr: k.Addr, Zones: []string{suiteZone}, Key: key}),
			badAuth: dnssync.NewPlainDNS(dnssync.PlainDNSOptions{Name: "knot", Addr: k.Addr, Zones: []string{suiteZone}, Key: bad}),
		}
	})
}
