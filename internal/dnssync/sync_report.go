package dnssync

import (
	"fmt"
	"io"
)

// WriteText prints the report for a person: each target's plan, record by
// record, then the outcome.
func (r *SyncReport) WriteText(w io.Writer) {
	mode := "dry run"
	if r.Apply {
		mode = "apply"
	}
	fmt.Fprintf(w, "dns sync from %s (%d zones), %s\n", r.Source, len(r.SourceZones), mode)
	for _, p := range r.Targets {
		fmt.Fprintf(w, "target %s:", p.Target)
		if p.Error != "" {
			fmt.Fprintf(w, " not read: %s\n", p.Error)
			continue
		}
		recs, zones := p.Drift()
		if recs == 0 && zones == 0 {
			fmt.Fprintln(w, " in sync")
		} else {
			fmt.Fprintf(w, " %d record(s), %d zone(s) to change\n", recs, zones)
		}
		for _, z := range p.Zones {
			if z.Action == ZoneInSync && len(z.Kept) == 0 {
				continue
			}
			fmt.Fprintf(w, "  zone %s: %s", z.Zone, z.Action)
			if z.Action != ZoneRemove {
				fmt.Fprintf(w, " (+%d ~%d -%d of %d)", len(z.Add), len(z.Change), len(z.Delete), z.Existing)
			} else {
				fmt.Fprintf(w, " (%d records)", z.Existing)
			}
			fmt.Fprintln(w)
			if z.Refused != "" {
				fmt.Fprintf(w, "    REFUSED: %s\n", z.Refused)
			}
			for _, a := range z.Add {
				fmt.Fprintf(w, "    + %s\n", a)
			}
			for _, c := range z.Change {
				fmt.Fprintf(w, "    ~ %s\n      -> %s\n", c.Old, c.New)
			}
			for _, d := range z.Delete {
				fmt.Fprintf(w, "    - %s\n", d)
			}
			for _, k := range z.Kept {
				fmt.Fprintf(w, "    = %s (owned by another writer: kept)\n", k)
			}
		}
	}
	for _, f := range r.Findings {
		if f.Kind == "drift" {
			continue
		}
		fmt.Fprintf(w, "%s %s: %s\n", f.Kind, f.Subject, f.Message)
	}
	switch {
	case r.Error != "":
		fmt.Fprintf(w, "result: %s: %s\n", r.Status, r.Error)
	case !r.Apply && r.Status != "ok":
		fmt.Fprintf(w, "result: %s: the targets differ from the source (labops dns sync --apply makes them equal)\n", r.Status)
	case r.Applied:
		fmt.Fprintf(w, "result: %s: applied and verified\n", r.Status)
	default:
		fmt.Fprintf(w, "result: %s\n", r.Status)
	}
}
