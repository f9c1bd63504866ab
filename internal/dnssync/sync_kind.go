package dnssync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

// SyncSpec is the dns-sync job's section of the config.
type SyncSpec struct {
	Source  ServerSpec   `yaml:"source" json:"source"`
	Targets []ServerSpec `yaml:"targets" json:"targets"`
	// Zones limits the sync; empty means every zone of the source.
	Zones []string `yaml:"zones" json:"zones,omitempty"`
	// OwnedElsewhere are records another writer owns on the targets.
	OwnedElsewhere Ownership `yaml:"owned_elsewhere" json:"owned_elsewhere"`
	// MaxChangeShare and MinExistingRecords are the brake (0.3 and 10).
	MaxChangeShare     float64 `yaml:"max_change_share" json:"max_change_share,omitempty"`
	MinExistingRecords int     `yaml:"min_existing_records" json:"min_existing_records,omitempty"`
	// PruneZones removes zones only the target has (never with zones set).
	PruneZones bool `yaml:"prune_zones" json:"prune_zones,omitempty"`
	// Apply makes the scheduled job change the targets; without it the job
	// only checks, and drift fails it.
	Apply bool `yaml:"apply" json:"apply,omitempty"`
}

// Validate returns every problem, with paths relative to the spec.
func (s SyncSpec) Validate() error {
	var ps config.Problems
	names := map[string]bool{}
	check := func(path string, sv ServerSpec) {
		_, sp := sv.validate()
		if len(sp) > 0 {
			ps = append(ps, config.Prefixed(path, sp)...)
		}
		if sv.Name != "" && names[sv.Name] {
			ps.Add(path+".name", "%q is used twice", sv.Name)
		}
		names[sv.Name] = true
	}
	if s.Source.Type == "" && s.Source.Name == "" {
		ps.Add("source", "required")
	} else {
		check("source", s.Source)
	}
	if len(s.Targets) == 0 {
		ps.Add("targets", "required: at least one server to sync to")
	}
	for i, t := range s.Targets {
		check(fmt.Sprintf("targets[%d]", i), t)
	}
	for i, p := range s.OwnedElsewhere.Names {
		if err := ValidPattern(p); err != nil {
			ps.Add(fmt.Sprintf("owned_elsewhere.names[%d]", i), "%v", err)
		}
	}
	if s.MaxChangeShare < 0 || s.MaxChangeShare > 1 {
		ps.Add("max_change_share", "%v: valid is more than 0 and at most 1", s.MaxChangeShare)
	}
	if s.MinExistingRecords < 0 {
		ps.Add("min_existing_records", "%d is negative", s.MinExistingRecords)
	}
	if s.PruneZones && len(s.Zones) > 0 {
		ps.Add("prune_zones", "does not go with zones: an explicit zone list never removes other zones")
	}
	return ps.Err()
}

// Options builds the run's options, reading every secret now. force is
// the CLI's --force; apply is the spec's, or the CLI's --apply.
func (s SyncSpec) Options(apply, force bool) (SyncOptions, error) {
	if err := s.Validate(); err != nil {
		return SyncOptions{}, err
	}
	src, err := s.Source.Provider()
	if err != nil {
		return SyncOptions{}, err
	}
	o := SyncOptions{Source: src, Apply: apply, Plan: PlanOptions{
		MaxChangeShare: s.MaxChangeShare, MinExisting: s.MinExistingRecords, Force: force,
		PruneZones: s.PruneZones, Owned: canonicalOwnership(s.OwnedElsewhere)}}
	for _, t := range s.Targets {
		p, err := t.Provider()
		if err != nil {
			return SyncOptions{}, err
		}
		o.Targets = append(o.Targets, p)
	}
	for _, z := range s.Zones {
		o.Zones = append(o.Zones, CanonicalName(z))
	}
	return o, nil
}

func canonicalOwnership(o Ownership) Ownership {
	out := Ownership{}
	for _, n := range o.Names {
		out.Names = append(out.Names, CanonicalName(n))
	}
	for _, z := range o.Zones {
		out.Zones = append(out.Zones, CanonicalName(z))
	}
	return out
}

