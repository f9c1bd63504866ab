package oci

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

// ProbeSpec is the oci-probe job's own section of the config. Durations
// and the password stay raw strings here; Validate parses them.
type ProbeSpec struct {
	RegistrySpec  `yaml:",inline"`
	TrafficSpec   `yaml:",inline"`
	Repos         []string `yaml:"repos" json:"repos"`
	Depth         string   `yaml:"depth" json:"depth"`
	VerifyDigests bool     `yaml:"verify_digests" json:"verify_digests"`
}

// probeConfig is a validated spec.
type probeConfig struct {
	spec           ProbeSpec
	registry       Registry
	depth          Depth
	requestTimeout time.Duration
}

// Validate returns every problem in s, with paths relative to the spec.
func (s ProbeSpec) validate() (probeConfig, error) {
	var ps config.Problems
	pc := probeConfig{spec: s, depth: DepthBlobs}
	pc.registry = s.validateRegistry(&ps)
	for i, r := range s.Repos {
		if !ValidRepo(r) {
			ps.Add(fmt.Sprintf("repos[%d]", i), "%q is not a repository name", r)
		}
	}
	if d, err := ParseDepth(s.Depth); err != nil {
		ps.Add("depth", "%q is not a depth (valid: blobs, manifests)", s.Depth)
	} else {
		pc.depth = d
	}
	s.validateLimits(&ps)
	s.validateCredentials(&ps, "")
	pc.requestTimeout = s.validateTimeout(&ps)
	return pc, ps.Err()
}

// ProbeKind is the oci-probe job kind: a scheduled `oci check`.
func ProbeKind() job.Kind {
	return job.NewKind("oci-probe",
		"prove that every tag of every repository in a registry can be pulled whole",
		NewProbe).WithMetrics(job.MetricsOf(newProbeMetrics))
}

// Probe is a configured oci-probe job.
type Probe struct {
	configured[probeConfig, *probeMetrics]
}

var _ job.Job = (*Probe)(nil)

// NewProbe validates spec and registers the probe's metrics.
func NewProbe(spec ProbeSpec, deps job.Deps) (*Probe, error) {
	c, err := configure(spec.validate, deps, newProbeMetrics)
	if err != nil {
		return nil, err
	}
	return &Probe{c}, nil
}

// Run checks the registry once. The password is read from its file now,
// so that a rotated secret is picked up without a restart.
func (p *Probe) Run(ctx context.Context, log *slog.Logger) job.Result {
	start := p.deps.Now()
	s := p.cfg.spec
	c, err := s.client(p.cfg.registry, s.options(p.cfg.requestTimeout, log))
	if err != nil {
		return job.Result{Status: job.StatusIncomplete, Error: err.Error(), Started: start, Duration: p.deps.Now().Sub(start)}
	}
	rep := Check(ctx, c, CheckOptions{Repos: s.Repos, Depth: p.cfg.depth, VerifyDigests: s.VerifyDigests, Logger: log, Now: p.deps.Now})
	p.metrics.observe(rep)
	log.Info("oci check done", "registry", rep.Registry, "status", rep.Status, "tags", rep.Summary.Tags,
		"broken_images", rep.Summary.BrokenImages, "requests", rep.Summary.Requests)
	return rep.Result()
}

type probeMetrics struct {
	catalogUp, repos, tags, manifests, blobs, broken, requests, duration prometheus.Gauge
}

func newProbeMetrics(reg prometheus.Registerer) (*probeMetrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &probeMetrics{
		catalogUp: g("labops_oci_catalog_up", "Whether the registry answered the listing the last check started from (1) or not (0)."),
		repos:     g("labops_oci_repositories", "Repositories walked by the last check."),
		tags:      g("labops_oci_tags_checked", "Tags checked by the last check."),
		manifests: g("labops_oci_manifests_checked", "Distinct manifests checked by the last check."),
		blobs:     g("labops_oci_blobs_checked", "Distinct blobs checked by the last check."),
		broken:    g("labops_oci_broken_images", "Images found broken by the last check."),
		requests:  g("labops_oci_requests", "HTTP requests the last check made."),
		duration:  g("labops_oci_probe_duration_seconds", "How long the last check took."),
	}
	if err := registerMetrics(reg, "oci-probe", &m.catalogUp, &m.repos, &m.tags, &m.manifests, &m.blobs, &m.broken, &m.requests, &m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *probeMetrics) observe(r *Report) {
	up := 0.0
	if r.CatalogUp {
		up = 1
	}
	m.catalogUp.Set(up)
	m.repos.Set(float64(r.Summary.Repositories))
	m.tags.Set(float64(r.Summary.Tags))
	m.manifests.Set(float64(r.Summary.Manifests))
	m.blobs.Set(float64(r.Summary.Blobs))
	m.broken.Set(float64(r.Summary.BrokenImages))
	m.requests.Set(float64(r.Summary.Requests))
	m.duration.Set(r.Duration.Seconds())
}
