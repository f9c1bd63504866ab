package mail

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

// Defaults of the mail-proxycheck job.
const (
	DefaultProxycheckCount   = 10
	DefaultProxycheckTimeout = 10 * time.Second // above postscreen's 6 s pre-greet pause
	DefaultNoProxyWait       = 2 * time.Second
	// DefaultProxySource is the client address labops claims in its PROXY
	// headers: TEST-NET-3, so that it stands out in the server's log.
	DefaultProxySource = "203.0.113.7"
)

// ProxycheckSpec is the mail-proxycheck job's section of the config.
type ProxycheckSpec struct {
	// Listeners are the listener sets to check, e.g. one for port 25, one
	// for 587 and one for IMAP.
	Listeners []ListenerSpec `yaml:"listeners" json:"listeners"`
	// Count is how many connections in a row the public path must greet.
	Count int `yaml:"count" json:"count,omitempty"`
	// Timeout bounds each connection: connect and a complete greeting.
	Timeout string `yaml:"timeout" json:"timeout,omitempty"`
	// NoProxyWait is how long an alt port must stay silent when a
	// connection sends no PROXY header.
	NoProxyWait string `yaml:"no_proxy_wait" json:"no_proxy_wait,omitempty"`
	// ProxySource is the client address claimed in labops' PROXY headers.
	ProxySource string `yaml:"proxy_source" json:"proxy_source,omitempty"`
}

// ListenerSpec is one service's set of listeners. Each address is
// host:port; any may be left out, but not all.
type ListenerSpec struct {
	Name string `yaml:"name" json:"name"`
	// Protocol is smtp (the default) or imap. Implicit-TLS ports (465,
	// 993) are not supported: their greeting comes after a TLS handshake.
	Protocol string `yaml:"protocol" json:"protocol,omitempty"`
	// Public is the path through the load balancer.
	Public string `yaml:"public" json:"public,omitempty"`
	// Alt is the backend listener that requires a PROXY v2 header.
	Alt string `yaml:"alt" json:"alt,omitempty"`
	// Health is the plain port the load balancer's health checks use.
	Health string `yaml:"health" json:"health,omitempty"`
	// Stock is the plain listener clients inside the cluster use.
	Stock string `yaml:"stock" json:"stock,omitempty"`
	// LBSources are the addresses the load balancer connects from. When
	// set, an alt port that accepts labops' PROXY header although labops
	// is not one of them is a finding: it trusts anyone's header.
	LBSources []string `yaml:"lb_sources" json:"lb_sources,omitempty"`
}

type proxycheckConfig struct {
	sets        []listenerSet
	count       int
	timeout     time.Duration
	noProxyWait time.Duration
	proxySource netip.Addr
}

type listenerSet struct {
	ListenerSpec
	lb []netip.Addr
}

