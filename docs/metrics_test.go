package docs_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/labops/labops/internal/cli"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/kinds"
)

var update = flag.Bool("update", false, "rewrite docs/metrics.md from the collectors the code registers")

const metricsFile = "metrics.md"

// TestMetricsReference regenerates docs/metrics.md in memory from the
// collectors the code registers and fails when the file differs.
func TestMetricsReference(t *testing.T) {
	ref, err := collectReference()
	if err != nil {
		t.Fatal(err)
	}
	got := renderReference(ref)
	if *update {
		if err := os.WriteFile(metricsFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/%s", metricsFile)
		return
	}
	want, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatalf("reading docs/%s: %v (generate it with: go test ./docs -update)", metricsFile, err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("docs/%s is not current with the metrics the code registers; regenerate it with:\n\tgo test ./docs -update\n(-file +code):\n%s",
			metricsFile, cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")))
	}
}

// TestEveryKindHasMetrics: a kind that contributes nothing to the reference
// is a kind whose Metrics was forgotten (every kind has at least a gauge
// that alerts read).
func TestEveryKindHasMetrics(t *testing.T) {
	for name, k := range kinds.All() {
		ms, err := kindMetrics(k)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(ms) == 0 {
			t.Errorf("kind %s: its Metrics registered no collector; it must register what its New registers", name)
		}
	}
}

// metric is one row of the reference.
type metric struct {
	desc
	Type string
}

// reference is everything labops exposes, by source.
type reference struct {
	runner []metric
	kinds  []kindRef // sorted by name
	serve  []metric
}

type kindRef struct {
	kind    job.Kind
	metrics []metric
}

func collectReference() (*reference, error) {
	var ref reference
	var errs []error
	var err1 error
	rec := newRecorder()
	if _, err := job.NewMetrics(rec); err != nil {
		errs = append(errs, fmt.Errorf("runner metrics: %w", err))
	}
	ref.runner, err1 = rec.metrics()
	errs = append(errs, err1)

	all := kinds.All()
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ms, err := kindMetrics(all[n])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ref.kinds = append(ref.kinds, kindRef{kind: all[n], metrics: ms})
	}

	rec = newRecorder()
	for _, c := range cli.ServeCollectors() {
		if err := rec.Register(c); err != nil {
			errs = append(errs, fmt.Errorf("serve's collectors: %w", err))
		}
	}
	ref.serve, err1 = rec.metrics()
	errs = append(errs, err1)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &ref, checkConsistent(&ref)
}

// kindMetrics registers one kind's metrics on a fresh recorder, as a job
// of the kind does on its run's (or serve's) registry.
func kindMetrics(k job.Kind) ([]metric, error) {
	if k.Metrics == nil {
		return nil, fmt.Errorf("kind %s: job.Kind.Metrics is nil; set it to the metrics constructor the kind's New calls "+
			"(e.g. job.NewKind(...).WithMetrics(job.MetricsOf(newXMetrics))), then run go test ./docs -update", k.Name)
	}
	rec := newRecorder()
	if err := k.Metrics(rec); err != nil {
		return nil, fmt.Errorf("kind %s: registering its metrics: %w", k.Name, err)
	}
	ms, err := rec.metrics()
	if err != nil {
		return nil, fmt.Errorf("kind %s: %w", k.Name, err)
	}
	return ms, nil
}

// checkConsistent fails on what serve would refuse or Prometheus would
// misread: one name with two helps, label sets or types (two kinds may
// share a metric, as dns-sync and dns-ready share labops_dns_zones, only
// if they describe it alike), and a kind reusing a runner metric's name.
func checkConsistent(ref *reference) error {
	seen := map[string]metric{}
	from := map[string]string{}
	var errs []error
	add := func(src string, ms []metric) {
		for _, m := range ms {
			if prev, ok := seen[m.Name]; ok {
				if !reflect.DeepEqual(prev, m) {
					errs = append(errs, fmt.Errorf("%s is described differently by %s and %s: %+v vs %+v", m.Name, from[m.Name], src, prev, m))
				}
				if from[m.Name] == "the runner" {
					errs = append(errs, fmt.Errorf("%s registers %s, a name the runner owns", src, m.Name))
				}
				continue
			}
			seen[m.Name], from[m.Name] = m, src
		}
	}
	add("the runner", ref.runner)
	for _, k := range ref.kinds {
		add("kind "+k.kind.Name, k.metrics)
	}
	add("serve", ref.serve)
	return errors.Join(errs...)
}

// recorder is a prometheus.Registerer that registers on a real registry
// (so whatever serve's registry would refuse is refused here too) and
// keeps each collector's descriptors and metric types.
type recorder struct {
	reg   *prometheus.Registry
	descs []*prometheus.Desc
	types map[*prometheus.Desc]string
	errs  []error
}

var _ prometheus.Registerer = (*recorder)(nil)

func newRecorder() *recorder {
	return &recorder{reg: prometheus.NewPedanticRegistry(), types: map[*prometheus.Desc]string{}}
}

func (r *recorder) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	var descs []*prometheus.Desc
	dch := make(chan *prometheus.Desc)
	go func() { c.Describe(dch); close(dch) }()
	for d := range dch {
		descs = append(descs, d)
	}
	// The type is not in a Desc: take it from what the collector collects,
	// or, for a vector with no children yet, from the vector's Go type.
	mch := make(chan prometheus.Metric)
	go func() { c.Collect(mch); close(mch) }()
	for m := range mch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			r.errs = append(r.errs, fmt.Errorf("collecting %s: %w", m.Desc(), err))
			continue
		}
		r.types[m.Desc()] = metricType(&pb)
	}
	for _, d := range descs {
		if _, ok := r.types[d]; ok {
			continue
		}
		switch c.(type) {
		case *prometheus.GaugeVec:
			r.types[d] = "gauge"
		case *prometheus.CounterVec:
			r.types[d] = "counter"
		case *prometheus.HistogramVec:
			r.types[d] = "histogram"
		case *prometheus.SummaryVec:
			r.types[d] = "summary"
		default:
			r.errs = append(r.errs, fmt.Errorf("cannot tell the type of %s: collector %T collected nothing for it", d, c))
		}
	}
	r.descs = append(r.descs, descs...)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *recorder) Unregister(c prometheus.Collector) bool {
	r.errs = append(r.errs, fmt.Errorf("unexpected Unregister of %T while registering metrics", c))
	return r.reg.Unregister(c)
}

