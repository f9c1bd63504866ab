package backup

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPlanRetention(t *testing.T) {
	t.Parallel()
	at := func(s string) DumpFile {
		tm, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return DumpFile{Path: s, Time: tm}
	}
	// Twice a day for 40 days from Friday 2026-01-02, morning and evening.
	var daily []DumpFile
	for d := 0; d < 40; d++ {
		day := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d).Format("2006-01-02")
		daily = append(daily, at(day+" 06:00"), at(day+" 18:00"))
	}
	tests := []struct {
		name   string
		dumps  []DumpFile
		policy Policy
		keep   []string
	}{
		{name: "nothing", policy: Policy{Last: 3}},
		{name: "no policy keeps all", dumps: daily[:3], keep: []string{"2026-01-02 06:00", "2026-01-02 18:00", "2026-01-03 06:00"}},
		{name: "last 2", dumps: daily[:5], policy: Policy{Last: 2}, keep: []string{"2026-01-03 18:00", "2026-01-04 06:00"}},
		{
			name: "daily keeps the newest of each day", dumps: daily[:6], policy: Policy{Daily: 2},
			keep: []string{"2026-01-03 18:00", "2026-01-04 18:00"},
		},
		{
			name: "newest is kept even by a daily-only policy of one", dumps: daily[:2], policy: Policy{Daily: 1},
			keep: []string{"2026-01-02 18:00"},
		},
		{
			// 2026-02-10 is the last day (a Tuesday, ISO week 7).
			name: "gfs", dumps: daily, policy: Policy{Last: 1, Daily: 3, Weekly: 3, Monthly: 3},
			keep: []string{
				"2026-01-31 18:00", // monthly 2026-01
				"2026-02-01 18:00", // weekly 2026-W05 (a Sunday)
				"2026-02-08 18:00", // weekly 2026-W06, daily
				"2026-02-09 18:00", // daily
				"2026-02-10 18:00", // last, daily, weekly W07, monthly 2026-02
			},
		},
		{
			name: "unsorted input", dumps: []DumpFile{at("2026-01-05 00:00"), at("2026-01-01 00:00"), at("2026-01-03 00:00")},
			policy: Policy{Last: 2}, keep: []string{"2026-01-03 00:00", "2026-01-05 00:00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := PlanRetention(tt.dumps, tt.policy)
			var keep []string
			for _, k := range p.Keep {
				keep = append(keep, k.Path)
				if len(k.Reasons) == 0 {
					t.Errorf("%s kept without a reason", k.Path)
				}
			}
			if diff := cmp.Diff(tt.keep, keep); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
			if len(p.Keep)+len(p.Delete) != len(tt.dumps) {
				t.Errorf("keep %d + delete %d != %d dumps", len(p.Keep), len(p.Delete), len(tt.dumps))
			}
		})
	}
}

func TestEscapeName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"app":              "app",
		"..":               "%2E.",
		".hidden":          "%2Ehidden",
		"a/b":              "a%2Fb",
		`we'ird db-"1" ;x`: "we%27ird%20db-%221%22%20%3Bx",
		"":                 "%",
		"caf\u00e9":        "caf%C3%A9",
		"v1.2":             "v1.2",
	} {
		if got := EscapeName(in); got != want {
			t.Errorf("EscapeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzEscapeName(f *testing.F) {
	for _, s := range []string{"app", "..", "a/b", "%", "", "we'ird"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := EscapeName(s)
		if e == "." || e == ".." || e == "" || e[0] == '.' {
			t.Fatalf("EscapeName(%q) = %q: not a safe path element", s, e)
		}
		for i := 0; i < len(e); i++ {
			if e[i] == '/' || e[i] == 0 {
				t.Fatalf("EscapeName(%q) = %q contains %q", s, e, e[i])
			}
		}
		back, err := UnescapeName(e)
		if err != nil || back != s {
			t.Fatalf("UnescapeName(EscapeName(%q)) = %q, %v", s, back, err)
		}
		UnescapeName(s) // must not panic on anything found on disk
	})
}
