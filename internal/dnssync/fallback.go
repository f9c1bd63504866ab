package dnssync

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/labops/labops/internal/job"
)

// ResolvConf is what a resolv.conf says about resolvers.
type ResolvConf struct {
	Nameservers []string      // host:port
	Timeout     time.Duration // options timeout:N (default 5s)
	Attempts    int           // options attempts:N (default 2)
}

// ParseResolvConf reads nameserver lines and the timeout and attempts
// options, as glibc does; everything else is ignored.
func ParseResolvConf(data []byte) (ResolvConf, error) {
	rc := ResolvConf{Timeout: 5 * time.Second, Attempts: 2}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			ip := net.ParseIP(strings.SplitN(f[1], "%", 2)[0])
			if ip == nil {
				return rc, fmt.Errorf("nameserver %q is not an IP address", f[1])
			}
			rc.Nameservers = append(rc.Nameservers, net.JoinHostPort(ip.String(), "53"))
		case "options":
			for _, o := range f[1:] {
				k, v, ok := strings.Cut(o, ":")
				n, err := strconv.Atoi(v)
				if !ok || err != nil {
					continue
				}
				switch k {
				case "timeout":
					rc.Timeout = time.Duration(min(max(n, 1), 30)) * time.Second
				case "attempts":
					rc.Attempts = min(max(n, 1), 5)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return rc, err
	}
	return rc, nil
}

// FallbackOptions configure one fallback check.
type FallbackOptions struct {
	// Resolvers in the order a client tries them (host:port).
	Resolvers []string
	// Name and Type are what must resolve (Type default A).
	Name string
	Type string
	// Timeout and Attempts are the client's, per resolver (resolv.conf's
	// timeout and attempts; defaults 1s and 1).
	Timeout  time.Duration
	Attempts int
	// Bound is how long resolving may take with the first resolver
	// unreachable (default Timeout*Attempts + 1s).
	Bound time.Duration
	// Unreachable stands in for the first resolver in the drill (default
	// 192.0.2.1:53, TEST-NET-1, which no network routes: a blackhole).
	Unreachable string
	Now         func() time.Time
}

// ResolverResult is one resolver on its own.
type ResolverResult struct {
	Addr    string        `json:"addr"`
	Up      bool          `json:"up"`
	Rcode   string        `json:"rcode,omitempty"`
	Latency time.Duration `json:"latency"`
	// NSID is the server's name for itself (RFC 5001), when it gives one.
	NSID  string `json:"nsid,omitempty"`
	Error string `json:"error,omitempty"`
}

// FallbackReport is one fallback check.
type FallbackReport struct {
	Resolvers []ResolverResult `json:"resolvers"`
	// The drill: the first resolver replaced by an unreachable address.
	DrillOK       bool          `json:"drill_ok"`
	DrillAnswered string        `json:"drill_answered_by,omitempty"`
	DrillTook     time.Duration `json:"drill_took"`
	Bound         time.Duration `json:"bound"`
	Findings      []job.Finding `json:"findings"`
	Status        job.Status    `json:"status"`
	Started       time.Time     `json:"started"`
	Duration      time.Duration `json:"duration"`
}

func (o *FallbackOptions) defaults() {
	if o.Type == "" {
		o.Type = "A"
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 1
	}
	if o.Bound <= 0 {
		o.Bound = o.Timeout*time.Duration(o.Attempts) + time.Second
	}
	if o.Unreachable == "" {
		o.Unreachable = "192.0.2.1:53"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Fallback checks each resolver on its own (it answers the query, and
// names itself by NSID where it can), then drills the fallback: with the
// first resolver unreachable, the query still resolves through the next
// ones, tried in order as a stub resolver does, within Bound. A resolver
// that does not answer, a failed or slow drill, and a list of one (no
// fallback at all) are findings.
func Fallback(ctx context.Context, o FallbackOptions) *FallbackReport {
	o.defaults()
	rep := &FallbackReport{Started: o.Now(), Bound: o.Bound, Findings: []job.Finding{}, Status: job.StatusOK}
	defer func() { rep.Duration = o.Now().Sub(rep.Started) }()
	find := func(kind, subject, format string, args ...any) {
		rep.Findings = append(rep.Findings, job.Finding{Kind: kind, Subject: subject, Message: fmt.Sprintf(format, args...)})
		rep.Status = job.StatusFailed
	}
	qtype, ok := dns.StringToType[strings.ToUpper(o.Type)]
	if !ok {
		find("bad-query", o.Type, "%q is not a record type", o.Type)
		rep.Status = job.StatusIncomplete
		return rep
	}
	for _, r := range o.Resolvers {
		res := ResolverResult{Addr: r}
		start := o.Now()
		msg, err := resolveOnce(ctx, r, o.Name, qtype, o.Timeout, true)
		res.Latency = o.Now().Sub(start)
		switch {
		case err != nil:
			res.Error = err.Error()
			find("resolver-down", r, "no answer: %v", err)
		case msg.Rcode != dns.RcodeSuccess || len(msg.Answer) == 0:
			res.Rcode = dns.RcodeToString[msg.Rcode]
			find("resolver-failed", r, "%s %s answered %s with %d records", o.Name, o.Type, res.Rcode, len(msg.Answer))
		default:
			res.Up, res.Rcode = true, "NOERROR"
			if opt := msg.IsEdns0(); opt != nil {
				for _, e := range opt.Option {
					if n, ok := e.(*dns.EDNS0_NSID); ok {
						res.NSID = decodeNSID(n.Nsid)
					}
				}
			}
		}
		rep.Resolvers = append(rep.Resolvers, res)
	}
	if len(o.Resolvers) < 2 {
		find("no-fallback", "resolvers", "%d resolver(s) configured: a client has nowhere to fall back to", len(o.Resolvers))
		return rep
	}
	drill := append([]string{o.Unreachable}, o.Resolvers[1:]...)
	start := o.Now()
	by, err := stubResolve(ctx, drill, o.Name, qtype, o.Timeout, o.Attempts)
	rep.DrillTook = o.Now().Sub(start)
	switch {
	case err != nil:
		find("fallback-failed", o.Name, "with the first resolver unreachable, %s did not resolve: %v", o.Name, err)
	case rep.DrillTook > o.Bound:
		rep.DrillAnswered = by
		find("fallback-slow", o.Name, "with the first resolver unreachable, %s resolved through %s in %s, more than the bound of %s",
			o.Name, by, rep.DrillTook.Round(time.Millisecond), o.Bound)
	default:
		rep.DrillOK, rep.DrillAnswered = true, by
	}
	return rep
}

// decodeNSID turns the hex NSID into text when it is printable.
func decodeNSID(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		return h
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return h
		}
	}
	return string(b)
}

// resolveOnce sends one recursive query to addr over UDP (TCP when
// truncated), asking for the NSID when nsid is set.
func resolveOnce(ctx context.Context, addr, name string, qtype uint16, timeout time.Duration, nsid bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	if nsid {
		m.SetEdns0(1232, false)
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
	}
	c := &dns.Client{Timeout: timeout}
	r, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, addr)
	}
	return r, err
}

