package docs_test

import (
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/kinds"
)

// TestKindMetricsAreWhatNewRegisters builds one job of each kind from
// docs/testdata/jobs.yaml through the kind's New, as labops run and serve
// do, on a recording registry, and checks that New registers exactly the
// metrics the kind's Metrics registers: the reference generated from
// Metrics is then the truth about what a job exposes.
func TestKindMetricsAreWhatNewRegisters(t *testing.T) {
	t.Parallel()
	f, err := config.Load("testdata/jobs.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	all := kinds.All()
	if err := f.Validate(all); err != nil {
		t.Fatalf("docs/testdata/jobs.yaml: %v", err)
	}
	covered := map[string]bool{}
	for i := range f.Jobs {
		j := &f.Jobs[i]
		k := all[j.Kind]
		covered[j.Kind] = true
		t.Run(j.Kind, func(t *testing.T) {
			rec := newRecorder()
			if _, err := j.Build(k, job.Deps{Name: j.Name, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: rec}); err != nil {
				t.Fatalf("building job %s: %v", j.Name, err)
			}
			got, err := rec.metrics()
			if err != nil {
				t.Fatal(err)
			}
			want, err := kindMetrics(k)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(names(want), names(got)); diff != "" {
				t.Errorf("kind %s: its New registers other metrics than its Metrics (-Metrics +New):\n%s", j.Kind, diff)
			}
		})
	}
	for name := range all {
		if !covered[name] {
			t.Errorf("kind %s has no job in docs/testdata/jobs.yaml: its Metrics is not compared with what its New registers (add one)", name)
		}
	}
}

func names(ms []metric) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	slices.Sort(out)
	return out
}