func metricType(m *dto.Metric) string {
	switch {
	case m.Counter != nil:
		return "counter"
	case m.Gauge != nil:
		return "gauge"
	case m.Histogram != nil:
		return "histogram"
	case m.Summary != nil:
		return "summary"
	default:
		return "untyped"
	}
}

// metrics returns what was registered, sorted by name, after checking the
// parsed descriptors against what the registry gathers where it gathers
// anything (a vector without children gathers nothing).
func (r *recorder) metrics() ([]metric, error) {
	errs := slices.Clone(r.errs)
	byName := map[string]metric{}
	for _, d := range r.descs {
		pd, err := parseDesc(d.String())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := byName[pd.Name]; dup {
			errs = append(errs, fmt.Errorf("%s described twice", pd.Name))
		}
		byName[pd.Name] = metric{desc: pd, Type: r.types[d]}
	}
	fams, err := r.reg.Gather()
	if err != nil {
		errs = append(errs, fmt.Errorf("gathering: %w", err))
	}
	for _, f := range fams {
		m, ok := byName[f.GetName()]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s is gathered but was not described", f.GetName()))
		case m.Help != f.GetHelp() || m.Type != strings.ToLower(f.GetType().String()):
			errs = append(errs, fmt.Errorf("%s: parsed help %q type %s, but the registry gathers help %q type %s (docs/desc_test.go misreads Desc.String)",
				f.GetName(), m.Help, m.Type, f.GetHelp(), f.GetType()))
		}
	}
	out := make([]metric, 0, len(byName))
	for _, m := range byName {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(errs...)
}