// stubResolve tries the resolvers in order, attempts rounds, as glibc's
// stub does, and returns the one that answered.
func stubResolve(ctx context.Context, resolvers []string, name string, qtype uint16, timeout time.Duration, attempts int) (string, error) {
	var last error
	for range attempts {
		for _, r := range resolvers {
			msg, err := resolveOnce(ctx, r, name, qtype, timeout, false)
			if err != nil {
				last = fmt.Errorf("%s: %w", r, err)
				if ctx.Err() != nil {
					return "", ctx.Err()
				}
				continue
			}
			if msg.Rcode == dns.RcodeSuccess && len(msg.Answer) > 0 {
				return r, nil
			}
			last = fmt.Errorf("%s answered %s", r, dns.RcodeToString[msg.Rcode])
		}
	}
	return "", last
}

// Result turns the report into the job contract's result.
func (r *FallbackReport) Result() job.Result {
	up := 0
	for _, x := range r.Resolvers {
		if x.Up {
			up++
		}
	}
	return job.Result{Status: r.Status, Findings: r.Findings, Started: r.Started, Duration: r.Duration,
		Counters: map[string]float64{"resolvers": float64(len(r.Resolvers)), "resolvers_up": float64(up), "drill_seconds": r.DrillTook.Seconds()}}
}
