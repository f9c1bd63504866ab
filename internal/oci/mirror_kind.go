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

// MirrorSpec is the oci-mirror job's section of the config: the settings
// of `labops oci mirror`. It is a dry run unless apply is true.
type MirrorSpec struct {
	// Source and Destination are the two sides; their registry is
	// host[:port][/prefix], optionally with http:// or https://.
	Source      RegistrySpec `yaml:"source" json:"source"`
	Destination RegistrySpec `yaml:"destination" json:"destination"`
	// Repos are patterns of repository names relative to the source's
	// prefix (default: all).
	Repos          []string `yaml:"repos" json:"repos"`
	Prune          bool     `yaml:"prune" json:"prune"`
	MaxDeleteShare *float64 `yaml:"max_delete_share" json:"max_delete_share"`
	Force          bool     `yaml:"force" json:"force"`
	Apply          bool     `yaml:"apply" json:"apply"`
	VerifyDigests  bool     `yaml:"verify_digests" json:"verify_digests"`
	TrafficSpec    `yaml:",inline"`
	PageSize       int `yaml:"page_size" json:"page_size"`
}

type mirrorConfig struct {
	spec           MirrorSpec
	src, dst       MirrorEndpoint
	maxShare       float64
	requestTimeout time.Duration
}

func validateEndpoint(ps *config.Problems, prefix string, s RegistrySpec) MirrorEndpoint {
	var e MirrorEndpoint
	if s.Registry == "" {
		ps.Add(prefix+"registry", "required (e.g. registry.example.org, http://127.0.0.1:5000 or git.example.org/owner)")
	} else if ep, err := ParseMirrorEndpoint(s.Registry, s.PlainHTTP); err != nil {
		ps.Add(prefix+"registry", "%v", err)
	} else {
		e = ep
	}
	s.validateCredentials(ps, prefix)
	if s.Username != "" && s.PasswordFile == "" {
		ps.Add(prefix+"password_file", "required with username")
	}
	return e
}

func (s MirrorSpec) validate() (mirrorConfig, error) {
	var ps config.Problems
	mc := mirrorConfig{spec: s, maxShare: DefaultMaxDeleteShare}
	mc.src = validateEndpoint(&ps, "source.", s.Source)
	mc.dst = validateEndpoint(&ps, "destination.", s.Destination)
	if mc.src.Registry.Host != "" && mc.src == mc.dst {
		ps.Add("destination.registry", "is the source")
	}
	for i, p := range s.Repos {
		if err := ValidPattern(p); err != nil {
			ps.Add(fmt.Sprintf("repos[%d]", i), "%v", err)
		}
	}
	if s.MaxDeleteShare != nil {
		if *s.MaxDeleteShare <= 0 || *s.MaxDeleteShare > 1 {
			ps.Add("max_delete_share", "%v is out of range (more than 0, at most 1)", *s.MaxDeleteShare)
		} else {
			mc.maxShare = *s.MaxDeleteShare
		}
		if !s.Prune {
			ps.Add("max_delete_share", "only with prune")
		}
	}
	if s.Force && !s.Prune {
		ps.Add("force", "only with prune")
	}
	s.validateLimits(&ps)
	if s.PageSize < 0 {
		ps.Add("page_size", "%d is negative", s.PageSize)
	}
	mc.requestTimeout = s.validateTimeout(&ps)
	return mc, ps.Err()
}

// MirrorKind is the oci-mirror job kind: a scheduled `oci mirror`.
func MirrorKind() job.Kind {
	return job.NewKind("oci-mirror",
		"copy repositories to another registry, verified at the destination (dry run unless apply: true)",
		NewMirrorJob).WithMetrics(job.MetricsOf(newMirrorMetrics))
}

// MirrorJob is a configured oci-mirror job.
type MirrorJob struct {
	configured[mirrorConfig, *mirrorMetrics]
}

var _ job.Job = (*MirrorJob)(nil)

// NewMirrorJob validates spec and registers the job's metrics.
func NewMirrorJob(spec MirrorSpec, deps job.Deps) (*MirrorJob, error) {
	c, err := configure(spec.validate, deps, newMirrorMetrics)
	if err != nil {
		return nil, err
	}
	return &MirrorJob{c}, nil
}

// endpointClient builds one side's client; the password is read now, so
// that a rotated one is picked up at the next run.
func (j *MirrorJob) endpointClient(s RegistrySpec, e MirrorEndpoint, log *slog.Logger) (*Client, error) {
	return s.client(e.Registry, j.cfg.spec.options(j.cfg.requestTimeout, log))
}

// Run plans and, with apply, copies, checks and prunes.
func (j *MirrorJob) Run(ctx context.Context, log *slog.Logger) job.Result {
	start := j.deps.Now()
	fail := func(side string, err error) job.Result {
		return job.Result{Status: job.StatusIncomplete, Error: side + ": " + err.Error(), Started: start, Duration: j.deps.Now().Sub(start)}
	}
	s := j.cfg.spec
	src, err := j.endpointClient(s.Source, j.cfg.src, log)
	if err != nil {
		return fail("source", err)
	}
	dst, err := j.endpointClient(s.Destination, j.cfg.dst, log)
	if err != nil {
		return fail("destination", err)
	}
	res := Mirror(ctx, src, dst, MirrorOptions{
		Source: j.cfg.src, Destination: j.cfg.dst,
		Repos: s.Repos, Apply: s.Apply,
		Prune: s.Prune, MaxDeleteShare: j.cfg.maxShare, Force: s.Force,
		Streams: s.Concurrency, PageSize: s.PageSize, VerifyDigests: s.VerifyDigests,
		Logger: log, Now: j.deps.Now,
	})
	j.metrics.observe(res)
	log.Info("oci mirror done", "status", res.Status, "applied", res.Applied,
		"tags_identical", res.Summary.TagsIdentical, "tags_to_copy", res.Summary.TagsToCopy,
		"tags_copied", res.Summary.TagsCopied, "tags_differing", res.Summary.TagsDiffering,
		"bytes_moved", res.Summary.BytesMoved)
	return res.Result()
}

type mirrorMetrics struct {
	copied, moved, differing prometheus.Gauge
}

func newMirrorMetrics(reg prometheus.Registerer) (*mirrorMetrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &mirrorMetrics{
		copied:    g("labops_oci_mirror_tags_copied", "Tags the last mirror run copied and verified at the destination (0 on a dry run)."),
		moved:     g("labops_oci_mirror_bytes_moved", "Blob bytes the last mirror run uploaded to the destination (mounted blobs move none)."),
		differing: g("labops_oci_mirror_tags_differing", "Source tags whose destination differs after the last mirror run: planned copies on a dry run, failures after applying."),
	}
	if err := registerMetrics(reg, "oci-mirror", &m.copied, &m.moved, &m.differing); err != nil {
		return nil, err
	}
	return m, nil
}

// observe sets the gauges from a run. A run that could not plan (nothing
// listed) leaves differing as it was: it does not know.
func (m *mirrorMetrics) observe(r *MirrorResult) {
	m.copied.Set(float64(r.Summary.TagsCopied))
	m.moved.Set(float64(r.Summary.BytesMoved))
	if r.Summary.Repositories > 0 || r.Status != job.StatusIncomplete {
		m.differing.Set(float64(r.Summary.TagsDiffering))
	}
}