// validate returns every problem in s, with paths relative to the spec.
func (s ProxycheckSpec) validate() (proxycheckConfig, error) {
	var ps config.Problems
	c := proxycheckConfig{count: DefaultProxycheckCount, timeout: DefaultProxycheckTimeout, noProxyWait: DefaultNoProxyWait}
	if len(s.Listeners) == 0 {
		ps.Add("listeners", "required: at least one listener set (public, alt, health, stock addresses)")
	}
	names := map[string]bool{}
	for i, l := range s.Listeners {
		p := fmt.Sprintf("listeners[%d]", i)
		set := listenerSet{ListenerSpec: l}
		if set.Name == "" {
			set.Name = fmt.Sprintf("set%d", i+1)
		}
		if names[set.Name] {
			ps.Add(p+".name", "%q is used twice", set.Name)
		}
		names[set.Name] = true
		switch l.Protocol {
		case "":
			set.Protocol = "smtp"
		case "smtp", "imap":
		default:
			ps.Add(p+".protocol", "%q is not a protocol (valid: smtp, imap)", l.Protocol)
		}
		hasAddr := false
		for _, a := range []struct{ field, addr string }{{"public", l.Public}, {"alt", l.Alt}, {"health", l.Health}, {"stock", l.Stock}} {
			if a.addr == "" {
				continue
			}
			hasAddr = true
			if _, port, err := net.SplitHostPort(a.addr); err != nil || port == "" {
				ps.Add(p+"."+a.field, "%q is not host:port", a.addr)
			}
		}
		if !hasAddr {
			ps.Add(p, "no addresses: give at least one of public, alt, health, stock")
		}
		for j, src := range l.LBSources {
			a, err := netip.ParseAddr(src)
			if err != nil {
				ps.Add(fmt.Sprintf("%s.lb_sources[%d]", p, j), "%q is not an IP address", src)
				continue
			}
			set.lb = append(set.lb, a.Unmap())
		}
		c.sets = append(c.sets, set)
	}
	switch {
	case s.Count < 0 || s.Count > 1000:
		ps.Add("count", "%d is out of range (1 to 1000)", s.Count)
	case s.Count > 0:
		c.count = s.Count
	}
	parseDur := func(field, v string, dst *time.Duration) {
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			ps.Add(field, "%q is not a positive duration (e.g. 10s)", v)
			return
		}
		*dst = d
	}
	parseDur("timeout", s.Timeout, &c.timeout)
	parseDur("no_proxy_wait", s.NoProxyWait, &c.noProxyWait)
	src := s.ProxySource
	if src == "" {
		src = DefaultProxySource
	}
	if a, err := netip.ParseAddr(src); err != nil {
		ps.Add("proxy_source", "%q is not an IP address", s.ProxySource)
	} else {
		c.proxySource = a.Unmap()
	}
	return c, ps.Err()
}

// Proxycheck checks listener sets behind a PROXY-protocol load balancer.
type Proxycheck struct {
	cfg     proxycheckConfig
	deps    job.Deps
	metrics *proxycheckMetrics
}

var _ job.Job = (*Proxycheck)(nil)

// NewProxycheck validates spec and registers the check's metrics on
// deps.Registerer (none when nil).
func NewProxycheck(spec ProxycheckSpec, deps job.Deps) (*Proxycheck, error) {
	cfg, err := spec.validate()
	if err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newProxycheckMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	return &Proxycheck{cfg: cfg, deps: deps, metrics: m}, nil
}

// Run is the job: Check, metrics, Result.
func (p *Proxycheck) Run(ctx context.Context, log *slog.Logger) job.Result {
	rep := p.Check(ctx, log)
	p.metrics.observe(rep)
	return rep.Result()
}

// Check runs every check of every listener set, one connection at a time
// (the public path's N connections in a row are the point).
func (p *Proxycheck) Check(ctx context.Context, log *slog.Logger) *ProxycheckReport {
	if log == nil {
		log = p.deps.Logger
	}
	rep := &ProxycheckReport{Started: p.deps.Now(), ProxySource: p.cfg.proxySource.String()}
	connected := false
	for _, set := range p.cfg.sets {
		lr := ListenerReport{Name: set.Name, Protocol: set.Protocol}
		if set.Public != "" {
			lr.Public = p.checkPublic(ctx, set, log, &connected)
		}
		if set.Alt != "" {
			lr.Checks = append(lr.Checks, p.checkAlt(ctx, set, &connected)...)
		}
		for _, r := range []struct{ role, addr string }{{"health", set.Health}, {"stock", set.Stock}} {
			if r.addr == "" {
				continue
			}
			a := greetOnce(ctx, r.addr, set.Protocol, netip.Addr{}, p.cfg.timeout)
			connected = connected || a.connected
			lr.Checks = append(lr.Checks, roleCheck(r.role, r.addr, "greets without PROXY", a.ok(), a))
		}
		rep.Sets = append(rep.Sets, lr)
		if ctx.Err() != nil {
			break
		}
	}
	rep.findings(p.cfg)
	rep.Duration = p.deps.Now().Sub(rep.Started)
	switch {
	case ctx.Err() != nil:
		rep.Status, rep.Error = job.StatusIncomplete, fmt.Sprintf("stopped before every check ran: %v", context.Cause(ctx))
	case !connected:
		rep.Status, rep.Error = job.StatusIncomplete, "nothing answered: no listener accepted a connection"
	case len(rep.Findings) > 0:
		rep.Status = job.StatusFailed
	default:
		rep.Status = job.StatusOK
	}
	log.Info("mail proxycheck done", "status", rep.Status, "sets", len(rep.Sets), "findings", len(rep.Findings))
	return rep
}

