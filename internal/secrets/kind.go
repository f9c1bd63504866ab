package secrets

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/job"
)

// Kind is the secret-sync job kind: a scheduled `secrets sync`.
func Kind() job.Kind {
	return job.NewCheckedKind("secret-sync",
		"push a rotated credential into each consumer when it changed, then verify the consumer works with it",
		NewMetrics, func(spec Spec, m *Metrics, deps job.Deps) (job.Func, error) {
			sy, err := spec.Syncer(deps.Name)
			if err != nil {
				return nil, err
			}
			sy.Now = deps.Now
			return func(ctx context.Context, log *slog.Logger) job.Result {
				sy.Logger = log
				rep := sy.Run(ctx)
				m.Observe(rep, len(sy.Sinks))
				return rep.Result()
			}, nil
		})
}

// Metrics are the gauges of the last sync. They carry no job label: the
// runner's registerer (serve) or the Pushgateway group adds it.
type Metrics struct {
	Sinks, Pushed, Failures prometheus.Gauge
	// LastSuccess and RotatesAt are vectors without labels so that they
	// export nothing until set: a one-shot run that fails pushes no 0 over
	// the last success time the Pushgateway holds, and a source without a
	// ttl exports no rotation time.
	LastSuccess, RotatesAt *prometheus.GaugeVec
}

// NewMetrics registers the sync's gauges with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &Metrics{
		Sinks:    g("labops_secret_sync_sinks", "Consumers (sinks) the secret-sync job keeps in sync."),
		Pushed:   g("labops_secret_sync_pushed", "Sinks that got a new value in the last sync."),
		Failures: g("labops_secret_sync_failures", "Sinks whose push or verification failed in the last sync."),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_secret_sync_last_success_timestamp_seconds",
			Help: "When every sink last held the current credential and passed verification (Unix time)."}, nil),
		RotatesAt: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_secret_sync_rotation_timestamp_seconds",
			Help: "When the source said, at the last sync, that the credential next rotates (Unix time: the sync + the source's ttl); absent when the source has no ttl."}, nil),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.Sinks, m.Pushed, m.Failures, m.LastSuccess, m.RotatesAt} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering secret-sync metrics: %w", err)
		}
	}
	return m, nil
}

// Observe records a sync of configured sinks.
func (m *Metrics) Observe(r *Report, configured int) {
	m.Sinks.Set(float64(configured))
	m.Pushed.Set(float64(r.Pushed))
	m.Failures.Set(float64(r.Failed))
	if r.Failed == 0 && r.Error == "" {
		m.LastSuccess.WithLabelValues().Set(float64(r.At.UnixNano()) / 1e9)
	}
	if !r.RotatesAt.IsZero() {
		m.RotatesAt.WithLabelValues().Set(float64(r.RotatesAt.UnixNano()) / 1e9)
	}
}
