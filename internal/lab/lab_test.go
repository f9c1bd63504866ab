package lab

import (
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/oci"
)

// The lab must show exactly the broken images it promises, and nothing
// healthy as broken, or a newcomer's first look at labops is a lie.
func TestLabSeedsExactlyTheAdvertisedBreakage(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	l, err := Start(t.Context(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reg, err := oci.ParseRegistry(l.RegistryURL(), false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := oci.NewClient(reg, oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep := oci.Check(t.Context(), c, oci.CheckOptions{Repos: Repos, Logger: log})
	if rep.Status != job.StatusFailed {
		t.Fatalf("status = %s (%s), want failed", rep.Status, rep.Error)
	}
	var got []string
	kinds := map[string]string{}
	for _, b := range rep.Broken {
		got = append(got, b.Subject())
		for _, p := range b.Problems {
			kinds[b.Subject()] = p.Kind + "/" + p.State
		}
	}
	if diff := cmp.Diff(Broken, got); diff != "" {
		t.Errorf("broken images (-want +got):\n%s", diff)
	}
	want := map[string]string{"lab/ci:latest": "child-manifest/missing", "lab/web:1.0": "layer/missing"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("problem kinds (-want +got):\n%s", diff)
	}
	if rep.Summary.Repositories != 4 || rep.Summary.Tags != 5 {
		t.Errorf("walked %d repositories and %d tags, want 4 and 5", rep.Summary.Repositories, rep.Summary.Tags)
	}
	if err := l.Config().Validate(map[string]job.Kind{"oci-probe": oci.ProbeKind()}); err != nil {
		t.Errorf("lab config does not validate: %v", err)
	}
}
