package dnssync

import (
	"cmp"
	"slices"
)

func sortZones(zs []ZoneInfo) {
	slices.SortFunc(zs, func(a, b ZoneInfo) int { return cmp.Compare(a.Name, b.Name) })
}
