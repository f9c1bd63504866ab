package dnssync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

// TSIGCheckServer is one server of a dns-tsigcheck job: its DNS address,
// the zones to probe and the key updates must be signed with.
type TSIGCheckServer struct {
	Name  string    `yaml:"name" json:"name"`
	DNS   string    `yaml:"dns" json:"dns"`
	Zones []string  `yaml:"zones" json:"zones"`
	TSIG  *TSIGSpec `yaml:"tsig" json:"tsig"`
}

// TSIGCheckSpec is the dns-tsigcheck job's section of the config.
type TSIGCheckSpec struct {
	Servers []TSIGCheckServer `yaml:"servers" json:"servers"`
	// Timeout bounds each update (default 10s).
	Timeout string `yaml:"timeout" json:"timeout,omitempty"`
}

// Validate returns every problem, with paths relative to the spec.
func (s TSIGCheckSpec) Validate() error {
	var ps config.Problems
	if len(s.Servers) == 0 {
		ps.Add("servers", "required: at least one server")
	}
	for i, sv := range s.Servers {
		p := fmt.Sprintf("servers[%d]", i)
		if sv.Name == "" {
			ps.Add(p+".name", "required")
		}
		if _, _, err := net.SplitHostPort(sv.DNS); err != nil {
			ps.Add(p+".dns", "%q is not host:port", sv.DNS)
		}
		if len(sv.Zones) == 0 {
			ps.Add(p+".zones", "required: the zones whose updates must need the key")
		}
		if sv.TSIG == nil || sv.TSIG.Name == "" || sv.TSIG.SecretFile == "" {
			ps.Add(p+".tsig", "required: name and secret_file of the key updates must be signed with")
		}
	}
	if s.Timeout != "" {
		if d, err := time.ParseDuration(s.Timeout); err != nil || d <= 0 {
			ps.Add("timeout", "%q is not a positive duration", s.Timeout)
		}
	}
	return ps.Err()
}

// Targets reads the keys (secrets only from files) and lists the probes.
func (s TSIGCheckSpec) Targets() ([]TSIGTarget, time.Duration, error) {
	if err := s.Validate(); err != nil {
		return nil, 0, err
	}
	timeout, _ := time.ParseDuration(s.Timeout)
	var out []TSIGTarget
	for _, sv := range s.Servers {
		secret, err := readSecret(sv.TSIG.SecretFile)
		if err != nil {
			return nil, 0, fmt.Errorf("server %s: tsig: %w", sv.Name, err)
		}
		for _, z := range sv.Zones {
			out = append(out, TSIGTarget{Server: sv.Name, Addr: sv.DNS, Zone: z,
				Key: TSIGKey{Name: sv.TSIG.Name, Algorithm: sv.TSIG.Algorithm, Secret: secret}})
		}
	}
	return out, timeout, nil
}

// TSIGCheckKind is the dns-tsigcheck job kind.
func TSIGCheckKind() job.Kind {
	return job.NewCheckedKind("dns-tsigcheck",
		"prove each zone accepts updates signed with its TSIG key and refuses unsigned or wrongly signed ones",
		NewTSIGMetrics, func(spec TSIGCheckSpec, m *TSIGMetrics, deps job.Deps) (job.Func, error) {
			if deps.Now == nil {
				deps.Now = time.Now
			}
			return func(ctx context.Context, log *slog.Logger) job.Result {
				start := deps.Now()
				targets, timeout, err := spec.Targets()
				if err != nil {
					return job.Result{Status: job.StatusIncomplete, Error: err.Error(), Started: start, Duration: deps.Now().Sub(start)}
				}
				rep := TSIGCheck(ctx, targets, timeout, deps.Now)
				m.Observe(rep)
				log.Info("dns tsigcheck done", "status", rep.Status, "zones", len(rep.Zones), "findings", len(rep.Findings))
				return rep.Result()
			}, nil
		})
}

// TSIGMetrics are the gauges of the last tsigcheck run; server and zone
// labels are bounded by the config.
type TSIGMetrics struct {
	enforced *prometheus.GaugeVec
}

// NewTSIGMetrics registers the gauges with reg (nil: unregistered).
func NewTSIGMetrics(reg prometheus.Registerer) (*TSIGMetrics, error) {
	m := &TSIGMetrics{enforced: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_dns_tsig_enforced",
		Help: "Whether the zone accepted a signed update and refused unsigned and wrongly signed ones in the last run (1), or not (0)."},
		[]string{"server", "zone"})}
	if reg != nil {
		if err := reg.Register(m.enforced); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("registering dns-tsigcheck metrics: %w", err)
			}
			m.enforced = are.ExistingCollector.(*prometheus.GaugeVec)
		}
	}
	return m, nil
}

// Observe records a run; a zone that could not be probed has no value.
func (m *TSIGMetrics) Observe(r *TSIGReport) {
	m.enforced.Reset()
	for _, z := range r.Zones {
		if z.Error != "" {
			continue
		}
		v := 0.0
		if z.Enforced {
			v = 1
		}
		m.enforced.WithLabelValues(z.Server, z.Zone).Set(v)
	}
}

// Result turns the report into the job contract's result.
func (r *TSIGReport) Result() job.Result {
	enforced := 0
	for _, z := range r.Zones {
		if z.Enforced {
			enforced++
		}
	}
	return job.Result{Status: r.Status, Findings: r.Findings, Started: r.Started, Duration: r.Duration,
		Counters: map[string]float64{"zones": float64(len(r.Zones)), "enforced": float64(enforced)}}
}

// WriteText prints the run for a person.
func (r *TSIGReport) WriteText(w io.Writer) {
	for _, z := range r.Zones {
		if z.Error != "" {
			fmt.Fprintf(w, "%s %s: not checked: %s\n", z.Server, z.Zone, z.Error)
			continue
		}
		verdict := "enforced"
		if !z.Enforced {
			verdict = "NOT ENFORCED"
		}
		fmt.Fprintf(w, "%s %s: %s (signed %s, unsigned %s, wrong key %s)\n", z.Server, z.Zone, verdict, z.Signed, z.Unsigned, z.WrongKey)
	}
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%s %s: %s\n", f.Kind, f.Subject, f.Message)
	}
	fmt.Fprintf(w, "result: %s\n", r.Status)
}