func (p *Proxycheck) checkPublic(ctx context.Context, set listenerSet, log *slog.Logger, connected *bool) *PublicPath {
	pp := &PublicPath{Addr: set.Public, Failures: map[string]int{}}
	var lat []time.Duration
	for i := 0; i < p.cfg.count && ctx.Err() == nil; i++ {
		a := greetOnce(ctx, set.Public, set.Protocol, netip.Addr{}, p.cfg.timeout)
		*connected = *connected || a.connected
		pp.Attempts++
		if a.ok() {
			pp.Greeted++
			lat = append(lat, a.elapsed)
			continue
		}
		pp.Failures[failureReason(a)]++
		if pp.FirstError == "" {
			pp.FirstError = describe(a)
		}
		log.Debug("public path attempt failed", "set", set.Name, "addr", set.Public, "attempt", i+1, "err", describe(a))
	}
	if pp.Attempts > 0 {
		pp.SuccessRatio = float64(pp.Greeted) / float64(pp.Attempts)
	}
	pp.P50, pp.P90, pp.Max = seconds(percentile(lat, 0.5)), seconds(percentile(lat, 0.9)), seconds(percentile(lat, 1))
	return pp
}

// checkAlt: greets after PROXY; silent without; and, when the load
// balancer's addresses are known, whether it trusted a header from us.
func (p *Proxycheck) checkAlt(ctx context.Context, set listenerSet, connected *bool) []RoleCheck {
	claimed := p.cfg.proxySource
	a := greetOnce(ctx, set.Alt, set.Protocol, claimed, p.cfg.timeout)
	*connected = *connected || a.connected
	checks := []RoleCheck{roleCheck("alt", set.Alt, "greets after a PROXY v2 header claiming "+claimed.String(), a.ok(), a)}
	if a.ok() && len(set.lb) > 0 {
		rc := RoleCheck{Role: "alt-trust", Addr: set.Alt, Want: "accepts PROXY only from the load balancer (" + joinAddrs(set.lb) + ")", OK: true,
			Detail: "probed from the load balancer's own address " + a.local.String()}
		if !containsAddr(set.lb, a.local) {
			rc.OK = false
			rc.Detail = "accepted a PROXY header from " + a.local.String()
		}
		checks = append(checks, rc)
	}
	s := silentWithoutProxy(ctx, set.Alt, set.Protocol, p.cfg.noProxyWait)
	*connected = *connected || s.connected
	silent := s.connected && len(s.greeting.Lines) == 0
	rc := roleCheck("alt-no-proxy", set.Alt, "stays silent without a PROXY header", silent, s)
	switch {
	case silent && s.err != nil && failureReason(s) == "closed without a complete greeting":
		rc.Detail = fmt.Sprintf("closed without a word after %s", s.elapsed.Round(time.Millisecond))
	case silent:
		rc.Detail = fmt.Sprintf("silent for %s", s.elapsed.Round(time.Millisecond))
	case s.connected:
		rc.Detail = fmt.Sprintf("greeted without PROXY: %q", clip(s.greeting.Lines[0]))
	}
	return append(checks, rc)
}

func roleCheck(role, addr, want string, ok bool, a greetAttempt) RoleCheck {
	rc := RoleCheck{Role: role, Addr: addr, Want: want, OK: ok, Connected: a.connected, Detail: describe(a)}
	if a.ok() {
		rc.Seconds = a.elapsed.Seconds()
	}
	return rc
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

func joinAddrs(list []netip.Addr) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
