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

// RetentionSpec is the oci-retention job's section of the config: the
// settings of `labops oci retain`. It is a dry run unless apply is true.
type RetentionSpec struct {
	// The registry API (registry:2 and compatible) ... (its ca_file is
	// used with forgejo too)
	RegistrySpec `yaml:",inline"`
	// ... or the Forgejo/Gitea packages API of one owner.
	Forgejo   string `yaml:"forgejo" json:"forgejo"`
	Owner     string `yaml:"owner" json:"owner"`
	TokenFile string `yaml:"token_file" json:"token_file"`

	TrafficSpec `yaml:",inline"`
	PageSize    int `yaml:"page_size" json:"page_size"`

	// Repos are the repository patterns to look at (default: all).
	Repos []string `yaml:"repos" json:"repos"`
	// The default rule.
	Keep            *int     `yaml:"keep" json:"keep"`
	KeepTags        []string `yaml:"keep_tags" json:"keep_tags"`
	KeepYoungerThan string   `yaml:"keep_younger_than" json:"keep_younger_than"`
	// Rules for repository patterns, first match wins, before the default.
	Rules []RetentionRuleSpec `yaml:"rules" json:"rules"`

	MaxDeleteShare *float64 `yaml:"max_delete_share" json:"max_delete_share"`
	Force          bool     `yaml:"force" json:"force"`
	Apply          bool     `yaml:"apply" json:"apply"`
	// Depth and VerifyDigests configure the re-check of the kept tags.
	Depth         string `yaml:"depth" json:"depth"`
	VerifyDigests bool   `yaml:"verify_digests" json:"verify_digests"`
}

// RetentionRuleSpec is one rule of the spec.
type RetentionRuleSpec struct {
	Repos           []string `yaml:"repos" json:"repos"`
	Keep            *int     `yaml:"keep" json:"keep"`
	KeepTags        []string `yaml:"keep_tags" json:"keep_tags"`
	KeepYoungerThan string   `yaml:"keep_younger_than" json:"keep_younger_than"`
}

// retentionConfig is a validated spec.
type retentionConfig struct {
	spec           RetentionSpec
	registry       Registry
	policy         RetentionPolicy
	depth          Depth
	requestTimeout time.Duration
}

func validateRule(ps *config.Problems, prefix string, keep *int, keepTags []string, age string) RetentionRule {
	var r RetentionRule
	switch {
	case keep == nil:
		ps.Add(prefix+"keep", "required: how many of the newest tags to keep")
	case *keep < 0:
		ps.Add(prefix+"keep", "%d is negative", *keep)
	default:
		r.Keep = *keep
	}
	if keepTags != nil {
		r.KeepTags = []string{}
	}
	for i, p := range keepTags {
		if err := ValidPattern(p); err != nil {
			ps.Add(fmt.Sprintf("%skeep_tags[%d]", prefix, i), "%v", err)
			continue
		}
		r.KeepTags = append(r.KeepTags, p)
	}
	if age != "" {
		d, err := ParseAge(age)
		if err != nil {
			ps.Add(prefix+"keep_younger_than", "%v", err)
		}
		r.KeepYoungerThan = d
	}
	return r
}

// validate returns every problem in s, with paths relative to the spec.
func (s RetentionSpec) validate() (retentionConfig, error) {
	var ps config.Problems
	rc := retentionConfig{spec: s, depth: DepthBlobs}
	switch {
	case s.Registry == "" && s.Forgejo == "":
		ps.Add("registry", "required, or forgejo (e.g. registry.example.org or http://127.0.0.1:5000)")
	case s.Registry != "" && s.Forgejo != "":
		ps.Add("forgejo", "give registry or forgejo, not both")
	case s.Registry != "":
		rc.registry = s.validateRegistry(&ps)
		if s.Owner != "" {
			ps.Add("owner", "only with forgejo")
		}
		if s.TokenFile != "" {
			ps.Add("token_file", "only with forgejo")
		}
		s.validateCredentials(&ps, "")
	default:
		if s.Owner == "" {
			ps.Add("owner", "required with forgejo: the user or organization whose packages to clean")
		}
		if s.TokenFile == "" {
			ps.Add("token_file", "required with forgejo: a file holding an access token with package read and write scopes")
		}
		if s.Username != "" || s.PasswordFile != "" {
			ps.Add("username", "not with forgejo: the token is the credential")
		}
	}
	for i, p := range s.Repos {
		if err := ValidPattern(p); err != nil {
			ps.Add(fmt.Sprintf("repos[%d]", i), "%v", err)
		}
	}
	rc.policy.Default = validateRule(&ps, "", s.Keep, s.KeepTags, s.KeepYoungerThan)
	for i, r := range s.Rules {
		prefix := fmt.Sprintf("rules[%d].", i)
		if len(r.Repos) == 0 {
			ps.Add(prefix+"repos", "required: the repository patterns the rule is for")
		}
		for j, p := range r.Repos {
			if err := ValidPattern(p); err != nil {
				ps.Add(fmt.Sprintf("%srepos[%d]", prefix, j), "%v", err)
			}
		}
		rule := validateRule(&ps, prefix, r.Keep, r.KeepTags, r.KeepYoungerThan)
		rule.Repos = r.Repos
		rc.policy.Rules = append(rc.policy.Rules, rule)
	}
	rc.policy.MaxDeleteShare = DefaultMaxDeleteShare
	if s.MaxDeleteShare != nil {
		if *s.MaxDeleteShare <= 0 || *s.MaxDeleteShare > 1 {
			ps.Add("max_delete_share", "%v is out of range (more than 0, at most 1)", *s.MaxDeleteShare)
		} else {
			rc.policy.MaxDeleteShare = *s.MaxDeleteShare
		}
	}
	rc.policy.Force = s.Force
	if d, err := ParseDepth(s.Depth); err != nil {
		ps.Add("depth", "%q is not a depth (valid: blobs, manifests)", s.Depth)
	} else {
		rc.depth = d
	}
	if rc.depth == DepthManifests && s.VerifyDigests {
		ps.Add("verify_digests", "needs depth blobs")
	}
	s.validateLimits(&ps)
	if s.PageSize < 0 {
		ps.Add("page_size", "%d is negative", s.PageSize)
	}
	rc.requestTimeout = s.validateTimeout(&ps)
	return rc, ps.Err()
}

