package dnssync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

// FallbackSpec is the dns-fallback job's section of the config: the
// resolvers (given, or read from a resolv.conf) and what must resolve.
type FallbackSpec struct {
	Resolvers  []string `yaml:"resolvers" json:"resolvers,omitempty"`
	ResolvConf string   `yaml:"resolv_conf" json:"resolv_conf,omitempty"`
	Name       string   `yaml:"name" json:"name"`
	Type       string   `yaml:"type" json:"type,omitempty"`
	// Timeout and Attempts override resolv.conf's (defaults 1s and 1).
	Timeout  string `yaml:"timeout" json:"timeout,omitempty"`
	Attempts int    `yaml:"attempts" json:"attempts,omitempty"`
	// Bound is how long the drill may take (default timeout*attempts+1s).
	Bound string `yaml:"bound" json:"bound,omitempty"`
	// Unreachable stands in for the first resolver (default 192.0.2.1:53).
	Unreachable string `yaml:"unreachable" json:"unreachable,omitempty"`
}

// Validate returns every problem, with paths relative to the spec.
func (s FallbackSpec) Validate() error {
	var ps config.Problems
	switch {
	case len(s.Resolvers) > 0 && s.ResolvConf != "":
		ps.Add("resolvers", "give resolvers or resolv_conf, not both")
	case len(s.Resolvers) == 0 && s.ResolvConf == "":
		ps.Add("resolvers", "required (host:port each), or resolv_conf")
	}
	for i, r := range s.Resolvers {
		if _, _, err := net.SplitHostPort(r); err != nil {
			ps.Add(fmt.Sprintf("resolvers[%d]", i), "%q is not host:port", r)
		}
	}
	if s.Name == "" {
		ps.Add("name", "required: a name that must resolve")
	}
	if _, ok := dns.StringToType[s.Type]; s.Type != "" && !ok {
		ps.Add("type", "%q is not a record type", s.Type)
	}
	for path, v := range map[string]string{"timeout": s.Timeout, "bound": s.Bound} {
		if d, err := time.ParseDuration(v); v != "" && (err != nil || d <= 0) {
			ps.Add(path, "%q is not a positive duration", v)
		}
	}
	if s.Attempts < 0 || s.Attempts > 5 {
		ps.Add("attempts", "%d: valid is 1 to 5", s.Attempts)
	}
	if s.Unreachable != "" {
		if _, _, err := net.SplitHostPort(s.Unreachable); err != nil {
			ps.Add("unreachable", "%q is not host:port", s.Unreachable)
		}
	}
	return ps.Err()
}

// Options builds the check's options, reading the resolv.conf now.
func (s FallbackSpec) Options() (FallbackOptions, error) {
	if err := s.Validate(); err != nil {
		return FallbackOptions{}, err
	}
	o := FallbackOptions{Resolvers: s.Resolvers, Name: s.Name, Type: s.Type, Attempts: s.Attempts, Unreachable: s.Unreachable}
	if s.ResolvConf != "" {
		data, err := os.ReadFile(s.ResolvConf)
		if err != nil {
			return o, fmt.Errorf("reading resolv_conf: %w", err)
		}
		rc, err := ParseResolvConf(data)
		if err != nil {
			return o, fmt.Errorf("%s: %w", s.ResolvConf, err)
		}
		o.Resolvers, o.Timeout = rc.Nameservers, rc.Timeout
		if o.Attempts == 0 {
			o.Attempts = rc.Attempts
		}
	}
	if s.Timeout != "" {
		o.Timeout, _ = time.ParseDuration(s.Timeout)
	}
	if s.Bound != "" {
		o.Bound, _ = time.ParseDuration(s.Bound)
	}
	return o, nil
}

