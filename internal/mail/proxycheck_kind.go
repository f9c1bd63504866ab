package mail

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/job"
)

// ProxycheckKind is the mail-proxycheck job kind: a scheduled
// `mail proxycheck`.
func ProxycheckKind() job.Kind {
	return job.NewKind("mail-proxycheck",
		"prove that the PROXY-protocol mail path greets, the alt ports require PROXY and the health ports do not",
		NewProxycheck).WithMetrics(job.MetricsOf(newProxycheckMetrics))
}

// proxycheckRoles are the only values of the greeting_seconds role label.
var proxycheckRoles = []string{"public", "alt", "health", "stock"}

type proxycheckMetrics struct {
	success  prometheus.Gauge
	greeting *prometheus.GaugeVec
	findings prometheus.Gauge
}

func newProxycheckMetrics(reg prometheus.Registerer) (*proxycheckMetrics, error) {
	m := &proxycheckMetrics{
		success: prometheus.NewGauge(prometheus.GaugeOpts{Name: "labops_mail_proxycheck_success_ratio",
			Help: "Share of the last check's connections through the public path that got a complete greeting."}),
		greeting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "labops_mail_proxycheck_greeting_seconds",
			Help: "Median seconds from connect to a complete greeting in the last check, by listener role (public, alt, health, stock)."}, []string{"role"}),
		findings: prometheus.NewGauge(prometheus.GaugeOpts{Name: "labops_mail_proxycheck_findings",
			Help: "Broken expectations the last check found."}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.success, err = proxycheckRegister(reg, m.success); err != nil {
		return nil, err
	}
	if m.greeting, err = proxycheckRegister(reg, m.greeting); err != nil {
		return nil, err
	}
	if m.findings, err = proxycheckRegister(reg, m.findings); err != nil {
		return nil, err
	}
	return m, nil
}

// proxycheckRegister registers c, or reuses the collector already
// registered under its name (serve builds a job again on reload).
func proxycheckRegister[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("registering mail-proxycheck metrics: %w", err)
}

func (m *proxycheckMetrics) observe(r *ProxycheckReport) {
	if attempts, greeted := r.publicTotals(); attempts > 0 {
		m.success.Set(float64(greeted) / float64(attempts))
	} else {
		m.success.Set(0)
	}
	m.findings.Set(float64(len(r.Findings)))
	byRole := map[string][]time.Duration{}
	for _, s := range r.Sets {
		if p := s.Public; p != nil && p.Greeted > 0 {
			byRole["public"] = append(byRole["public"], time.Duration(p.P50*float64(time.Second)))
		}
		for _, c := range s.Checks {
			if c.Seconds > 0 {
				byRole[c.Role] = append(byRole[c.Role], time.Duration(c.Seconds*float64(time.Second)))
			}
		}
	}
	m.greeting.Reset()
	for _, role := range proxycheckRoles {
		if ds := byRole[role]; len(ds) > 0 {
			m.greeting.WithLabelValues(role).Set(percentile(ds, 0.5).Seconds())
		}
	}
}
