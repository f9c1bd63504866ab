package backup

import (
	"fmt"
	"sort"
	"time"
)

// Policy is grandfather-father-son retention: the newest Last dumps, and
// the newest dump of each of the newest Daily days, Weekly ISO weeks and
// Monthly months that have dumps (UTC). All zero keeps everything.
type Policy struct {
	Last, Daily, Weekly, Monthly int
}

// Keeps reports whether p keeps anything less than everything.
func (p Policy) zero() bool { return p.Last == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0 }

// Kept is a dump the plan keeps, with every reason it is kept.
type Kept struct {
	DumpFile
	Reasons []string `json:"reasons"`
}

// Plan is what retention keeps and deletes in one database's directory.
type Plan struct {
	Keep   []Kept     `json:"keep"`
	Delete []DumpFile `json:"delete"`
}

// PlanRetention is pure: it decides from the dumps' times alone. The
// newest dump is always kept, whatever the policy.
func PlanRetention(dumps []DumpFile, p Policy) Plan {
	ds := append([]DumpFile(nil), dumps...)
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Time.After(ds[j].Time) }) // newest first
	reasons := make([][]string, len(ds))
	if p.zero() {
		for i := range ds {
			reasons[i] = []string{"no retention configured"}
		}
	} else {
		for i := 0; i < len(ds) && i < max(p.Last, 1); i++ {
			if i < p.Last {
				reasons[i] = append(reasons[i], fmt.Sprintf("last %d", p.Last))
			} else {
				reasons[i] = append(reasons[i], "newest")
			}
		}
		bucket := func(n int, label string, key func(time.Time) string) {
			seen := map[string]bool{}
			for i, d := range ds {
				if len(seen) == n {
					return
				}
				k := key(d.Time.UTC())
				if seen[k] {
					continue
				}
				seen[k] = true
				reasons[i] = append(reasons[i], label+" "+k)
			}
		}
		bucket(p.Daily, "daily", func(t time.Time) string { return t.Format("2006-01-02") })
		bucket(p.Weekly, "weekly", func(t time.Time) string {
			y, w := t.ISOWeek()
			return fmt.Sprintf("%04d-W%02d", y, w)
		})
		bucket(p.Monthly, "monthly", func(t time.Time) string { return t.Format("2006-01") })
	}
	var plan Plan
	for i := len(ds) - 1; i >= 0; i-- { // oldest first in the plan
		if len(reasons[i]) > 0 {
			plan.Keep = append(plan.Keep, Kept{DumpFile: ds[i], Reasons: reasons[i]})
		} else {
			plan.Delete = append(plan.Delete, ds[i])
		}
	}
	return plan
}
