package oci

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

// The settings and the plumbing the oci job kinds share. Each kind still
// validates its spec in its own order (problems are reported in that
// order), so the checks here are small pieces a kind calls where its
// fields are checked.

// RegistrySpec is how a job reaches a registry: its address, and the
// credentials and CA to reach it with. Kinds embed it inline
// (`yaml:",inline"`); oci-mirror has one per side. The password stays a
// file name: it is read at each run, so that a rotated one is picked up.
type RegistrySpec struct {
	// Registry is host[:port], optionally with http:// or https://
	// (oci-mirror also takes a /prefix).
	Registry     string `yaml:"registry" json:"registry"`
	PlainHTTP    bool   `yaml:"plain_http" json:"plain_http"`
	Username     string `yaml:"username" json:"username"`
	PasswordFile string `yaml:"password_file" json:"password_file"`
	CAFile       string `yaml:"ca_file" json:"ca_file"`
}

// TrafficSpec is how hard a job may use its registries. Kinds other than
// oci-archive embed it inline. RequestTimeout stays a raw string here;
// validateTimeout parses it.
type TrafficSpec struct {
	Concurrency    int     `yaml:"concurrency" json:"concurrency"`
	Rate           float64 `yaml:"rate" json:"rate"`
	RequestTimeout string  `yaml:"request_timeout" json:"request_timeout"`
}

// validateRegistry checks that registry is given and is a registry
// address, and returns the parsed address (zero with a problem).
func (s RegistrySpec) validateRegistry(ps *config.Problems) Registry {
	if s.Registry == "" {
		ps.Add("registry", "required (e.g. registry.example.org or http://127.0.0.1:5000)")
		return Registry{}
	}
	reg, err := ParseRegistry(s.Registry, s.PlainHTTP)
	if err != nil {
		ps.Add("registry", "%v", err)
		return Registry{}
	}
	return reg
}

// validateCredentials checks that a password file comes with a username.
// prefix is put in front of the path ("source.").
func (s RegistrySpec) validateCredentials(ps *config.Problems, prefix string) {
	if s.PasswordFile != "" && s.Username == "" {
		ps.Add(prefix+"username", "required with password_file")
	}
}

// client builds a client for reg with opts and s's CA file and
// credentials. The password is read from its file now, so that a rotated
// secret is picked up without a restart.
func (s RegistrySpec) client(reg Registry, opts Options) (*Client, error) {
	opts.CAFile = s.CAFile
	opts.Credentials = Credentials{Username: s.Username}
	if s.PasswordFile != "" {
		pw, err := ReadPasswordFile(s.PasswordFile)
		if err != nil {
			return nil, err
		}
		opts.Credentials.Password = pw
	}
	return NewClient(reg, opts)
}

// validateLimits checks concurrency and rate.
func (t TrafficSpec) validateLimits(ps *config.Problems) {
	if t.Concurrency < 0 || t.Concurrency > 64 {
		ps.Add("concurrency", "%d is out of range (1 to 64; more than %d gains nothing)", t.Concurrency, MaxUsefulConcurrency)
	}
	if t.Rate < 0 {
		ps.Add("rate", "%v is negative (requests per second; 0 means unlimited)", t.Rate)
	}
}

// validateTimeout checks request_timeout and returns it parsed, or
// DefaultRequestTimeout when it is not set (or not valid).
func (t TrafficSpec) validateTimeout(ps *config.Problems) time.Duration {
	if t.RequestTimeout == "" {
		return DefaultRequestTimeout
	}
	d, err := time.ParseDuration(t.RequestTimeout)
	if err != nil || d <= 0 {
		ps.Add("request_timeout", "%q is not a positive duration (e.g. 30s)", t.RequestTimeout)
		return DefaultRequestTimeout
	}
	return d
}

// options are the client options t sets, with the validated timeout.
func (t TrafficSpec) options(requestTimeout time.Duration, log *slog.Logger) Options {
	return Options{Concurrency: t.Concurrency, Rate: t.Rate, RequestTimeout: requestTimeout, Logger: log}
}

// jobDeps fills in what a job's deps leave out: the clock and a logger
// that discards.
func jobDeps(deps job.Deps) job.Deps {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return deps
}

// configured is what every oci job holds: its validated config, its deps
// (filled in by jobDeps) and its metrics.
type configured[C, M any] struct {
	cfg     C
	deps    job.Deps
	metrics M
}

// configure validates a job's spec and registers its metrics: the
// constructor every oci kind shares.
func configure[C, M any](validate func() (C, error), deps job.Deps, newMetrics func(prometheus.Registerer) (M, error)) (configured[C, M], error) {
	cfg, err := validate()
	if err != nil {
		return configured[C, M]{}, err
	}
	deps = jobDeps(deps)
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return configured[C, M]{}, err
	}
	return configured[C, M]{cfg: cfg, deps: deps, metrics: m}, nil
}

// registerMetrics registers each of a job's collectors with reg (none
// without one). A collector already registered under the same name, by an
// earlier job of the same kind, is adopted in its place, so that jobs of
// one kind share their gauges. kind names the job kind in errors.
func registerMetrics[C prometheus.Collector](reg prometheus.Registerer, kind string, cs ...*C) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(*c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("registering %s metrics: %w", kind, err)
			}
			existing, ok := are.ExistingCollector.(C)
			if !ok {
				return fmt.Errorf("registering %s metrics: %w", kind, err)
			}
			*c = existing
		}
	}
	return nil
}
