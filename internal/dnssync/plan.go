package dnssync

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Defaults of the change brake, octoDNS's: a plan may update or delete at
// most 30% of a zone's existing records, once the zone has 10 or more.
const (
	DefaultMaxChangeShare = 0.3
	DefaultMinExisting    = 10
)

// Ownership names the records another writer (DHCP registering hosts by
// dynamic update, say) owns on the targets: a sync never deletes them.
type Ownership struct {
	// Names are globs matched against whole owner names, lower-case and
	// absolute ("*.dhcp.example.org.", "host-*.example.org."); * matches
	// within one label as path.Match does, so "*.dhcp.example.org."
	// matches a.dhcp.example.org. but not a.b.dhcp.example.org.
	Names []string `json:"names,omitempty"`
	// Zones are zones whose records all belong to another writer: never
	// pruned, and the zone itself never removed.
	Zones []string `json:"zones,omitempty"`
}

// ownedName reports whether the record name in zone belongs to another writer.
func (o Ownership) owned(zone, name string) bool {
	if slices.Contains(o.Zones, zone) {
		return true
	}
	for _, p := range o.Names {
		if ok, _ := path.Match(CanonicalName(p), name); ok {
			return true
		}
	}
	return false
}

// ValidPattern checks a name glob.
func ValidPattern(p string) error {
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("%q is not a valid pattern: %w", p, err)
	}
	return nil
}

// PlanOptions are the brake and the ownership rules.
type PlanOptions struct {
	// MaxChangeShare is the largest share of a zone's existing records a
	// plan may change or delete (0: DefaultMaxChangeShare).
	MaxChangeShare float64 `json:"max_change_share"`
	// MinExisting is the size below which a zone is not braked (0:
	// DefaultMinExisting; -1: brake every zone).
	MinExisting int `json:"min_existing"`
	// Force releases the brake.
	Force bool `json:"force"`
	// PruneZones removes zones the target serves and the source does not.
	PruneZones bool      `json:"prune_zones"`
	Owned      Ownership `json:"owned_elsewhere"`
}

func (o PlanOptions) share() float64 {
	if o.MaxChangeShare <= 0 {
		return DefaultMaxChangeShare
	}
	return o.MaxChangeShare
}

func (o PlanOptions) minExisting() int {
	switch {
	case o.MinExisting < 0:
		return 0
	case o.MinExisting == 0:
		return DefaultMinExisting
	}
	return o.MinExisting
}

// Zone actions in a plan.
const (
	ZoneCreate = "create"
	ZoneRemove = "remove"
	ZoneUpdate = "update"
	ZoneInSync = "in-sync"
)

// RecordChange is a record whose TTL or (for the SOA) content changes.
type RecordChange struct {
	Old Record `json:"old"`
	New Record `json:"new"`
}

// ZonePlan is what a sync does to one zone of one target.
type ZonePlan struct {
	Zone   string         `json:"zone"`
	Action string         `json:"action"`
	Add    []Record       `json:"add"`
	Change []RecordChange `json:"change"`
	Delete []Record       `json:"delete"`
	// Kept are target records the source lacks that another writer owns.
	Kept []Record `json:"kept_owned_elsewhere,omitempty"`
	// Existing counts the target's records of the zone (SOA and DNSSEC
	// records aside), the brake's base.
	Existing int `json:"existing_records"`
	// Refused says why the brake stopped this zone.
	Refused string `json:"refused,omitempty"`
	// SOA is the source's SOA, which a created zone starts with.
	SOA *Record `json:"-"`
	// Sets are the RRset replacements that carry out Add, Change, Delete.
	Sets []RRsetChange `json:"-"`
}

// Drift counts the records this zone plan touches.
func (z ZonePlan) Drift() int { return len(z.Add) + len(z.Change) + len(z.Delete) }

// TargetPlan is the plan for one target server.
type TargetPlan struct {
	Target  string     `json:"target"`
	Zones   []ZonePlan `json:"zones"`
	Refused bool       `json:"refused"`
	// Error says why the target could not be planned (unreachable).
	Error string `json:"error,omitempty"`
}

// Drift counts the records the plan touches and the zones it creates or
// removes.
func (p TargetPlan) Drift() (records, zones int) {
	for _, z := range p.Zones {
		records += z.Drift()
		if z.Action == ZoneCreate || z.Action == ZoneRemove {
			zones++
		}
	}
	return records, zones
}

// Empty reports whether the target is already in sync.
func (p TargetPlan) Empty() bool {
	r, z := p.Drift()
	return r == 0 && z == 0
}

