package mail

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/labops/labops/internal/job"
)

// ProxycheckReport is what one mail proxycheck found.
type ProxycheckReport struct {
	Status      job.Status       `json:"status"`
	ProxySource string           `json:"proxy_source"`
	Sets        []ListenerReport `json:"sets"`
	Findings    []job.Finding    `json:"findings,omitempty"`
	Error       string           `json:"error,omitempty"`
	Started     time.Time        `json:"started"`
	Duration    time.Duration    `json:"duration"`
}

// ListenerReport is one listener set's outcome.
type ListenerReport struct {
	Name     string      `json:"name"`
	Protocol string      `json:"protocol"`
	Public   *PublicPath `json:"public,omitempty"`
	Checks   []RoleCheck `json:"checks,omitempty"`
}

// PublicPath is the outcome of N connections in a row through the load
// balancer. Latencies are seconds from connect to a complete greeting, of
// the connections that greeted.
type PublicPath struct {
	Addr         string         `json:"addr"`
	Attempts     int            `json:"attempts"`
	Greeted      int            `json:"greeted"`
	SuccessRatio float64        `json:"success_ratio"`
	P50          float64        `json:"p50_seconds"`
	P90          float64        `json:"p90_seconds"`
	Max          float64        `json:"max_seconds"`
	Failures     map[string]int `json:"failures,omitempty"` // reason -> count
	FirstError   string         `json:"first_error,omitempty"`
}

// RoleCheck is one expectation of one listener: alt (greets after PROXY),
// alt-trust (only the load balancer's PROXY is accepted), alt-no-proxy
// (silent without PROXY), health and stock (greet without PROXY).
type RoleCheck struct {
	Role      string  `json:"role"`
	Addr      string  `json:"addr"`
	Want      string  `json:"want"`
	OK        bool    `json:"ok"`
	Connected bool    `json:"connected"`
	Detail    string  `json:"detail"`
	Seconds   float64 `json:"seconds,omitempty"`
}

// findings turns every broken expectation into a finding.
func (r *ProxycheckReport) findings(c proxycheckConfig) {
	r.Findings = nil
	for _, s := range r.Sets {
		if p := s.Public; p != nil && p.Greeted < p.Attempts {
			r.Findings = append(r.Findings, job.Finding{
				Kind:    "public-failures",
				Subject: s.Name + " public " + p.Addr,
				Message: fmt.Sprintf("%d of %d connections in a row got no complete greeting (%s); a healthy path greets every one. First: %s",
					p.Attempts-p.Greeted, p.Attempts, reasons(p.Failures), p.FirstError),
			})
		}
		for _, ch := range s.Checks {
			if ch.OK {
				continue
			}
			f := job.Finding{Subject: s.Name + " " + ch.Role + " " + ch.Addr}
			switch ch.Role {
			case "alt":
				f.Kind = "alt-refuses-proxy"
				f.Message = "no greeting after a PROXY v2 header: " + ch.Detail +
					" (a server that trusts PROXY only from the load balancer, as Dovecot's haproxy_trusted_networks does, refuses it from anywhere else: probe from a trusted address)"
			case "alt-trust":
				f.Kind = "alt-trusts-any-proxy"
				f.Message = ch.Detail + ", which is not a load balancer address: it trusts a PROXY header from anyone who reaches it (Postfix does), " +
					"so anyone can claim any client address; let only the load balancer reach it"
			case "alt-no-proxy":
				f.Kind = "alt-greets-without-proxy"
				f.Message = ch.Detail + ": its PROXY requirement is off, and the load balancer's header would be read as a command"
			case "health":
				f.Kind = "health-no-greeting"
				f.Message = "the health-check port must greet without PROXY: " + ch.Detail
			case "stock":
				f.Kind = "stock-no-greeting"
				f.Message = "the stock listener must greet without PROXY: " + ch.Detail
			}
			r.Findings = append(r.Findings, f)
		}
	}
}

func reasons(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

// Result is the report as a job result.
func (r *ProxycheckReport) Result() job.Result {
	res := job.Result{Status: r.Status, Findings: r.Findings, Error: r.Error, Started: r.Started, Duration: r.Duration,
		Counters: map[string]float64{}}
	if attempts, greeted := r.publicTotals(); attempts > 0 {
		res.Counters["public_attempts"] = float64(attempts)
		res.Counters["public_greeted"] = float64(greeted)
	}
	return res
}

func (r *ProxycheckReport) publicTotals() (attempts, greeted int) {
	for _, s := range r.Sets {
		if s.Public != nil {
			attempts += s.Public.Attempts
			greeted += s.Public.Greeted
		}
	}
	return attempts, greeted
}

// WriteText writes the human report.
func (r *ProxycheckReport) WriteText(w io.Writer) {
	for _, s := range r.Sets {
		fmt.Fprintf(w, "%s (%s)\n", s.Name, s.Protocol)
		if p := s.Public; p != nil {
			mark := "ok  "
			if p.Greeted < p.Attempts {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "  %s public       %-22s greeted %d/%d (%.0f%%)", mark, p.Addr, p.Greeted, p.Attempts, 100*p.SuccessRatio)
			if p.Greeted > 0 {
				fmt.Fprintf(w, ", p50 %s p90 %s max %s", fmtSeconds(p.P50), fmtSeconds(p.P90), fmtSeconds(p.Max))
			}
			fmt.Fprintln(w)
			if len(p.Failures) > 0 {
				fmt.Fprintf(w, "       failures: %s\n", reasons(p.Failures))
			}
		}
		for _, c := range s.Checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "  %s %-12s %-22s %s: %s\n", mark, c.Role, c.Addr, c.Want, c.Detail)
		}
	}
	fmt.Fprintf(w, "\n%s in %s", r.Status, r.Duration.Round(time.Millisecond))
	if len(r.Findings) > 0 {
		fmt.Fprintf(w, ", %d finding(s):\n", len(r.Findings))
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  %s %s: %s\n", f.Kind, f.Subject, f.Message)
		}
	} else {
		fmt.Fprintln(w)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
}

func fmtSeconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

// percentile is the nearest-rank q-quantile of ds (0 for none).
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func seconds(d time.Duration) float64 { return d.Seconds() }
