package dnssync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

// ReadySpec is the dns-ready job's section of the config.
type ReadySpec struct {
	// Servers are compared with the first.
	Servers []ServerSpec `yaml:"servers" json:"servers"`
	// Zones limits the comparison; empty means every zone any server has.
	Zones []string `yaml:"zones" json:"zones,omitempty"`
}

// Validate returns every problem, with paths relative to the spec. Every
// server needs its dns address: the gate proves that DNS answers.
func (s ReadySpec) Validate() error {
	var ps config.Problems
	if len(s.Servers) < 2 {
		ps.Add("servers", "at least two servers to compare")
	}
	names := map[string]bool{}
	for i, sv := range s.Servers {
		path := fmt.Sprintf("servers[%d]", i)
		if _, sp := sv.validate(); len(sp) > 0 {
			ps = append(ps, config.Prefixed(path, sp)...)
		}
		if sv.DNS == "" && sv.Type != TypeDNS {
			ps.Add(path+".dns", "required: the gate queries every server over DNS (host:port)")
		}
		if sv.Name != "" && names[sv.Name] {
			ps.Add(path+".name", "%q is used twice", sv.Name)
		}
		names[sv.Name] = true
	}
	return ps.Err()
}

// Options builds the gate's options, reading every secret now.
func (s ReadySpec) Options(override string) (ReadyOptions, error) {
	if err := s.Validate(); err != nil {
		return ReadyOptions{}, err
	}
	o := ReadyOptions{Override: override}
	for _, sv := range s.Servers {
		p, err := sv.Provider()
		if err != nil {
			return ReadyOptions{}, err
		}
		o.Servers = append(o.Servers, ReadyServer{Provider: p, DNS: sv.DNS})
	}
	for _, z := range s.Zones {
		o.Zones = append(o.Zones, CanonicalName(z))
	}
	return o, nil
}

// ReadyKind is the dns-ready job kind: a scheduled `dns ready`.
func ReadyKind() job.Kind {
	return job.NewKind("dns-ready",
		"prove every DNS server answers and holds the same zones, serials and records",
		NewReadyJob).WithMetrics(job.MetricsOf(NewReadyMetrics))
}

// ReadyJob is a configured dns-ready job.
type ReadyJob struct {
	spec    ReadySpec
	deps    job.Deps
	metrics *ReadyMetrics
}

var _ job.Job = (*ReadyJob)(nil)

// NewReadyJob validates spec and registers the gate's metrics.
func NewReadyJob(spec ReadySpec, deps job.Deps) (*ReadyJob, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	m, err := NewReadyMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	return &ReadyJob{spec: spec, deps: deps, metrics: m}, nil
}

// Run checks once. A scheduled gate has no override.
func (j *ReadyJob) Run(ctx context.Context, log *slog.Logger) job.Result {
	start := j.deps.Now()
	o, err := j.spec.Options("")
	if err != nil {
		j.metrics.ready.Set(0)
		return job.Result{Status: job.StatusIncomplete, Error: err.Error(), Started: start, Duration: j.deps.Now().Sub(start)}
	}
	o.Logger, o.Now = log, j.deps.Now
	rep := Ready(ctx, o)
	j.metrics.Observe(rep)
	log.Info("dns ready done", "ready", rep.Ready, "findings", len(rep.Findings), "serial_lag", rep.SerialLag)
	return rep.Result()
}

// ReadyMetrics are the gauges of the last gate run.
type ReadyMetrics struct {
	ready, lag, overridden prometheus.Gauge
	up, zones              *prometheus.GaugeVec
}

// NewReadyMetrics registers the gate's gauges with reg (nil: unregistered).
func NewReadyMetrics(reg prometheus.Registerer) (*ReadyMetrics, error) {
	m := &ReadyMetrics{
		ready: prometheus.NewGauge(prometheus.GaugeOpts{Name: "labops_dns_ready",
			Help: "Whether the last gate run found every server answering and equal (1), overridden or not, or not (0)."}),
		overridden: prometheus.NewGauge(prometheus.GaugeOpts{Name: "labops_dns_ready_overridden",
			Help: "Whether the last gate run passed only by --override (its reason is in the run's result)."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "labops_dns_serial_lag",
			Help: "The largest difference between two servers' SOA serials of one zone in the last gate run."}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_dns_server_up",
			Help: "Whether each server answered its API and DNS queries in the last gate run."}, []string{"server"}),
		zones: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_dns_zones",
			Help: "Zones each server serves (built-in zones aside), as the last run saw."}, []string{"server"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.ready, m.overridden, m.lag, m.up, m.zones} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("registering dns-ready metrics: %w", err)
			}
			switch c {
			case m.ready:
				m.ready = are.ExistingCollector.(prometheus.Gauge)
			case m.overridden:
				m.overridden = are.ExistingCollector.(prometheus.Gauge)
			case m.lag:
				m.lag = are.ExistingCollector.(prometheus.Gauge)
			case m.up:
				m.up = are.ExistingCollector.(*prometheus.GaugeVec)
			case m.zones:
				m.zones = are.ExistingCollector.(*prometheus.GaugeVec)
			}
		}
	}
	return m, nil
}

// Observe records a gate run.
func (m *ReadyMetrics) Observe(r *ReadyReport) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	m.ready.Set(b(r.Ready))
	m.overridden.Set(b(!r.Ready && r.Override != ""))
	m.lag.Set(float64(r.SerialLag))
	m.up.Reset()
	m.zones.Reset()
	for _, s := range r.Servers {
		m.up.WithLabelValues(s.Name).Set(b(s.Up))
		if s.Up {
			m.zones.WithLabelValues(s.Name).Set(float64(len(s.Zones)))
		}
	}
}

// WriteText prints the gate's verdict for a person.
func (r *ReadyReport) WriteText(w io.Writer) {
	for _, s := range r.Servers {
		if !s.Up {
			fmt.Fprintf(w, "server %s: DOWN: %s\n", s.Name, s.Error)
			continue
		}
		fmt.Fprintf(w, "server %s: up, %d zone(s)\n", s.Name, len(s.Zones))
		for _, z := range r.Zones {
			if zs, ok := s.Zones[z]; ok {
				fmt.Fprintf(w, "  %s serial %d, %d records, fingerprint %s\n", z, zs.Serial, zs.Records, zs.Fingerprint)
			}
		}
	}
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%s %s: %s\n", f.Kind, f.Subject, f.Message)
	}
	switch {
	case r.Ready:
		fmt.Fprintf(w, "ready: every server answers and holds the same %d zone(s)\n", len(r.Zones))
	case r.Override != "":
		fmt.Fprintf(w, "NOT ready, passed by override: %s\n", r.Override)
	default:
		fmt.Fprintf(w, "NOT ready: %d finding(s)\n", len(r.Findings))
	}
}
