package job

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Deps are what a job's constructor gets besides its own spec.
type Deps struct {
	// Name is the job's configured name (use it as the "job" attribute,
	// never as a metric label: the runner owns the job label).
	Name string
	// Logger is the root logger; Run gets a per-run logger as well.
	Logger *slog.Logger
	// Registerer receives the job's own metrics. One-shot runs pass a fresh
	// registry per run; serve passes one registry for the process, wrapped
	// with a job="<name>" label (prometheus.WrapRegistererWith), so a kind
	// registers its metrics without a job label of its own.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Kind is one kind of job ("oci-probe", ...). Kinds are registered
// explicitly in one place (internal/kinds), never through init().
type Kind struct {
	Name string
	// Summary is one line for `labops kinds` and the status page.
	Summary string
	// New decodes the job's spec with decode (strict: unknown fields are
	// errors), validates it, and builds the job. It must not do I/O beyond
	// reading local files the spec names. Validation problems are returned
	// as a config.Problems (every problem, each with its field path relative
	// to the spec, e.g. "registry") so that `config check` can show them all.
	New func(decode func(v any) error, deps Deps) (Job, error)
	// Metrics registers on reg the kind's own metrics, the collectors New
	// registers on Deps.Registerer, without building a job. docs/ calls it
	// to generate the metrics reference; it must register every metric a
	// job of the kind can expose, whatever its spec.
	Metrics func(reg prometheus.Registerer) error
}

// WithMetrics returns k with Metrics set to register what newMetrics does.
// newMetrics is the function New itself calls, so the reference in docs/
// cannot drift from what a job registers.
func (k Kind) WithMetrics(newMetrics func(reg prometheus.Registerer) error) Kind {
	k.Metrics = newMetrics
	return k
}

// MetricsOf adapts a kind's metrics constructor (func(reg) (*M, error)) to
// what WithMetrics takes.
func MetricsOf[M any](newMetrics func(reg prometheus.Registerer) (M, error)) func(reg prometheus.Registerer) error {
	return func(reg prometheus.Registerer) error {
		_, err := newMetrics(reg)
		return err
	}
}

// NewKind returns a Kind whose spec is decoded strictly into S and handed,
// with the dependencies, to build. It is the decode-then-construct wrapper
// every kind would otherwise repeat, and it never returns a typed nil Job
// beside an error.
func NewKind[S any, J Job](name, summary string, build func(S, Deps) (J, error)) Kind {
	return Kind{
		Name:    name,
		Summary: summary,
		New: func(decode func(v any) error, deps Deps) (Job, error) {
			var spec S
			if err := decode(&spec); err != nil {
				return nil, err
			}
			j, err := build(spec, deps)
			if err != nil {
				return nil, err
			}
			return j, nil
		},
	}
}

// Validator is a spec that can list its own problems (a config.Problems).
type Validator interface{ Validate() error }

// NewCheckedKind is NewKind for the common shape: the decoded spec is
// validated, the kind's metrics are registered with newMetrics (which also
// becomes the kind's Metrics, for the reference in docs/), and build gets
// the spec, the metrics and the dependencies.
func NewCheckedKind[S Validator, M any, J Job](name, summary string, newMetrics func(prometheus.Registerer) (M, error), build func(S, M, Deps) (J, error)) Kind {
	return NewKind(name, summary, func(spec S, deps Deps) (J, error) {
		var zero J
		if err := spec.Validate(); err != nil {
			return zero, err
		}
		m, err := newMetrics(deps.Registerer)
		if err != nil {
			return zero, err
		}
		return build(spec, m, deps)
	}).WithMetrics(MetricsOf(newMetrics))
}
