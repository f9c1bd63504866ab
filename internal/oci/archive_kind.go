package oci

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

// ArchiveSpec is the oci-archive job's section of the config: the settings
// of `labops oci archive`.
type ArchiveSpec struct {
	RegistrySpec `yaml:",inline"`
	// Image is repository:tag.
	Image string `yaml:"image" json:"image"`
	Dir   string `yaml:"dir" json:"dir"`
	// Keep is how many archives to keep (default 5).
	Keep *int `yaml:"keep" json:"keep"`
}

// archiveConfig is a validated spec.
type archiveConfig struct {
	spec      ArchiveSpec
	registry  Registry
	repo, tag string
	keep      int
}

// ParseImageName splits "repository:tag" (no registry host).
func ParseImageName(s string) (repo, tag string, err error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", fmt.Errorf("%q: want repository:tag", s)
	}
	repo, tag = s[:i], s[i+1:]
	if !ValidRepo(repo) {
		return "", "", fmt.Errorf("%q: %q is not a repository name", s, repo)
	}
	if !ValidTag(tag) {
		return "", "", fmt.Errorf("%q: %q is not a tag", s, tag)
	}
	return repo, tag, nil
}

func (s ArchiveSpec) validate() (archiveConfig, error) {
	var ps config.Problems
	ac := archiveConfig{spec: s, keep: DefaultArchiveKeep}
	ac.registry = s.validateRegistry(&ps)
	s.validateCredentials(&ps, "")
	if s.Image == "" {
		ps.Add("image", "required: repository:tag, e.g. ci/builder:main")
	} else if repo, tag, err := ParseImageName(s.Image); err != nil {
		ps.Add("image", "%v", err)
	} else {
		ac.repo, ac.tag = repo, tag
	}
	if s.Dir == "" {
		ps.Add("dir", "required: the directory the archives are kept in")
	}
	if s.Keep != nil {
		if *s.Keep < 1 {
			ps.Add("keep", "%d: keep at least 1 archive", *s.Keep)
		} else {
			ac.keep = *s.Keep
		}
	}
	return ac, ps.Err()
}

// ArchiveKind is the oci-archive job kind: a scheduled `oci archive`.
func ArchiveKind() job.Kind {
	return job.NewKind("oci-archive",
		"keep the last few images of a tag as verified, restorable OCI archive tarballs (break-glass copies)",
		NewArchiveJob).WithMetrics(job.MetricsOf(newArchiveMetrics))
}

// ArchiveJob is a configured oci-archive job.
type ArchiveJob struct {
	configured[archiveConfig, *archiveMetrics]
}

var _ job.Job = (*ArchiveJob)(nil)

// NewArchiveJob validates spec and registers the job's metrics.
func NewArchiveJob(spec ArchiveSpec, deps job.Deps) (*ArchiveJob, error) {
	c, err := configure(spec.validate, deps, newArchiveMetrics)
	if err != nil {
		return nil, err
	}
	return &ArchiveJob{c}, nil
}

// Run archives the image once. The password is read from its file now.
func (j *ArchiveJob) Run(ctx context.Context, log *slog.Logger) job.Result {
	start := j.deps.Now()
	s := j.cfg.spec
	fail := func(err error) job.Result {
		return job.Result{Status: job.StatusIncomplete, Error: err.Error(), Started: start, Duration: j.deps.Now().Sub(start)}
	}
	c, err := s.client(j.cfg.registry, Options{Logger: log})
	if err != nil {
		return fail(err)
	}
	res := Archive(ctx, c, j.cfg.repo, j.cfg.tag, ArchiveOptions{Dir: s.Dir, Keep: j.cfg.keep, Logger: log, Now: j.deps.Now})
	j.metrics.observe(res)
	log.Info("oci archive done", "image", res.Image, "status", res.Status, "digest", res.Digest,
		"archive", res.Name, "bytes", res.Size, "pruned", len(res.Pruned), "archives", res.Archives)
	return res.Result()
}

// archiveMetrics are vectors without labels: they gather nothing until
// the first good archive, and a failed run leaves them as they were (a
// pushed failure never turns "last good archive" into 0).
type archiveMetrics struct {
	lastSuccess, size, count *prometheus.GaugeVec
}

func newArchiveMetrics(reg prometheus.Registerer) (*archiveMetrics, error) {
	g := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, nil)
	}
	m := &archiveMetrics{
		lastSuccess: g("labops_oci_archive_last_success_timestamp_seconds", "Unix time at which the last good archive was finished: written, read back and verified."),
		size:        g("labops_oci_archive_size_bytes", "Size of the last verified archive file."),
		count:       g("labops_oci_archive_count", "Archives of the image kept in the directory after the last good run."),
	}
	if err := registerMetrics(reg, "oci-archive", &m.lastSuccess, &m.size, &m.count); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *archiveMetrics) observe(r *ArchiveResult) {
	if r.Status != job.StatusOK && r.Path == "" {
		return
	}
	if r.Path != "" {
		if st, err := os.Stat(r.Path); err == nil {
			m.lastSuccess.WithLabelValues().Set(float64(r.Started.Add(r.Duration).UnixNano()) / 1e9)
			m.size.WithLabelValues().Set(float64(st.Size()))
		}
	}
	m.count.WithLabelValues().Set(float64(r.Archives))
}