// RetentionKind is the oci-retention job kind: a scheduled `oci retain`.
func RetentionKind() job.Kind {
	return job.NewKind("oci-retention",
		"delete old tags by a keep policy without ever breaking a kept image (dry run unless apply: true)",
		NewRetention).WithMetrics(job.MetricsOf(newRetentionMetrics))
}

// Retention is a configured oci-retention job.
type Retention struct {
	configured[retentionConfig, *retentionMetrics]
}

var _ job.Job = (*Retention)(nil)

// NewRetention validates spec and registers the job's metrics.
func NewRetention(spec RetentionSpec, deps job.Deps) (*Retention, error) {
	c, err := configure(spec.validate, deps, newRetentionMetrics)
	if err != nil {
		return nil, err
	}
	return &Retention{c}, nil
}

// Run plans once and, with apply, deletes and re-checks. Secrets are read
// from their files now, so that a rotated one is picked up.
func (r *Retention) Run(ctx context.Context, log *slog.Logger) job.Result {
	start := r.deps.Now()
	s := r.cfg.spec
	fail := func(err error) job.Result {
		return job.Result{Status: job.StatusIncomplete, Error: err.Error(), Started: start, Duration: r.deps.Now().Sub(start)}
	}
	opts := s.options(r.cfg.requestTimeout, log)
	opts.CAFile = s.CAFile
	var (
		b   RetentionBackend
		c   *Client
		err error
	)
	if s.Forgejo != "" {
		token, err := ReadPasswordFile(s.TokenFile)
		if err != nil {
			return fail(fmt.Errorf("token_file: %w", err))
		}
		gb, err := NewGiteaBackend(s.Forgejo, s.Owner, token, opts)
		if err != nil {
			return fail(err)
		}
		opts.Credentials = gb.RegistryCredentials()
		if c, err = NewClient(gb.Registry(), opts); err != nil {
			return fail(err)
		}
		b = gb
	} else {
		if c, err = s.client(r.cfg.registry, opts); err != nil {
			return fail(err)
		}
		b = NewRegistryBackend(c, s.PageSize)
	}
	res := Retain(ctx, b, c, RetentionOptions{
		Policy: r.cfg.policy,
		Repos:  s.Repos,
		Apply:  s.Apply,
		Check:  CheckOptions{Depth: r.cfg.depth, VerifyDigests: s.VerifyDigests, PageSize: s.PageSize},
		Logger: log,
		Now:    r.deps.Now,
	})
	r.metrics.observe(res)
	attrs := []any{"backend", b.Name(), "status", res.Status, "applied", res.Applied, "deleted_tags", res.DeletedTags, "deleted_untagged", res.DeletedUntagged}
	if res.Plan != nil {
		attrs = append(attrs, "planned_tags", res.Plan.Summary.TagsDeleted, "kept_tags", res.Plan.Summary.TagsKept, "freed_bytes", res.Plan.Summary.FreedBytes)
	}
	log.Info("oci retention done", attrs...)
	return res.Result()
}

type retentionMetrics struct {
	planned, deleted, freed, broken prometheus.Gauge
}

func newRetentionMetrics(reg prometheus.Registerer) (*retentionMetrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &retentionMetrics{
		planned: g("labops_oci_retention_planned_deletions", "Tags and untagged manifests the last retention plan deletes."),
		deleted: g("labops_oci_retention_deleted_tags", "Tags the last retention run deleted (0 on a dry run or a refused plan)."),
		freed:   g("labops_oci_retention_freed_bytes", "Bytes the last retention plan expects the registry's garbage collection to free."),
		broken:  g("labops_oci_retention_kept_broken_images", "Kept images the re-check after the last applied retention found not whole."),
	}
	if err := registerMetrics(reg, "oci-retention", &m.planned, &m.deleted, &m.freed, &m.broken); err != nil {
		return nil, err
	}
	return m, nil
}

// observe sets the gauges from a run. A run that could not plan leaves the
// plan gauges as they were and sets deleted to what it did (nothing).
func (m *retentionMetrics) observe(r *RetentionResult) {
	if r.Plan != nil {
		m.planned.Set(float64(r.Plan.Summary.TagsDeleted + r.Plan.Summary.UntaggedDeleted))
		m.freed.Set(float64(r.Plan.Summary.FreedBytes))
	}
	m.deleted.Set(float64(r.DeletedTags))
	if r.Recheck != nil {
		m.broken.Set(float64(r.Recheck.Summary.BrokenImages))
	}
}
