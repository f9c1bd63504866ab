package dnssync_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
)

func syncOnce(t *testing.T, o dnssync.SyncOptions) *dnssync.SyncReport {
	t.Helper()
	rep := dnssync.Sync(t.Context(), o)
	var b strings.Builder
	rep.WriteText(&b)
	t.Logf("sync (apply=%v):\n%s", o.Apply, b.String())
	return rep
}

func TestSyncPowerDNSToPowerDNS(t *testing.T) {
	t.Parallel()
	src, _, _ := startPowerDNSProvider(t, "primary")
	seedZone(t, src)
	t1, _, _ := startPowerDNSProvider(t, "secondary")
	t2, _, _ := startPowerDNSProvider(t, "tertiary")
	o := dnssync.SyncOptions{Source: src, Targets: []dnssync.Provider{t1, t2},
		Plan: dnssync.PlanOptions{Owned: dnssync.Ownership{Names: []string{"*.dhcp.suite.test."}}}}

	// Check only: the targets lack the zone.
	rep := syncOnce(t, o)
	if rep.Status != job.StatusFailed || rep.Applied {
		t.Fatalf("check-only run with drift: status %s, applied %v; want failed, not applied", rep.Status, rep.Applied)
	}
	if got := rep.Targets[0].Zones[0].Action; got != dnssync.ZoneCreate {
		t.Errorf("plan for an empty target: %s, want create", got)
	}
	if zs, _ := t1.Zones(t.Context()); len(zs) != 0 {
		t.Fatalf("a dry run changed the target: %v", zs)
	}

	o.Apply = true
	if rep := syncOnce(t, o); rep.Status != job.StatusOK || !rep.Applied {
		t.Fatalf("apply: %s (%s), findings %v", rep.Status, rep.Error, rep.Findings)
	}
	o.Apply = false
	if rep := syncOnce(t, o); rep.Status != job.StatusOK {
		t.Fatalf("rerun after apply: %s, findings %v; want an empty plan", rep.Status, rep.Findings)
	}

	// Break a target: delete a record, add a stray and a DHCP host.
	ctx := t.Context()
	if err := t2.Apply(ctx, suiteZone, []dnssync.RRsetChange{
		{Name: "txt.suite.test.", Type: "TXT"},
		{Name: "stray.suite.test.", Type: "A", New: []dnssync.Record{rec("stray.suite.test. 60 IN A 192.0.2.50")}},
		{Name: "pc1.dhcp.suite.test.", Type: "A", New: []dnssync.Record{rec("pc1.dhcp.suite.test. 60 IN A 192.0.2.51")}},
	}); err != nil {
		t.Fatal(err)
	}
	rep = syncOnce(t, o)
	z := rep.Targets[1].Zones[0]
	if rep.Status != job.StatusFailed || len(z.Add) != 1 || len(z.Delete) != 1 || len(z.Kept) != 1 {
		t.Fatalf("after breaking tertiary: status %s, plan %+v; want 1 add, 1 delete, 1 kept", rep.Status, z)
	}
	if !rep.Targets[0].Empty() {
		t.Errorf("secondary, untouched, has a plan: %+v", rep.Targets[0])
	}
	o.Apply = true
	if rep := syncOnce(t, o); rep.Status != job.StatusOK {
		t.Fatalf("apply: %s (%s), findings %v", rep.Status, rep.Error, rep.Findings)
	}
	rs, err := t2.Records(ctx, suiteZone)
	if err != nil {
		t.Fatal(err)
	}
	var dhcp, stray bool
	for _, r := range rs {
		dhcp = dhcp || r.Name == "pc1.dhcp.suite.test."
		stray = stray || r.Name == "stray.suite.test."
	}
	if !dhcp || stray {
		t.Errorf("after apply: DHCP host kept %v (want true), stray record kept %v (want false)", dhcp, stray)
	}
}

func TestSyncBrake(t *testing.T) {
	t.Parallel()
	src, _, _ := startPowerDNSProvider(t, "primary")
	tgt, _, _ := startPowerDNSProvider(t, "secondary")
	seedZone(t, src)
	seedZone(t, tgt)
	// The target has 12 records the source lacks: deleting them is 12 of 18.
	var cs []dnssync.RRsetChange
	for _, s := range bulk(12) {
		r := rec(strings.Replace(s, "ex.test.", "suite.test.", 1))
		cs = append(cs, dnssync.RRsetChange{Name: r.Name, Type: r.Type, New: []dnssync.Record{r}})
	}
	if err := tgt.Apply(t.Context(), suiteZone, cs); err != nil {
		t.Fatal(err)
	}
	o := dnssync.SyncOptions{Source: src, Targets: []dnssync.Provider{tgt}, Apply: true}
	rep := syncOnce(t, o)
	if rep.Status != job.StatusFailed || !rep.Refused || rep.Applied {
		t.Fatalf("braked run: status %s, refused %v, applied %v; want failed, refused, not applied", rep.Status, rep.Refused, rep.Applied)
	}
	if rs, _ := tgt.Records(t.Context(), suiteZone); len(rs) < 18 {
		t.Fatalf("the brake let %d records go", 18-len(rs))
	}
	o.Plan.Force = true
	if rep := syncOnce(t, o); rep.Status != job.StatusOK {
		t.Fatalf("forced run: %s (%s)", rep.Status, rep.Error)
	}
}