// PlanSync computes what makes a target hold the source's zones and
// records: a pure function of both sides' records and the options.
//
// source maps each zone in scope to its records on the source; target maps
// every zone the target serves to its records (nil records for zones that
// are out of scope and not read). SOA: the target gets the source's SOA
// (and so its serial) as a change. DNSSEC records are each server's own and
// never compared. A target record the source lacks is deleted unless
// another writer owns it. A zone the target lacks is created; a zone only
// the target has is removed when PruneZones is set and nobody else owns it.
// The brake refuses a zone whose plan changes or deletes more than
// MaxChangeShare of its existing records (zones smaller than MinExisting
// aside; removing a zone deletes all of them); any refusal refuses the
// whole plan unless Force.
func PlanSync(name string, source, target map[string][]Record, o PlanOptions) TargetPlan {
	tp := TargetPlan{Target: name, Zones: []ZonePlan{}}
	for zone, src := range source {
		tgt, has := target[zone]
		zp := planZone(zone, src, tgt, o)
		if !has {
			zp.Action = ZoneCreate
		}
		tp.Zones = append(tp.Zones, zp)
	}
	if o.PruneZones {
		for zone, tgt := range target {
			if _, ok := source[zone]; ok || slices.Contains(o.Owned.Zones, zone) {
				continue
			}
			zp := ZonePlan{Zone: zone, Action: ZoneRemove, Add: []Record{}, Change: []RecordChange{}, Delete: []Record{}}
			for _, r := range tgt {
				if syncable(r.Type) && r.Type != "SOA" {
					zp.Existing++
				}
			}
			if zp.Existing >= o.minExisting() && !o.Force {
				zp.Refused = fmt.Sprintf("removing the zone deletes its %d records; nothing is changed anywhere unless forced", zp.Existing)
			}
			tp.Zones = append(tp.Zones, zp)
		}
	}
	slices.SortFunc(tp.Zones, func(a, b ZonePlan) int { return cmp.Compare(a.Zone, b.Zone) })
	for _, z := range tp.Zones {
		if z.Refused != "" {
			tp.Refused = true
		}
	}
	return tp
}

func planZone(zone string, src, tgt []Record, o PlanOptions) ZonePlan {
	zp := ZonePlan{Zone: zone, Action: ZoneInSync, Add: []Record{}, Change: []RecordChange{}, Delete: []Record{}}
	byKey := func(rs []Record) (map[string]Record, *Record) {
		m := map[string]Record{}
		var soa *Record
		for _, r := range rs {
			switch {
			case !syncable(r.Type):
			case r.Type == "SOA":
				if CanonicalName(r.Name) == zone {
					r := r
					soa = &r
				}
			default:
				m[r.key()] = r
			}
		}
		return m, soa
	}
	sm, ssoa := byKey(src)
	tm, tsoa := byKey(tgt)
	zp.Existing = len(tm)
	zp.SOA = ssoa
	touched := map[string]bool{} // RRset keys
	for _, k := range sortedKeys(sm) {
		s := sm[k]
		t, ok := tm[k]
		switch {
		case !ok:
			zp.Add = append(zp.Add, s)
			touched[s.setKey()] = true
		case t.TTL != s.TTL:
			zp.Change = append(zp.Change, RecordChange{Old: t, New: s})
			touched[s.setKey()] = true
		}
	}
	for _, k := range sortedKeys(tm) {
		t := tm[k]
		if _, ok := sm[k]; ok {
			continue
		}
		if o.Owned.owned(zone, t.Name) {
			zp.Kept = append(zp.Kept, t)
			continue
		}
		zp.Delete = append(zp.Delete, t)
		touched[t.setKey()] = true
	}
	if ssoa != nil && tsoa != nil && (ssoa.Data != tsoa.Data || ssoa.TTL != tsoa.TTL) {
		zp.Change = append(zp.Change, RecordChange{Old: *tsoa, New: *ssoa})
	}
	// Each touched RRset becomes the source's records plus the kept ones.
	want := map[string][]Record{}
	have := map[string][]Record{}
	for _, k := range sortedKeys(sm) {
		want[sm[k].setKey()] = append(want[sm[k].setKey()], sm[k])
	}
	for _, r := range zp.Kept {
		want[r.setKey()] = append(want[r.setKey()], r)
	}
	for _, k := range sortedKeys(tm) {
		have[tm[k].setKey()] = append(have[tm[k].setKey()], tm[k])
	}
	for _, sk := range sortedKeys(touched) {
		name, typ, _ := strings.Cut(sk, " ")
		zp.Sets = append(zp.Sets, RRsetChange{Name: name, Type: typ, Old: have[sk], New: want[sk]})
	}
	if ssoa != nil && tsoa != nil && (ssoa.Data != tsoa.Data || ssoa.TTL != tsoa.TTL) {
		// Last, so that a server that bumps the serial on every update
		// ends on the source's.
		zp.Sets = append(zp.Sets, RRsetChange{Name: zone, Type: "SOA", Old: []Record{*tsoa}, New: []Record{*ssoa}})
	}
	if zp.Drift() > 0 {
		zp.Action = ZoneUpdate
	}
	if n := len(zp.Change) + len(zp.Delete); !o.Force && zp.Existing >= o.minExisting() && zp.Existing > 0 &&
		float64(n) > o.share()*float64(zp.Existing) {
		zp.Refused = fmt.Sprintf("would change or delete %d of %d records (%.0f%%), more than the limit of %.0f%%; nothing is changed anywhere unless forced",
			n, zp.Existing, 100*float64(n)/float64(zp.Existing), 100*o.share())
	}
	return zp
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
