package backup

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/job"
)

// Metrics are the per-database gauges. The database label is bounded by
// the config (the servers' databases after include/exclude).
type Metrics struct {
	LastSuccess *prometheus.GaugeVec
	Size        *prometheus.GaugeVec
	Duration    *prometheus.GaugeVec
	Verified    *prometheus.GaugeVec
}

var dbLabels = []string{"server", "database"}

// NewRunMetrics registers the backup kind's gauges with reg.
func NewRunMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_backup_last_success_timestamp_seconds",
			Help: "When the database's last dump was complete and checked against its checksum."}, dbLabels),
		Size: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_backup_size_bytes",
			Help: "Size of the database's newest dump."}, dbLabels),
		Duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_backup_duration_seconds",
			Help: "How long the database's newest dump took, checksum check included."}, dbLabels),
	}
	for _, c := range []prometheus.Collector{m.LastSuccess, m.Size, m.Duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// NewVerifyMetrics registers the backup-verify kind's gauge with reg.
func NewVerifyMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{Verified: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_backup_verified",
		Help: "1 if the database's newest dump restored and matched its manifest at the last verify, else 0."}, dbLabels)}
	if err := reg.Register(m.Verified); err != nil {
		return nil, err
	}
	return m, nil
}

// ObserveRun sets the gauges of every database dumped successfully; a
// failed database keeps its last success time, so alerts see its age.
func (m *Metrics) ObserveRun(rep RunReport) {
	for _, d := range rep.Databases {
		if d.Error != "" {
			continue
		}
		m.LastSuccess.WithLabelValues(d.Server, d.Database).Set(float64(d.Finished.Unix()))
		m.Size.WithLabelValues(d.Server, d.Database).Set(float64(d.Size))
		m.Duration.WithLabelValues(d.Server, d.Database).Set(d.Duration)
	}
}

// ObserveVerify sets verified to 0 or 1 per database.
func (m *Metrics) ObserveVerify(rep VerifyReport) {
	for _, d := range rep.Databases {
		v := 0.0
		if d.Verified {
			v = 1
		}
		m.Verified.WithLabelValues(d.Server, d.Database).Set(v)
	}
}

// RunJob is a scheduled `backup run`; it prunes when retention.prune is set.
type RunJob struct {
	spec      Spec
	deps      job.Deps
	metrics   *Metrics
	newDriver func(ServerSpec) (Driver, error) // nil: NewDriver; tests fake it
}

// VerifyJob is a scheduled `backup verify`.
type VerifyJob struct {
	spec      Spec
	deps      job.Deps
	metrics   *Metrics
	newDriver func(ServerSpec) (Driver, error)
}

var (
	_ job.Job = (*RunJob)(nil)
	_ job.Job = (*VerifyJob)(nil)
)

// Kind is the backup job kind.
func Kind() job.Kind {
	return job.NewCheckedKind("backup",
		"dump every database of PostgreSQL and MySQL/MariaDB servers, checksummed, kept by GFS retention",
		NewRunMetrics, func(spec Spec, m *Metrics, deps job.Deps) (*RunJob, error) {
			return &RunJob{spec: spec, deps: deps, metrics: m}, nil
		})
}

// VerifyKind is the backup-verify job kind.
func VerifyKind() job.Kind {
	return job.NewCheckedKind("backup-verify",
		"restore the newest dump of each database into a scratch database and compare its row counts",
		NewVerifyMetrics, func(spec Spec, m *Metrics, deps job.Deps) (*VerifyJob, error) {
			return &VerifyJob{spec: spec, deps: deps, metrics: m}, nil
		})
}

func (j *RunJob) Run(ctx context.Context, log *slog.Logger) job.Result {
	start := time.Now()
	rep := Run(ctx, Options{Spec: j.spec, Prune: j.spec.Retention.Prune, Logger: log, Now: j.deps.Now, NewDriver: j.newDriver})
	j.metrics.ObserveRun(rep)
	pruned := 0
	for _, d := range rep.Databases {
		pruned += len(d.Pruned)
	}
	return job.Result{Status: rep.Status, Findings: rep.Findings, Started: start, Duration: time.Since(start),
		Counters: map[string]float64{"databases": float64(len(rep.Databases)), "findings": float64(len(rep.Findings)), "pruned": float64(pruned)}}
}

func (j *VerifyJob) Run(ctx context.Context, log *slog.Logger) job.Result {
	start := time.Now()
	rep := Verify(ctx, Options{Spec: j.spec, Logger: log, Now: j.deps.Now, NewDriver: j.newDriver})
	j.metrics.ObserveVerify(rep)
	ok := 0
	for _, d := range rep.Databases {
		if d.Verified {
			ok++
		}
	}
	return job.Result{Status: rep.Status, Findings: rep.Findings, Started: start, Duration: time.Since(start),
		Counters: map[string]float64{"databases": float64(len(rep.Databases)), "verified": float64(ok)}}
}
