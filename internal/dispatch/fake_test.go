package dispatch_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/dispatch"
	"github.com/labops/labops/internal/job"
)

// memTracker is an in-memory tracker with beads' claim semantics (open and
// unassigned, or the same actor again); its function fields, when set,
// replace or precede a method, for faults.
type memTracker struct {
	mu       sync.Mutex
	issues   map[string]*dispatch.Issue
	comments map[string][]string
	now      func() time.Time

	onShow  func(id string) // runs before Show reads
	release func(id string) error
}

func newMemTracker(now func() time.Time) *memTracker {
	return &memTracker{issues: map[string]*dispatch.Issue{}, comments: map[string][]string{}, now: now}
}

func (m *memTracker) add(is dispatch.Issue) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if is.Status == "" {
		is.Status = dispatch.StatusOpen
	}
	if is.UpdatedAt.IsZero() {
		is.UpdatedAt = m.now()
	}
	m.issues[is.ID] = &is
}

func (m *memTracker) get(id string) dispatch.Issue {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.issues[id]
}

func (m *memTracker) commentsOf(id string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.comments[id])
}

func (m *memTracker) Ready(ctx context.Context) ([]dispatch.Issue, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []dispatch.Issue
	for _, is := range m.issues {
		if is.Status == dispatch.StatusOpen && is.Assignee == "" {
			out = append(out, *is)
		}
	}
	slices.SortFunc(out, func(a, b dispatch.Issue) int { return cmpString(a.ID, b.ID) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (m *memTracker) Show(ctx context.Context, id string) (dispatch.Issue, error) {
	if m.onShow != nil {
		m.onShow(id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	is, ok := m.issues[id]
	if !ok {
		return dispatch.Issue{}, fmt.Errorf("issue %s: %w", id, dispatch.ErrNotFound)
	}
	return *is, nil
}

func (m *memTracker) Claim(ctx context.Context, id, actor string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	is := m.issues[id]
	if is.Status == dispatch.StatusInProgress && is.Assignee == actor {
		return nil
	}
	if is.Status != dispatch.StatusOpen || (is.Assignee != "" && is.Assignee != actor) {
		return fmt.Errorf("claiming %s: %w", id, dispatch.ErrClaimConflict)
	}
	is.Status, is.Assignee, is.UpdatedAt = dispatch.StatusInProgress, actor, m.now()
	return nil
}

func (m *memTracker) Release(ctx context.Context, id string) error {
	if m.release != nil {
		if err := m.release(id); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	is := m.issues[id]
	is.Status, is.Assignee, is.UpdatedAt = dispatch.StatusOpen, "", m.now()
	return nil
}

func (m *memTracker) Block(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	is := m.issues[id]
	is.Status, is.UpdatedAt = dispatch.StatusBlocked, m.now()
	return nil
}

func (m *memTracker) Comment(ctx context.Context, id, text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.comments[id] = append(m.comments[id], text)
	return nil
}

func (m *memTracker) InProgressBefore(ctx context.Context, t time.Time) ([]dispatch.Issue, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []dispatch.Issue
	for _, is := range m.issues {
		if is.Status == dispatch.StatusInProgress && is.UpdatedAt.Before(t) {
			out = append(out, *is)
		}
	}
	return out, nil
}

var _ dispatch.Tracker = (*memTracker)(nil)

func jobDeps() job.Deps { return job.Deps{Registerer: prometheus.NewRegistry()} }
