package dnssync_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/labops/labops/internal/dnssync"
)

func rec(s string) dnssync.Record { return must(dnssync.ParseRecord(s)) }

func recs(ss ...string) []dnssync.Record {
	out := []dnssync.Record{}
	for _, s := range ss {
		out = append(out, rec(s))
	}
	return out
}

const (
	soa1 = "ex.test. 300 IN SOA ns1.ex.test. h.ex.test. 1 3600 600 86400 300"
	soa2 = "ex.test. 300 IN SOA ns1.ex.test. h.ex.test. 2 3600 600 86400 300"
)

// bulk returns n A records a0..a(n-1).
func bulk(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("a%d.ex.test. 300 IN A 192.0.2.%d", i, i+1))
	}
	return out
}

func TestPlanSync(t *testing.T) {
	t.Parallel()
	type want struct {
		action  string
		add     []dnssync.Record
		change  []dnssync.RecordChange
		delete  []dnssync.Record
		kept    []dnssync.Record
		refused bool
		sets    []dnssync.RRsetChange
	}
	tests := []struct {
		name    string
		src     map[string][]dnssync.Record
		tgt     map[string][]dnssync.Record
		opts    dnssync.PlanOptions
		want    map[string]want
		refused bool
	}{
		{
			name: "in sync",
			src:  map[string][]dnssync.Record{"ex.test.": recs(soa1, "www.ex.test. 300 IN A 192.0.2.1")},
			tgt:  map[string][]dnssync.Record{"ex.test.": recs("www.ex.test. 300 IN A 192.0.2.1", soa1)},
			want: map[string]want{"ex.test.": {action: dnssync.ZoneInSync}},
		},
		{
			name: "add, change TTL, delete, serial",
			src: map[string][]dnssync.Record{"ex.test.": recs(soa2,
				"www.ex.test. 300 IN A 192.0.2.1", "www.ex.test. 300 IN A 192.0.2.2", "mx.ex.test. 60 IN TXT \"x\"")},
			tgt: map[string][]dnssync.Record{"ex.test.": recs(soa1,
				"www.ex.test. 300 IN A 192.0.2.1", "www.ex.test. 300 IN A 192.0.2.9", "mx.ex.test. 300 IN TXT \"x\"")},
			want: map[string]want{"ex.test.": {
				action: dnssync.ZoneUpdate,
				add:    recs("www.ex.test. 300 IN A 192.0.2.2"),
				change: []dnssync.RecordChange{
					{Old: rec("mx.ex.test. 300 IN TXT \"x\""), New: rec("mx.ex.test. 60 IN TXT \"x\"")},
					{Old: rec(soa1), New: rec(soa2)},
				},
				delete: recs("www.ex.test. 300 IN A 192.0.2.9"),
				sets: []dnssync.RRsetChange{
					{Name: "mx.ex.test.", Type: "TXT", Old: recs("mx.ex.test. 300 IN TXT \"x\""), New: recs("mx.ex.test. 60 IN TXT \"x\"")},
					{Name: "www.ex.test.", Type: "A", Old: recs("www.ex.test. 300 IN A 192.0.2.1", "www.ex.test. 300 IN A 192.0.2.9"),
						New: recs("www.ex.test. 300 IN A 192.0.2.1", "www.ex.test. 300 IN A 192.0.2.2")},
					{Name: "ex.test.", Type: "SOA", Old: recs(soa1), New: recs(soa2)},
				},
			}},
		},
		{
			name: "records owned by another writer are never deleted, and stay in their RRset",
			src:  map[string][]dnssync.Record{"ex.test.": recs(soa1, "h1.dhcp.ex.test. 300 IN A 192.0.2.1")},
			tgt: map[string][]dnssync.Record{"ex.test.": recs(soa1, "h1.dhcp.ex.test. 300 IN A 192.0.2.2",
				"h2.dhcp.ex.test. 300 IN A 192.0.2.3", "old.ex.test. 300 IN A 192.0.2.4")},
			opts: dnssync.PlanOptions{Owned: dnssync.Ownership{Names: []string{"*.DHCP.ex.test"}}},
			want: map[string]want{"ex.test.": {
				action: dnssync.ZoneUpdate,
				add:    recs("h1.dhcp.ex.test. 300 IN A 192.0.2.1"),
				delete: recs("old.ex.test. 300 IN A 192.0.2.4"),
				kept:   recs("h1.dhcp.ex.test. 300 IN A 192.0.2.2", "h2.dhcp.ex.test. 300 IN A 192.0.2.3"),
				sets: []dnssync.RRsetChange{
					{Name: "h1.dhcp.ex.test.", Type: "A", Old: recs("h1.dhcp.ex.test. 300 IN A 192.0.2.2"),
						New: recs("h1.dhcp.ex.test. 300 IN A 192.0.2.1", "h1.dhcp.ex.test. 300 IN A 192.0.2.2")},
					{Name: "old.ex.test.", Type: "A", Old: recs("old.ex.test. 300 IN A 192.0.2.4")},
				},
			}},
		},
		{
			name: "a zone owned elsewhere is neither pruned nor removed",
			src:  map[string][]dnssync.Record{"ex.test.": recs(soa1)},
			tgt: map[string][]dnssync.Record{"ex.test.": recs(soa1, "h.ex.test. 300 IN A 192.0.2.1"),
				"dyn.test.": recs("dyn.test. 300 IN SOA a. b. 1 2 3 4 5")},
			opts: dnssync.PlanOptions{PruneZones: true, Owned: dnssync.Ownership{Zones: []string{"ex.test.", "dyn.test."}}},
			want: map[string]want{"ex.test.": {action: dnssync.ZoneInSync, kept: recs("h.ex.test. 300 IN A 192.0.2.1")}},
		},
		{
			name: "a missing zone is created with every record",
			src:  map[string][]dnssync.Record{"ex.test.": recs(soa1, "www.ex.test. 300 IN A 192.0.2.1")},
			tgt:  map[string][]dnssync.Record{},
			want: map[string]want{"ex.test.": {
				action: dnssync.ZoneCreate,
				add:    recs("www.ex.test. 300 IN A 192.0.2.1"),
				sets:   []dnssync.RRsetChange{{Name: "www.ex.test.", Type: "A", New: recs("www.ex.test. 300 IN A 192.0.2.1")}},
			}},
		},
		{
			name: "zones only the target has stay without prune_zones",
			src:  map[string][]dnssync.Record{},
			tgt:  map[string][]dnssync.Record{"old.test.": recs("old.test. 300 IN SOA a. b. 1 2 3 4 5")},
			want: map[string]want{},
		},
		{
			name: "prune_zones removes a small zone",
			src:  map[string][]dnssync.Record{},
			tgt:  map[string][]dnssync.Record{"old.test.": recs("old.test. 300 IN SOA a. b. 1 2 3 4 5")},
			opts: dnssync.PlanOptions{PruneZones: true},
			want: map[string]want{"old.test.": {action: dnssync.ZoneRemove}},
		},
		{
			name:    "prune_zones refuses to remove a zone of 10 records",
			src:     map[string][]dnssync.Record{},
			tgt:     map[string][]dnssync.Record{"ex.test.": recs(append(bulk(10), soa1)...)},
			opts:    dnssync.PlanOptions{PruneZones: true},
			want:    map[string]want{"ex.test.": {action: dnssync.ZoneRemove, refused: true}},
			refused: true,
		},
		{
			name: "the brake: 4 of 10 records deleted",
			src:  map[string][]dnssync.Record{"ex.test.": recs(append(bulk(10)[:6], soa1)...)},
			tgt:  map[string][]dnssync.Record{"ex.test.": recs(append(bulk(10), soa1)...)},
			want: map[string]want{"ex.test.": {action: dnssync.ZoneUpdate, delete: recs(bulk(10)[6:]...), refused: true,
				sets: sets(bulk(10)[6:])}},
			refused: true,
		},
		{
			name: "the brake released by force",
			src:  map[string][]dnssync.Record{"ex.test.": recs(append(bulk(10)[:6], soa1)...)},
			tgt:  map[string][]dnssync.Record{"ex.test.": recs(append(bulk(10), soa1)...)},
			opts: dnssync.PlanOptions{Force: true},
			want: map[string]want{"ex.test.": {action: dnssync.ZoneUpdate, delete: recs(bulk(10)[6:]...), sets: sets(bulk(10)[6:])}},
		},
		{
			name: "the brake: 3 of 10 is within 30%",
			src:  map[string][]dnssync.Record{"ex.test.": recs(append(bulk(10)[:7], soa1)...)},
			tgt:  map[string][]dnssync.Record{"ex.test.": recs(append(bulk(10), soa1)...)},
			want: map[string]want{"ex.test.": {action: dnssync.ZoneUpdate, delete: recs(bulk(10)[7:]...), sets: sets(bulk(10)[7:])}},
		},
		{
			name: "the brake spares zones under the minimum, and additions",
			src:  map[string][]dnssync.Record{"ex.test.": recs(append(bulk(20)[10:], soa1)...)},
			tgt:  map[string][]dnssync.Record{"ex.test.": recs(append(bulk(9), soa1)...)},
			want: map[string]want{"ex.test.": {action: dnssync.ZoneUpdate, add: recs(bulk(20)[10:]...), delete: recs(bulk(9)...),
				sets: sortedSets(append(sets(bulk(9)), addSets(bulk(20)[10:])...))}},
		},
		{
			name: "DNSSEC records are each server's own",
			src:  map[string][]dnssync.Record{"ex.test.": recs(soa1, "ex.test. 300 IN NSEC a.ex.test. A RRSIG")},
			tgt:  map[string][]dnssync.Record{"ex.test.": recs(soa1, "ex.test. 300 IN NSEC b.ex.test. A RRSIG")},
			want: map[string]want{"ex.test.": {action: dnssync.ZoneInSync}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := dnssync.PlanSync("t", tt.src, tt.tgt, tt.opts)
			got := map[string]want{}
			for _, z := range p.Zones {
				got[z.Zone] = want{action: z.Action, add: z.Add, change: z.Change, delete: z.Delete, kept: z.Kept, refused: z.Refused != "", sets: z.Sets}
			}
			opts := []cmp.Option{cmp.AllowUnexported(want{}), cmpopts.EquateEmpty()}
			if diff := cmp.Diff(tt.want, got, opts...); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if p.Refused != tt.refused {
				t.Errorf("Refused = %v, want %v", p.Refused, tt.refused)
			}
		})
	}
}

// sets returns the RRset deletions of the given records, one set each.
func sets(ss []string) []dnssync.RRsetChange {
	var out []dnssync.RRsetChange
	for _, s := range ss {
		r := rec(s)
		out = append(out, dnssync.RRsetChange{Name: r.Name, Type: r.Type, Old: []dnssync.Record{r}})
	}
	return out
}

// addSets returns the RRset creations of the given records, one set each.
func addSets(ss []string) []dnssync.RRsetChange {
	var out []dnssync.RRsetChange
	for _, s := range ss {
		r := rec(s)
		out = append(out, dnssync.RRsetChange{Name: r.Name, Type: r.Type, New: []dnssync.Record{r}})
	}
	return out
}

func sortedSets(cs []dnssync.RRsetChange) []dnssync.RRsetChange {
	slices.SortFunc(cs, func(a, b dnssync.RRsetChange) int { return strings.Compare(a.Name+" "+a.Type, b.Name+" "+b.Type) })
	return cs
}
