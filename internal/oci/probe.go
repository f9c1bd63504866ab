package oci

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

// ProbeSpec is the oci-probe job's own section of the config. Durations
// and the password stay raw strings here; Validate parses them.
type ProbeSpec struct {
	Registry       string   `yaml:"registry" json:"registry"`
	PlainHTTP      bool     `yaml:"plain_http" json:"plain_http"`
	Repos          []string `yaml:"repos" json:"repos"`
	Depth          string   `yaml:"depth" json:"depth"`
	VerifyDigests  bool     `yaml:"verify_digests" json:"verify_digests"`
	Concurrency    int      `yaml:"concurrency" json:"concurrency"`
	Rate           float64  `yaml:"rate" json:"rate"`
	Username       string   `yaml:"username" json:"username"`
	PasswordFile   string   `yaml:"password_file" json:"password_file"`
	CAFile         string   `yaml:"ca_file" json:"ca_file"`
	RequestTimeout string   `yaml:"request_timeout" json:"request_timeout"`
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
	pc := probeConfig{spec: s, depth: DepthBlobs, requestTimeout: DefaultRequestTimeout}
	if s.Registry == "" {
		ps.Add("registry", "required (e.g. registry.example.org or http://127.0.0.1:5000)")
	} else if reg, err := ParseRegistry(s.Registry, s.PlainHTTP); err != nil {
		ps.Add("registry", "%v", err)
	} else {
		pc.registry = reg
	}
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
	if s.Concurrency < 0 || s.Concurrency > 64 {
		ps.Add("concurrency", "%d is out of range (1 to 64; more than %d gains nothing)", s.Concurrency, MaxUsefulConcurrency)
	}
	if s.Rate < 0 {
		ps.Add("rate", "%v is negative (requests per second; 0 means unlimited)", s.Rate)
	}
	if s.PasswordFile != "" && s.Username == "" {
		ps.Add("username", "required with password_file")
	}
	if s.RequestTimeout != "" {
		d, err := time.ParseDuration(s.RequestTimeout)
		if err != nil || d <= 0 {
			ps.Add("request_timeout", "%q is not a positive duration (e.g. 30s)", s.RequestTimeout)
		} else {
			pc.requestTimeout = d
		}
	}
	return pc, ps.Err()
}

// ProbeKind is the oci-probe job kind: a scheduled `oci check`.
func ProbeKind() job.Kind {
	return job.Kind{
		Name:    "oci-probe",
		Summary: "prove that every tag of every repository in a registry can be pulled whole",
		New: func(decode func(v any) error, deps job.Deps) (job.Job, error) {
			var spec ProbeSpec
			if err := decode(&spec); err != nil {
				return nil, err
			}
			return NewProbe(spec, deps)
		},
	}
}

// Probe is a configured oci-probe job.
type Probe struct {
	cfg     probeConfig
	deps    job.Deps
	metrics *probeMetrics
}

var _ job.Job = (*Probe)(nil)

// NewProbe validates spec and registers the probe's metrics.
func NewProbe(spec ProbeSpec, deps job.Deps) (*Probe, error) {
	cfg, err := spec.validate()
	if err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newProbeMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	return &Probe{cfg: cfg, deps: deps, metrics: m}, nil
}

// Run checks the registry once. The password is read from its file now,
// so that a rotated secret is picked up without a restart.
func (p *Probe) Run(ctx context.Context, log *slog.Logger) job.Result {
	start := p.deps.Now()
	s := p.cfg.spec
	creds := Credentials{Username: s.Username}
	if s.PasswordFile != "" {
		pw, err := ReadPasswordFile(s.PasswordFile)
		if err != nil {
			return job.Result{Status: job.StatusIncomplete, Error: err.Error(), Started: start, Duration: p.deps.Now().Sub(start)}
		}
		creds.Password = pw
	}
	c, err := NewClient(p.cfg.registry, Options{
		Concurrency:    s.Concurrency,
		Rate:           s.Rate,
		RequestTimeout: p.cfg.requestTimeout,
		Credentials:    creds,
		CAFile:         s.CAFile,
		Logger:         log,
	})
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
	if reg == nil {
		return m, nil
	}
	for _, c := range []*prometheus.Gauge{&m.catalogUp, &m.repos, &m.tags, &m.manifests, &m.blobs, &m.broken, &m.requests, &m.duration} {
		if err := reg.Register(*c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("registering oci-probe metrics: %w", err)
			}
			existing, ok := are.ExistingCollector.(prometheus.Gauge)
			if !ok {
				return nil, fmt.Errorf("registering oci-probe metrics: %w", err)
			}
			*c = existing
		}
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
