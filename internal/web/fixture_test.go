package web

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/schedule"
	"github.com/labops/labops/internal/store"
)

// fakeScheduler and fakeHistory are the test doubles: function fields where
// a test needs to steer behaviour, fixed data otherwise.
type fakeScheduler struct {
	states  map[string]schedule.State
	trigger func(name string) error
}

func (f *fakeScheduler) State(name string) schedule.State { return f.states[name] }

func (f *fakeScheduler) Trigger(name string) error {
	if f.trigger == nil {
		return nil
	}
	return f.trigger(name)
}

type fakeHistory struct {
	runs []store.Run
	err  error // returned by every call when set
}

func (f *fakeHistory) Recent(_ context.Context, jobName string, limit int) ([]store.Run, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []store.Run
	for _, r := range f.runs {
		if r.Job == jobName {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b store.Run) int { return cmp.Compare(b.ID, a.ID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeHistory) Get(_ context.Context, id int64) (store.Run, error) {
	if f.err != nil {
		return store.Run{}, f.err
	}
	for _, r := range f.runs {
		if r.ID == id {
			return r, nil
		}
	}
	return store.Run{}, store.ErrNotFound
}

// fixedNow is the fixture's clock.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture returns options with three jobs: one whose last run found broken
// images, one running now after an incomplete run, one that never ran.
func fixture() (Options, *fakeScheduler, *fakeHistory) {
	sched := &fakeScheduler{states: map[string]schedule.State{
		"registry-probe": {Next: fixedNow.Add(45 * time.Second)},
		"dns-sync":       {Running: true, Next: fixedNow.Add(14 * time.Minute)},
	}}
	hist := &fakeHistory{runs: []store.Run{
		{ID: 1, Job: "registry-probe", Trigger: "schedule", Started: fixedNow.Add(-5 * time.Minute), Duration: 1234 * time.Millisecond,
			Status: job.StatusOK, Counters: map[string]float64{"tags": 12}},
		{ID: 2, Job: "dns-sync", Trigger: "schedule", Started: fixedNow.Add(-16 * time.Minute), Duration: 30 * time.Second,
			Status: job.StatusIncomplete, Error: "dial tcp 127.0.0.1:53: connect: connection refused"},
		{ID: 3, Job: "registry-probe", Trigger: "manual", Started: fixedNow.Add(-2 * time.Minute), Duration: 2461 * time.Millisecond,
			Status: job.StatusFailed,
			Findings: []job.Finding{
				{Kind: "missing-child-manifest", Subject: "lab/multiarch:broken", Message: "index child linux/arm64 sha256:1f2e… answers 404"},
				{Kind: "missing-layer", Subject: "lab/app:1.2", Message: "layer sha256:9a8b… answers 404 to a ranged GET"},
			},
			Counters: map[string]float64{"repositories": 4, "tags": 12, "blobs": 31.5},
			Log:      "level=INFO msg=\"walking catalog\" job=registry-probe run=3\nlevel=WARN msg=\"<broken> & missing\" repo=lab/app\n"},
		{ID: 4, Job: "dns-sync", Trigger: "schedule", Started: fixedNow.Add(-90 * time.Second), Status: "running"},
	}}
	return Options{
		Jobs: []JobView{
			{Name: "registry-probe", Kind: "oci-probe", Schedule: "* * * * *"},
			{Name: "dns-sync", Kind: "dns-sync", Schedule: "*/15 * * * *"},
			{Name: "backup", Kind: "backup"},
		},
		Scheduler: sched,
		History:   hist,
		Lab:       "An in-process OCI registry on 127.0.0.1:5001 seeded with healthy and broken images; registry-probe checks it every minute.",
		Version:   "v0.1.0-test",
		Now:       func() time.Time { return fixedNow },
	}, sched, hist
}
