package dnssync_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/dnssync"
)

// suiteZone is the zone every provider starts the conformance suite with.
const suiteZone = "suite.test."

// suiteSeed is suiteZone's content besides its SOA.
var suiteSeed = []dnssync.Record{
	{Name: "suite.test.", Type: "NS", TTL: 300, Data: "ns1.suite.test."},
	{Name: "ns1.suite.test.", Type: "A", TTL: 300, Data: "127.0.0.1"},
	{Name: "www.suite.test.", Type: "A", TTL: 300, Data: "192.0.2.1"},
	{Name: "www.suite.test.", Type: "A", TTL: 300, Data: "192.0.2.2"},
	{Name: "txt.suite.test.", Type: "TXT", TTL: 300, Data: `"hello world"`},
	{Name: "suite.test.", Type: "MX", TTL: 300, Data: "10 mail.suite.test."},
	{Name: "app.suite.test.", Type: "TYPE65281", TTL: 300, Data: `\# 4 0a000001`},
}

var suiteSOA = dnssync.Record{Name: "suite.test.", Type: "SOA", TTL: 300, Data: "ns1.suite.test. hostmaster.suite.test. 2024010101 3600 600 86400 300"}

// suiteZoneFile is suiteZone as a zone file, for servers seeded from files.
func suiteZoneFile() string {
	s := suiteSOA.String() + "\n"
	for _, r := range suiteSeed {
		s += r.String() + "\n"
	}
	return s
}

// suiteTarget is one provider under test, its suiteZone seeded.
type suiteTarget struct {
	p dnssync.Provider
	// badAuth is the same server reached with wrong credentials.
	badAuth dnssync.Provider
	// canCreate says the provider creates and deletes zones.
	canCreate bool
}

