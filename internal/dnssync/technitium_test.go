package dnssync_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/job"
)

func newTechnitium(t *testing.T, url, token string) *dnssync.Technitium {
	t.Helper()
	return must(dnssync.NewTechnitium(dnssync.TechnitiumOptions{Name: "technitium", URL: url, Token: token}))
}

func TestTechnitiumProvider(t *testing.T) {
	t.Parallel()
	testProvider(t, func(t *testing.T) suiteTarget {
		f, url := startFakeTechnitium(t)
		p := newTechnitium(t, url, f.token)
		seedZone(t, p)
		return suiteTarget{p: p, badAuth: newTechnitium(t, url, "wrong"), canCreate: true}
	})
}

func TestTechnitiumQuirks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f, url := startFakeTechnitium(t)
	p := newTechnitium(t, url, f.token)

	// The built-in zones are not zones to sync or compare.
	zs, err := p.Zones(ctx)
	if err != nil || len(zs) != 0 {
		t.Fatalf("Zones() on a fresh server = %v, %v; want none (the 5 internal zones left out)", zs, err)
	}
	// The old stats path is gone: Ping uses the dashboard one.
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if resp, err := http.Get(url + "/api/stats/get"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the fake serves the removed /api/stats/get: %s", resp.Status)
		}
	}
	// An error inside HTTP 200 is an error.
	f.fail["/api/zones/records/add"] = "Cannot add record: access denied."
	seedSOA := dnssync.Record{Name: "q.test.", Type: "SOA", TTL: 300, Data: "ns1.q.test. h.q.test. 1 2 3 4 5"}
	if err := p.CreateZone(ctx, "q.test.", seedSOA); err != nil {
		t.Fatal(err)
	}
	err = p.Apply(ctx, "q.test.", []dnssync.RRsetChange{{Name: "a.q.test.", Type: "A", New: []dnssync.Record{rec("a.q.test. 60 IN A 192.0.2.1")}}})
	if err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Errorf("an error in an HTTP 200 reply: %v, want it reported", err)
	}
	delete(f.fail, "/api/zones/records/add")
	// A zone's own problems surface.
	f.zoneFlags["q.test."] = map[string]bool{"syncFailed": true, "isExpired": true, "notifyFailed": true}
	zs, err = p.Zones(ctx)
	if err != nil || len(zs) != 1 || len(zs[0].Problems) != 3 {
		t.Errorf("Zones() with syncFailed, isExpired, notifyFailed: %+v, %v; want 3 problems", zs, err)
	}
	// A sync that only "succeeds" because errors hide in HTTP 200 fails.
	src, _, _ := startPowerDNSProvider(t, "pdns")
	seedZone(t, src)
	f.fail["/api/zones/records/add"] = "Cannot add record: disk full."
	rep := dnssync.Sync(ctx, dnssync.SyncOptions{Source: src, Targets: []dnssync.Provider{p}, Apply: true})
	if rep.Status != job.StatusFailed || !strings.Contains(strings.Join(findingMessages(rep.Findings), "\n"), "disk full") {
		t.Errorf("sync into a Technitium that fails each add: %s, findings %v; want failed, saying why", rep.Status, rep.Findings)
	}
	delete(f.fail, "/api/zones/records/add")
	rep = dnssync.Sync(ctx, dnssync.SyncOptions{Source: src, Targets: []dnssync.Provider{p}, Apply: true})
	if rep.Status != job.StatusOK {
		t.Fatalf("sync into Technitium: %s %s %v", rep.Status, rep.Error, rep.Findings)
	}
	// Technitium's own record types pass through a sync back out.
	back, _, _ := startPowerDNSProvider(t, "pdns-back")
	rep = dnssync.Sync(ctx, dnssync.SyncOptions{Source: p, Targets: []dnssync.Provider{back}, Apply: true, Zones: []string{suiteZone}})
	if rep.Status != job.StatusOK {
		t.Fatalf("sync from Technitium: %s %s %v", rep.Status, rep.Error, rep.Findings)
	}
	rs := must(back.Records(ctx, suiteZone))
	if !strings.Contains(recordsText(rs), `app.suite.test. 300 TYPE65281 \# 4 0a000001`) {
		t.Errorf("TYPE65281 did not pass through:\n%s", recordsText(rs))
	}
	// Creating an existing zone is ErrZoneExists, and invalid-token ErrAuth.
	if err := p.CreateZone(ctx, suiteZone, suiteSOA); !errors.Is(err, dnssync.ErrZoneExists) {
		t.Errorf("creating an existing zone: %v", err)
	}
	if _, err := newTechnitium(t, url, "expired").Zones(ctx); !errors.Is(err, dnssync.ErrAuth) {
		t.Errorf("invalid-token: %v, want ErrAuth", err)
	}
}

func recordsText(rs []dnssync.Record) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}