// FallbackKind is the dns-fallback job kind.
func FallbackKind() job.Kind {
	return job.NewCheckedKind("dns-fallback",
		"prove each resolver answers and a client falls back past an unreachable first resolver within a bound",
		NewFallbackMetrics, func(spec FallbackSpec, m *FallbackMetrics, deps job.Deps) (job.Func, error) {
			return func(ctx context.Context, log *slog.Logger) job.Result {
				o, err := spec.Options()
				if err != nil {
					now := time.Now()
					return job.Result{Status: job.StatusIncomplete, Error: err.Error(), Started: now}
				}
				o.Now = deps.Now
				rep := Fallback(ctx, o)
				m.Observe(rep)
				log.Info("dns fallback done", "status", rep.Status, "drill_ok", rep.DrillOK, "drill_took", rep.DrillTook)
				return rep.Result()
			}, nil
		})
}

// FallbackMetrics are the gauges of the last fallback run; resolver
// labels are bounded by the config.
type FallbackMetrics struct {
	up, latency   *prometheus.GaugeVec
	drill, drillS prometheus.Gauge
}

// NewFallbackMetrics registers the gauges with reg (nil: unregistered).
func NewFallbackMetrics(reg prometheus.Registerer) (*FallbackMetrics, error) {
	m := &FallbackMetrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_dns_resolver_up",
			Help: "Whether each resolver answered the query on its own in the last run."}, []string{"resolver"}),
		latency: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_dns_resolver_latency_seconds",
			Help: "How long each resolver took to answer in the last run."}, []string{"resolver"}),
		drill: prometheus.NewGauge(prometheus.GaugeOpts{Name: "labops_dns_fallback_ok",
			Help: "Whether the query resolved within the bound with the first resolver unreachable (1) or not (0)."}),
		drillS: prometheus.NewGauge(prometheus.GaugeOpts{Name: "labops_dns_fallback_seconds",
			Help: "How long resolving took with the first resolver unreachable, in the last run."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.up, m.latency, m.drill, m.drillS} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("registering dns-fallback metrics: %w", err)
			}
			switch c {
			case m.up:
				m.up = are.ExistingCollector.(*prometheus.GaugeVec)
			case m.latency:
				m.latency = are.ExistingCollector.(*prometheus.GaugeVec)
			case m.drill:
				m.drill = are.ExistingCollector.(prometheus.Gauge)
			case m.drillS:
				m.drillS = are.ExistingCollector.(prometheus.Gauge)
			}
		}
	}
	return m, nil
}

// Observe records a run.
func (m *FallbackMetrics) Observe(r *FallbackReport) {
	m.up.Reset()
	m.latency.Reset()
	for _, x := range r.Resolvers {
		v := 0.0
		if x.Up {
			v = 1
			m.latency.WithLabelValues(x.Addr).Set(x.Latency.Seconds())
		}
		m.up.WithLabelValues(x.Addr).Set(v)
	}
	v := 0.0
	if r.DrillOK {
		v = 1
	}
	m.drill.Set(v)
	m.drillS.Set(r.DrillTook.Seconds())
}

// WriteText prints the run for a person.
func (r *FallbackReport) WriteText(w io.Writer) {
	for _, x := range r.Resolvers {
		switch {
		case x.Up && x.NSID != "":
			fmt.Fprintf(w, "resolver %s: up, %s, names itself %q\n", x.Addr, x.Latency.Round(time.Millisecond), x.NSID)
		case x.Up:
			fmt.Fprintf(w, "resolver %s: up, %s (no NSID)\n", x.Addr, x.Latency.Round(time.Millisecond))
		case x.Error != "":
			fmt.Fprintf(w, "resolver %s: DOWN: %s\n", x.Addr, x.Error)
		default:
			fmt.Fprintf(w, "resolver %s: answered %s\n", x.Addr, x.Rcode)
		}
	}
	if r.DrillOK {
		fmt.Fprintf(w, "fallback: with the first resolver unreachable, resolved through %s in %s (bound %s)\n",
			r.DrillAnswered, r.DrillTook.Round(time.Millisecond), r.Bound)
	}
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%s %s: %s\n", f.Kind, f.Subject, f.Message)
	}
	fmt.Fprintf(w, "result: %s\n", r.Status)
}