// SyncKind is the dns-sync job kind: a scheduled `dns sync`.
func SyncKind() job.Kind {
	return job.NewKind("dns-sync",
		"make secondary DNS servers hold the source's zones and records (check-only unless apply)",
		NewSyncJob).WithMetrics(job.MetricsOf(NewSyncMetrics))
}

// SyncJob is a configured dns-sync job.
type SyncJob struct {
	spec    SyncSpec
	deps    job.Deps
	metrics *SyncMetrics
}

var _ job.Job = (*SyncJob)(nil)

// NewSyncJob validates spec and registers the job's metrics.
func NewSyncJob(spec SyncSpec, deps job.Deps) (*SyncJob, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	m, err := NewSyncMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	return &SyncJob{spec: spec, deps: deps, metrics: m}, nil
}

// Run syncs once.
func (j *SyncJob) Run(ctx context.Context, log *slog.Logger) job.Result {
	start := j.deps.Now()
	o, err := j.spec.Options(j.spec.Apply, false)
	if err != nil {
		j.metrics.failures.Set(1)
		return job.Result{Status: job.StatusIncomplete, Error: err.Error(), Started: start, Duration: j.deps.Now().Sub(start)}
	}
	o.Logger, o.Now = log, j.deps.Now
	rep := Sync(ctx, o)
	j.metrics.Observe(rep)
	log.Info("dns sync done", "source", rep.Source, "status", rep.Status, "applied", rep.Applied, "failures", rep.Failures)
	return rep.Result()
}

// SyncMetrics are the gauges of the last sync run. Server labels are
// bounded by the config; zones are summed, never labels.
type SyncMetrics struct {
	zones, drift *prometheus.GaugeVec
	failures     prometheus.Gauge
	// lastSuccess has no labels and exports nothing until a run succeeds,
	// so a failed one-shot run pushes no 0 over the success time the
	// Pushgateway holds (which would fire LabopsDNSSyncStale at once).
	lastSuccess *prometheus.GaugeVec
}

// NewSyncMetrics registers the sync gauges with reg (nil: unregistered).
func NewSyncMetrics(reg prometheus.Registerer) (*SyncMetrics, error) {
	m := &SyncMetrics{
		zones: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_dns_zones",
			Help: "Zones each server serves (built-in zones aside), as the last run saw."}, []string{"server"}),
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_dns_drift_records",
			Help: "Records the last sync run found different on each target (before applying)."}, []string{"server"}),
		failures: prometheus.NewGauge(prometheus.GaugeOpts{Name: "labops_dns_sync_failures",
			Help: "Server errors in the last sync run."}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_dns_last_sync_timestamp_seconds",
			Help: "When a sync run last ended with every target equal to the source."}, nil),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.zones, m.drift, m.failures, m.lastSuccess} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("registering dns-sync metrics: %w", err)
			}
			switch existing := are.ExistingCollector.(type) {
			case *prometheus.GaugeVec:
				switch c {
				case m.zones:
					m.zones = existing
				case m.drift:
					m.drift = existing
				default:
					m.lastSuccess = existing
				}
			case prometheus.Gauge:
				m.failures = existing
			}
		}
	}
	return m, nil
}

// Observe records a run.
func (m *SyncMetrics) Observe(r *SyncReport) {
	m.zones.Reset()
	for s, n := range r.zoneCounts {
		m.zones.WithLabelValues(s).Set(float64(n))
	}
	m.drift.Reset()
	for _, p := range r.Targets {
		if p.Error == "" {
			n, _ := p.Drift()
			m.drift.WithLabelValues(p.Target).Set(float64(n))
		}
	}
	m.failures.Set(float64(r.Failures))
	if r.Status == job.StatusOK {
		m.lastSuccess.WithLabelValues().Set(float64(r.Started.Add(r.Duration).Unix()))
	}
}
