package dispatch

import (
	"context"
	"log/slog"

	"github.com/labops/labops/internal/job"
)

// Kind is the dispatch job kind: a scheduled `dispatch run`.
func Kind() job.Kind {
	return job.Kind{
		Name:    "dispatch",
		Summary: "claim queued tracker issues atomically and hand them to the agent service",
		Metrics: kindMetrics(false),
		New: func(decode func(v any) error, deps job.Deps) (job.Job, error) {
			var spec Spec
			if err := decode(&spec); err != nil {
				return nil, err
			}
			d, err := spec.Dispatcher()
			if err != nil {
				return nil, err
			}
			m, err := NewMetrics(deps.Registerer, false)
			if err != nil {
				return nil, err
			}
			d.Now = deps.Now
			return job.Func(func(ctx context.Context, log *slog.Logger) job.Result {
				d.Logger = log
				rep := d.Run(ctx)
				m.ObserveRun(rep)
				return rep.Result()
			}), nil
		},
	}
}

// ReapKind is the dispatch-reap job kind: a scheduled `dispatch reap`.
func ReapKind() job.Kind {
	return job.Kind{
		Name:    "dispatch-reap",
		Summary: "block the agent's in-progress issues that show no progress, with a note",
		Metrics: kindMetrics(true),
		New: func(decode func(v any) error, deps job.Deps) (job.Job, error) {
			var spec Spec
			if err := decode(&spec); err != nil {
				return nil, err
			}
			r, err := spec.Reaper()
			if err != nil {
				return nil, err
			}
			m, err := NewMetrics(deps.Registerer, true)
			if err != nil {
				return nil, err
			}
			r.Now = deps.Now
			return job.Func(func(ctx context.Context, log *slog.Logger) job.Result {
				r.Logger = log
				rep := r.Run(ctx)
				m.ObserveReap(rep)
				return rep.Result()
			}), nil
		},
	}
}
