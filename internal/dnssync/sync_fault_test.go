package dnssync_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/dnssync"
	"github.com/labops/labops/internal/job"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func memZones() map[string][]dnssync.Record {
	return map[string][]dnssync.Record{
		"ex.test.": recs(soa2, "www.ex.test. 300 IN A 192.0.2.1", "mail.ex.test. 300 IN MX 10 mx.ex.test.",
			"pc1.dhcp.ex.test. 60 IN A 192.0.2.99"),
		"new.test.": recs("new.test. 300 IN SOA ns.new.test. h.new.test. 9 3600 600 86400 300", "new.test. 300 IN NS ns.new.test."),
	}
}

func TestSyncFaults(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	target := func(name string) *memProvider {
		return newMem(name, map[string][]dnssync.Record{"ex.test.": recs(soa1, "www.ex.test. 600 IN A 192.0.2.1", "old.ex.test. 300 IN A 192.0.2.7")})
	}
	t.Run("a target that cannot be read stops every change", func(t *testing.T) {
		a, b := target("a"), target("b")
		b.onRecords = func(string) error { return errors.New("HTTP 500") }
		rep := dnssync.Sync(ctx, dnssync.SyncOptions{Source: newMem("src", memZones()), Targets: []dnssync.Provider{a, b}, Apply: true})
		if rep.Status != job.StatusIncomplete || a.applied != 0 || rep.Failures != 1 {
			t.Errorf("status %s, a applied %d, failures %d; want incomplete, nothing applied, 1 failure", rep.Status, a.applied, rep.Failures)
		}
	})
	t.Run("the source failing is incomplete", func(t *testing.T) {
		src := newMem("src", memZones())
		src.onRecords = func(string) error { return errors.New("connection reset") }
		a := target("a")
		rep := dnssync.Sync(ctx, dnssync.SyncOptions{Source: src, Targets: []dnssync.Provider{a}, Apply: true})
		if rep.Status != job.StatusIncomplete || a.applied != 0 {
			t.Errorf("status %s, applied %d", rep.Status, a.applied)
		}
	})
	t.Run("a rejected change fails the run, the other target is still synced", func(t *testing.T) {
		a, b := target("a"), target("b")
		a.onApply = func(string) error { return errors.New("status error: access denied") }
		rep := dnssync.Sync(ctx, dnssync.SyncOptions{Source: newMem("src", memZones()), Targets: []dnssync.Provider{a, b}, Apply: true})
		if rep.Status != job.StatusFailed || b.applied == 0 || !strings.Contains(strings.Join(findingMessages(rep.Findings), "\n"), "access denied") {
			t.Errorf("status %s, b applied %d, findings %v", rep.Status, b.applied, rep.Findings)
		}
	})
	t.Run("an explicit zone the source lacks is an error", func(t *testing.T) {
		rep := dnssync.Sync(ctx, dnssync.SyncOptions{Source: newMem("src", memZones()), Targets: []dnssync.Provider{target("a")}, Zones: []string{"gone.test."}})
		if rep.Status != job.StatusIncomplete || !strings.Contains(rep.Error, "does not serve") {
			t.Errorf("status %s, error %q", rep.Status, rep.Error)
		}
	})
}

// TestSyncReportGolden pins the plan as people and machines read it.
func TestSyncReportGolden(t *testing.T) {
	t.Parallel()
	tgt := newMem("secondary", map[string][]dnssync.Record{
		"ex.test.":   recs(soa1, "www.ex.test. 600 IN A 192.0.2.1", "old.ex.test. 300 IN A 192.0.2.7", "pc2.dhcp.ex.test. 60 IN A 192.0.2.98"),
		"gone.test.": recs("gone.test. 300 IN SOA a. b. 1 2 3 4 5"),
	})
	rep := dnssync.Sync(t.Context(), dnssync.SyncOptions{Source: newMem("primary", memZones()), Targets: []dnssync.Provider{tgt},
		Plan: dnssync.PlanOptions{PruneZones: true, Owned: dnssync.Ownership{Names: []string{"*.dhcp.ex.test."}}}})
	var b strings.Builder
	rep.WriteText(&b)
	golden := filepath.Join("testdata", "sync_plan.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("sync report (-want +got):\n%s", diff)
	}
}