func TestSyncBINDToPowerDNS(t *testing.T) {
	t.Parallel()
	b := labtest.StartBIND(t, labtest.BINDOptions{Zones: []labtest.BINDZone{{Name: suiteZone, Data: suiteZoneFile()}}})
	src := dnssync.NewPlainDNS(dnssync.PlainDNSOptions{Name: "bind", Addr: b.Addr, Zones: []string{suiteZone},
		Key: &dnssync.TSIGKey{Name: b.KeyName, Secret: b.KeySecret}})
	tgt, _, _ := startPowerDNSProvider(t, "pdns")
	o := dnssync.SyncOptions{Source: src, Targets: []dnssync.Provider{tgt}, Apply: true}
	if rep := syncOnce(t, o); rep.Status != job.StatusOK || !rep.Applied {
		t.Fatalf("apply: %s (%s), findings %v", rep.Status, rep.Error, rep.Findings)
	}
	o.Apply = false
	if rep := syncOnce(t, o); rep.Status != job.StatusOK {
		t.Fatalf("rerun: %s, findings %v; want an empty plan", rep.Status, rep.Findings)
	}
	// A plain DNS target cannot get a zone created: the run fails and says so.
	tgt2 := dnssync.NewPlainDNS(dnssync.PlainDNSOptions{Name: "bind-as-target", Addr: b.Addr, Zones: []string{suiteZone},
		Key: &dnssync.TSIGKey{Name: b.KeyName, Secret: b.KeySecret}})
	src2, _, _ := startPowerDNSProvider(t, "pdns2")
	if err := src2.CreateZone(t.Context(), "other.test.", rec("other.test. 300 IN SOA a. b. 1 2 3 4 5")); err != nil {
		t.Fatal(err)
	}
	rep := syncOnce(t, dnssync.SyncOptions{Source: src2, Targets: []dnssync.Provider{tgt2}, Apply: true})
	if rep.Status != job.StatusFailed || !strings.Contains(strings.Join(findingMessages(rep.Findings), "\n"), "not supported") {
		t.Errorf("creating a zone on plain DNS: %s, findings %v; want failed, saying not supported", rep.Status, rep.Findings)
	}
}

func TestSyncUnreachableTarget(t *testing.T) {
	t.Parallel()
	src, _, _ := startPowerDNSProvider(t, "primary")
	seedZone(t, src)
	tgt, _, s := startPowerDNSProvider(t, "secondary")
	s.Stop()
	rep := syncOnce(t, dnssync.SyncOptions{Source: src, Targets: []dnssync.Provider{tgt}, Apply: true})
	if rep.Status != job.StatusIncomplete || rep.Applied || rep.Failures != 1 {
		t.Errorf("unreachable target: status %s, applied %v, failures %d; want incomplete, not applied, 1", rep.Status, rep.Applied, rep.Failures)
	}
}

func findingMessages(fs []job.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind+" "+f.Subject+": "+f.Message)
	}
	return out
}

func nopLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestSyncKnot syncs PowerDNS into Knot over RFC 2136 (the serial too),
// and Knot back out to another PowerDNS.
func TestSyncKnot(t *testing.T) {
	t.Parallel()
	k := labtest.StartKnot(t, labtest.KnotOptions{Zones: []labtest.BINDZone{{Name: suiteZone,
		Data: "suite.test. 300 IN SOA ns1.suite.test. hostmaster.suite.test. 1 3600 600 86400 300\nsuite.test. 300 IN NS ns1.suite.test.\n"}}})
	knot := dnssync.NewPlainDNS(dnssync.PlainDNSOptions{Name: "knot", Addr: k.Addr, Zones: []string{suiteZone},
		Key: &dnssync.TSIGKey{Name: k.KeyName, Secret: k.KeySecret}})
	src, _, _ := startPowerDNSProvider(t, "pdns")
	seedZone(t, src)
	o := dnssync.SyncOptions{Source: src, Targets: []dnssync.Provider{knot}, Apply: true}
	if rep := syncOnce(t, o); rep.Status != job.StatusOK || !rep.Applied {
		t.Fatalf("PowerDNS to Knot: %s (%s), findings %v", rep.Status, rep.Error, rep.Findings)
	}
	o.Apply = false
	if rep := syncOnce(t, o); rep.Status != job.StatusOK {
		t.Fatalf("rerun: %s, findings %v; want an empty plan", rep.Status, rep.Findings)
	}
	back, _, _ := startPowerDNSProvider(t, "pdns-back")
	if rep := syncOnce(t, dnssync.SyncOptions{Source: knot, Targets: []dnssync.Provider{back}, Apply: true}); rep.Status != job.StatusOK {
		t.Fatalf("Knot to PowerDNS: %s (%s), findings %v", rep.Status, rep.Error, rep.Findings)
	}
}
