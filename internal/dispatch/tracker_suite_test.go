package dispatch_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/labops/labops/internal/dispatch"
	"github.com/labops/labops/internal/labtest"
)

// testTracker is the Tracker contract, run against every implementation:
// the in-memory fake the unit tests rely on must behave as bd does.
func testTracker(t *testing.T, tr dispatch.Tracker, create func(title string) string) {
	ctx := t.Context()
	id := create("contract")
	ids := func() []string {
		is, err := tr.Ready(ctx)
		if err != nil {
			t.Fatalf("Ready: %v", err)
		}
		var out []string
		for _, i := range is {
			out = append(out, i.ID)
		}
		return out
	}
	if !slices.Contains(ids(), id) {
		t.Fatalf("Ready lacks the new queued issue %s", id)
	}
	if err := tr.Claim(ctx, id, "agent:a-slot-1"); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if got, err := tr.Show(ctx, id); err != nil || got.Status != dispatch.StatusInProgress || got.Assignee != "agent:a-slot-1" {
		t.Fatalf("after the claim: %+v, %v", got, err)
	}
	if err := tr.Claim(ctx, id, "agent:b-slot-1"); !errors.Is(err, dispatch.ErrClaimConflict) {
		t.Errorf("a second actor's claim: %v, want ErrClaimConflict", err)
	}
	if err := tr.Claim(ctx, id, "agent:a-slot-1"); err != nil {
		t.Errorf("the same actor again (beads: idempotent): %v", err)
	}
	if slices.Contains(ids(), id) {
		t.Error("Ready lists a claimed issue")
	}
	if err := tr.Release(ctx, id); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got, _ := tr.Show(ctx, id); got.Status != dispatch.StatusOpen || got.Assignee != "" {
		t.Errorf("after Release: %+v", got)
	}
	if !slices.Contains(ids(), id) {
		t.Error("a released issue is not back in Ready")
	}
	if err := tr.Comment(ctx, id, "a comment — with a dash"); err != nil {
		t.Errorf("Comment: %v", err)
	}
	if err := tr.Block(ctx, id); err != nil {
		t.Fatalf("Block: %v", err)
	}
	if got, _ := tr.Show(ctx, id); got.Status != dispatch.StatusBlocked {
		t.Errorf("after Block: %+v", got)
	}
	if err := tr.Claim(ctx, id, "agent:c-slot-1"); !errors.Is(err, dispatch.ErrClaimConflict) {
		t.Errorf("claiming a blocked issue: %v, want ErrClaimConflict", err)
	}
	if _, err := tr.Show(ctx, "t-nosuch"); !errors.Is(err, dispatch.ErrNotFound) {
		t.Errorf("Show of a missing issue: %v, want ErrNotFound", err)
	}
}

func TestTrackerContractMemory(t *testing.T) {
	t.Parallel()
	tr := newMemTracker(fixedNow)
	n := 0
	testTracker(t, tr, func(title string) string {
		n++
		id := fmt.Sprintf("t-%d", n)
		tr.add(dispatch.Issue{ID: id, Title: title})
		return id
	})
}

func TestTrackerContractBeads(t *testing.T) {
	t.Parallel()
	w := labtest.StartBdWorkspace(t)
	testTracker(t, beadsTracker(w), func(title string) string { return w.Create(title, "--labels", "agent") })
}
