package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/job"
)

func TestRoundTripAndPrune(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	var ids []int64
	for i := range 3 {
		id, err := s.Start(ctx, "probe", "schedule", start.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	res := job.Result{Status: job.StatusFailed, Duration: 1500 * time.Millisecond,
		Findings: []job.Finding{{Kind: "missing-layer", Subject: "a/b:1", Message: "gone"}},
		Counters: map[string]float64{"tags": 5}}
	if err := s.Finish(ctx, ids[2], res, "log line\n"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, ids[2])
	if err != nil {
		t.Fatal(err)
	}
	want := Run{ID: ids[2], Job: "probe", Trigger: "schedule", Started: start.Add(2 * time.Minute),
		Duration: res.Duration, Status: job.StatusFailed, Findings: res.Findings, Counters: res.Counters, Log: "log line\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	if err := s.Prune(ctx, 2); err != nil {
		t.Fatal(err)
	}
	recent, err := s.Recent(ctx, "probe", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 2 || recent[0].ID != ids[2] || recent[1].ID != ids[1] {
		t.Errorf("after prune to 2: %+v", recent)
	}
	if _, err := s.Get(ctx, ids[0]); err != ErrNotFound {
		t.Errorf("pruned run: err = %v, want ErrNotFound", err)
	}
	s.Close()

	// A run left running by a process that died reads as interrupted.
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Get(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != job.StatusIncomplete || r.Error == "" {
		t.Errorf("interrupted run = %s %q, want incomplete with a reason", r.Status, r.Error)
	}
}