// testProvider is the conformance suite every Provider passes.
func testProvider(t *testing.T, start func(t *testing.T) suiteTarget) {
	ctx := t.Context()
	st := start(t)
	p := st.p

	records := func(t *testing.T, zone string) []dnssync.Record {
		t.Helper()
		rs, err := p.Records(ctx, zone)
		if err != nil {
			t.Fatalf("Records(%s): %v", zone, err)
		}
		return rs
	}
	withoutSOA := func(rs []dnssync.Record) []dnssync.Record {
		return slices.DeleteFunc(slices.Clone(rs), func(r dnssync.Record) bool { return r.Type == "SOA" })
	}
	sorted := func(rs []dnssync.Record) []dnssync.Record {
		rs = slices.Clone(rs)
		dnssync.SortRecords(rs)
		return rs
	}

	t.Run("ping", func(t *testing.T) {
		if err := p.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("zones and records", func(t *testing.T) {
		zs, err := p.Zones(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(zs, func(z dnssync.ZoneInfo) bool { return z.Name == suiteZone })
		if i < 0 {
			t.Fatalf("Zones() = %v, want %s among them", zs, suiteZone)
		}
		rs := records(t, suiteZone)
		if diff := cmp.Diff(sorted(suiteSeed), withoutSOA(rs)); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
		serial, ok := dnssync.SOASerial(rs)
		if !ok || serial != 2024010101 {
			t.Errorf("SOA serial = %d, %v; want 2024010101", serial, ok)
		}
		if zs[i].HasSerial && zs[i].Serial != serial {
			t.Errorf("Zones() serial %d, SOA says %d", zs[i].Serial, serial)
		}
	})
	t.Run("apply", func(t *testing.T) {
		www := []dnssync.Record{
			{Name: "www.suite.test.", Type: "A", TTL: 600, Data: "192.0.2.1"},
			{Name: "www.suite.test.", Type: "A", TTL: 600, Data: "192.0.2.3"},
		}
		changes := []dnssync.RRsetChange{
			{Name: "new.suite.test.", Type: "AAAA", New: []dnssync.Record{{Name: "new.suite.test.", Type: "AAAA", TTL: 120, Data: "2001:db8::1"}}},
			{Name: "www.suite.test.", Type: "A", Old: suiteSeed[2:4], New: www},
			{Name: "txt.suite.test.", Type: "TXT", Old: suiteSeed[4:5], New: []dnssync.Record{{Name: "txt.suite.test.", Type: "TXT", TTL: 300, Data: `"changed" "twice"`}}},
			{Name: "suite.test.", Type: "MX", Old: suiteSeed[5:6]},
			{Name: "app.suite.test.", Type: "TYPE65281", Old: suiteSeed[6:7], New: []dnssync.Record{{Name: "app.suite.test.", Type: "TYPE65281", TTL: 300, Data: `\# 2 beef`}}},
		}
		if err := p.Apply(ctx, suiteZone, changes); err != nil {
			t.Fatal(err)
		}
		want := []dnssync.Record{suiteSeed[0], suiteSeed[1], www[0], www[1],
			{Name: "txt.suite.test.", Type: "TXT", TTL: 300, Data: `"changed" "twice"`},
			{Name: "new.suite.test.", Type: "AAAA", TTL: 120, Data: "2001:db8::1"},
			{Name: "app.suite.test.", Type: "TYPE65281", TTL: 300, Data: `\# 2 beef`},
		}
		if diff := cmp.Diff(sorted(want), withoutSOA(records(t, suiteZone))); diff != "" {
			t.Errorf("records after Apply (-want +got):\n%s", diff)
		}
	})
	t.Run("SOA serial", func(t *testing.T) {
		soa := suiteSOA
		soa.Data = "ns1.suite.test. hostmaster.suite.test. 2024010150 3600 600 86400 300"
		old := []dnssync.Record{}
		for _, r := range records(t, suiteZone) {
			if r.Type == "SOA" {
				old = append(old, r)
			}
		}
		if err := p.Apply(ctx, suiteZone, []dnssync.RRsetChange{{Name: suiteZone, Type: "SOA", Old: old, New: []dnssync.Record{soa}}}); err != nil {
			t.Fatal(err)
		}
		if serial, _ := dnssync.SOASerial(records(t, suiteZone)); serial != 2024010150 {
			t.Errorf("serial after Apply = %d, want 2024010150", serial)
		}
	})
	t.Run("missing zone", func(t *testing.T) {
		if _, err := p.Records(ctx, "missing.test."); err == nil {
			t.Error("Records of a missing zone: no error")
		}
		err := p.Apply(ctx, "missing.test.", []dnssync.RRsetChange{{Name: "a.missing.test.", Type: "A",
			New: []dnssync.Record{{Name: "a.missing.test.", Type: "A", TTL: 60, Data: "192.0.2.9"}}}})
		if err == nil {
			t.Error("Apply to a missing zone: no error")
		}
	})
	t.Run("create and delete zones", func(t *testing.T) {
		zone := "created.test."
		soa := dnssync.Record{Name: zone, Type: "SOA", TTL: 300, Data: "ns1.created.test. hostmaster.created.test. 7 3600 600 86400 300"}
		err := p.CreateZone(ctx, zone, soa)
		if !st.canCreate {
			if !errors.Is(err, dnssync.ErrUnsupported) {
				t.Errorf("CreateZone = %v, want ErrUnsupported", err)
			}
			if err := p.DeleteZone(ctx, suiteZone); !errors.Is(err, dnssync.ErrUnsupported) {
				t.Errorf("DeleteZone = %v, want ErrUnsupported", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := p.CreateZone(ctx, zone, soa); !errors.Is(err, dnssync.ErrZoneExists) {
			t.Errorf("CreateZone twice = %v, want ErrZoneExists", err)
		}
		if diff := cmp.Diff([]dnssync.Record{soa}, records(t, zone)); diff != "" {
			t.Errorf("a created zone's records (-want +got):\n%s", diff)
		}
		if err := p.DeleteZone(ctx, zone); err != nil {
			t.Fatal(err)
		}
		zs, err := p.Zones(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(zs, func(z dnssync.ZoneInfo) bool { return z.Name == zone }) {
			t.Errorf("Zones() after DeleteZone still lists %s", zone)
		}
	})
	t.Run("bad credentials", func(t *testing.T) {
		if st.badAuth == nil {
			t.Skip("provider has no credentials")
		}
		_, err := st.badAuth.Records(ctx, suiteZone)
		err2 := st.badAuth.Apply(ctx, suiteZone, []dnssync.RRsetChange{{Name: "x.suite.test.", Type: "A",
			New: []dnssync.Record{{Name: "x.suite.test.", Type: "A", TTL: 60, Data: "192.0.2.7"}}}})
		for _, e := range []error{err, err2} {
			if !errors.Is(e, dnssync.ErrAuth) {
				t.Errorf("with bad credentials: %v, want ErrAuth", e)
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return v
}
