package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

// RoundtripSpec is the mail-roundtrip job's section of the config: one
// sender (smtp or brevo) and the IMAP mailbox the message must reach.
// Secrets come from *_file fields, or from ${ENV} in password/api_key.
type RoundtripSpec struct {
	From           string     `yaml:"from" json:"from"`
	To             string     `yaml:"to" json:"to"`
	Timeout        string     `yaml:"timeout" json:"timeout"`
	ExpectClientIP string     `yaml:"expect_client_ip" json:"expect_client_ip"`
	SMTP           *SMTPSpec  `yaml:"smtp" json:"smtp"`
	Brevo          *BrevoSpec `yaml:"brevo" json:"brevo"`
	IMAP           IMAPSpec   `yaml:"imap" json:"imap"`
}

// SMTPSpec is SMTP submission.
type SMTPSpec struct {
	Addr               string `yaml:"addr" json:"addr"`
	TLS                string `yaml:"tls" json:"tls"` // starttls (default), implicit, none
	Username           string `yaml:"username" json:"username"`
	PasswordFile       string `yaml:"password_file" json:"password_file"`
	Password           string `yaml:"password" json:"-"` // give as ${ENV}
	CAFile             string `yaml:"ca_file" json:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
	Helo               string `yaml:"helo" json:"helo"`
	// SourceIP is the local address to send from (multi-homed hosts).
	SourceIP string `yaml:"source_ip" json:"source_ip"`
}

// BrevoSpec is Brevo's transactional API.
type BrevoSpec struct {
	URL        string `yaml:"url" json:"url"`
	APIKeyFile string `yaml:"api_key_file" json:"api_key_file"`
	APIKey     string `yaml:"api_key" json:"-"` // give as ${ENV}
}

// IMAPSpec is where the message must arrive.
type IMAPSpec struct {
	Addr               string `yaml:"addr" json:"addr"`
	TLS                string `yaml:"tls" json:"tls"` // implicit (default), starttls, none
	Username           string `yaml:"username" json:"username"`
	PasswordFile       string `yaml:"password_file" json:"password_file"`
	Password           string `yaml:"password" json:"-"` // give as ${ENV}
	Mailbox            string `yaml:"mailbox" json:"mailbox"`
	CAFile             string `yaml:"ca_file" json:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
	// PollInterval, when set, polls (NOOP + SEARCH) at this interval
	// instead of waiting in IDLE: Dovecot delays IDLE notifications by
	// 500 ms, polling measures the arrival closer.
	PollInterval string `yaml:"poll_interval" json:"poll_interval"`
}

// roundtripConfig is a validated spec; secrets are read at each run.
type roundtripConfig struct {
	spec     RoundtripSpec
	timeout  time.Duration
	expectIP netip.Addr
	smtpTLS  TLSMode
	imapTLS  TLSMode
	poll     time.Duration
}

// Validate checks s and returns every problem, with paths relative to the
// spec.
func (s RoundtripSpec) validate() (roundtripConfig, error) {
	var ps config.Problems
	c := roundtripConfig{spec: s, timeout: DefaultRoundtripTimeout}
	for _, f := range []struct{ path, v string }{{"from", s.From}, {"to", s.To}} {
		if f.v == "" {
			ps.Add(f.path, "required (an address such as probe@example.org)")
		} else if !strings.Contains(f.v, "@") || strings.ContainsAny(f.v, " <>\r\n") {
			ps.Add(f.path, "%q is not a bare address such as probe@example.org", f.v)
		}
	}
	if s.Timeout != "" {
		d, err := time.ParseDuration(s.Timeout)
		if err != nil || d <= 0 {
			ps.Add("timeout", "%q is not a positive duration (e.g. 2m)", s.Timeout)
		} else {
			c.timeout = d
		}
	}
	if s.ExpectClientIP != "" {
		a, err := netip.ParseAddr(s.ExpectClientIP)
		if err != nil {
			ps.Add("expect_client_ip", "%q is not an IP address", s.ExpectClientIP)
		} else {
			c.expectIP = a.Unmap()
		}
	}
	switch {
	case s.SMTP == nil && s.Brevo == nil:
		ps.Add("", "set smtp or brevo: how the probe is sent")
	case s.SMTP != nil && s.Brevo != nil:
		ps.Add("", "set smtp or brevo, not both")
	}
	if s.SMTP != nil {
		m, err := ParseTLSMode(s.SMTP.TLS, TLSStartTLS)
		if err != nil {
			ps.Add("smtp.tls", "%v", err)
		}
		c.smtpTLS = m
		checkHostPort(&ps, "smtp.addr", s.SMTP.Addr)
		if s.SMTP.SourceIP != "" {
			if _, err := netip.ParseAddr(s.SMTP.SourceIP); err != nil {
				ps.Add("smtp.source_ip", "%q is not an IP address", s.SMTP.SourceIP)
			}
		}
		checkLogin(&ps, "smtp", s.SMTP.Username, s.SMTP.PasswordFile, s.SMTP.Password, false)
	}
	if s.Brevo != nil {
		if s.Brevo.URL != "" {
			if u, err := url.Parse(s.Brevo.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				ps.Add("brevo.url", "%q is not an http(s) URL", s.Brevo.URL)
			}
		}
		switch {
		case s.Brevo.APIKeyFile == "" && s.Brevo.APIKey == "":
			ps.Add("brevo", "set api_key_file, or api_key as ${ENV}")
		case s.Brevo.APIKeyFile != "" && s.Brevo.APIKey != "":
			ps.Add("brevo", "set api_key_file or api_key, not both")
		}
	}
	m, err := ParseTLSMode(s.IMAP.TLS, TLSImplicit)
	if err != nil {
		ps.Add("imap.tls", "%v", err)
	}
	c.imapTLS = m
	if s.IMAP.PollInterval != "" {
		d, err := time.ParseDuration(s.IMAP.PollInterval)
		if err != nil || d < 10*time.Millisecond {
			ps.Add("imap.poll_interval", "%q is not a duration of 10ms or more (e.g. 50ms)", s.IMAP.PollInterval)
		} else {
			c.poll = d
		}
	}
	checkHostPort(&ps, "imap.addr", s.IMAP.Addr)
	checkLogin(&ps, "imap", s.IMAP.Username, s.IMAP.PasswordFile, s.IMAP.Password, true)
	return c, ps.Err()
}

func checkHostPort(ps *config.Problems, path, addr string) {
	if addr == "" {
		ps.Add(path, "required (host:port)")
		return
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		ps.Add(path, "%q is not host:port", addr)
	}
}

func checkLogin(ps *config.Problems, path, user, file, inline string, required bool) {
	switch {
	case file != "" && inline != "":
		ps.Add(path, "set password_file or password, not both")
	case user == "" && (file != "" || inline != ""):
		ps.Add(path+".username", "required with a password")
	case user != "" && file == "" && inline == "":
		ps.Add(path, "set password_file, or password as ${ENV}, for username %q", user)
	case user == "" && required:
		ps.Add(path+".username", "required")
	}
}

// readSecret returns the inline value or the file's content without its
// trailing newline. The error names the file, never the content.
func readSecretValue(file, inline string) (string, error) {
	if file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading secret: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", file)
	}
	return s, nil
}

// roundtrip builds the probe with the secrets read now, so a rotated
// secret is picked up without a restart.
func (c roundtripConfig) roundtrip(deps job.Deps, log *slog.Logger) (*Roundtrip, error) {
	s := c.spec
	rt := &Roundtrip{From: s.From, To: s.To, Timeout: c.timeout, ExpectClientIP: c.expectIP, Now: deps.Now, Logger: log}
	switch {
	case s.SMTP != nil:
		pw, err := readSecretValue(s.SMTP.PasswordFile, s.SMTP.Password)
		if err != nil {
			return nil, fmt.Errorf("smtp password: %w", err)
		}
		rt.Sender = &SMTPSender{Addr: s.SMTP.Addr, TLS: c.smtpTLS, Username: s.SMTP.Username, Password: pw, Helo: s.SMTP.Helo, SourceIP: s.SMTP.SourceIP,
			TLSOpts: TLSOptions{CAFile: s.SMTP.CAFile, InsecureSkipVerify: s.SMTP.InsecureSkipVerify}}
	default:
		key, err := readSecretValue(s.Brevo.APIKeyFile, s.Brevo.APIKey)
		if err != nil {
			return nil, fmt.Errorf("brevo api key: %w", err)
		}
		rt.Sender = &BrevoSender{URL: s.Brevo.URL, APIKey: key, Client: &http.Client{Timeout: c.timeout}}
	}
	pw, err := readSecretValue(s.IMAP.PasswordFile, s.IMAP.Password)
	if err != nil {
		return nil, fmt.Errorf("imap password: %w", err)
	}
	rt.Mailbox = &IMAP{Addr: s.IMAP.Addr, TLS: c.imapTLS, Username: s.IMAP.Username, Password: pw, Mailbox: s.IMAP.Mailbox, Poll: c.poll,
		TLSOpts: TLSOptions{CAFile: s.IMAP.CAFile, InsecureSkipVerify: s.IMAP.InsecureSkipVerify}}
	return rt, nil
}

// NewRoundtrip validates spec and builds one probe with its secrets read
// now: the one path from settings to a probe, for the job and for
// `labops mail roundtrip`. Invalid settings come back as config.Problems.
func NewRoundtrip(spec RoundtripSpec, now func() time.Time, log *slog.Logger) (*Roundtrip, error) {
	cfg, err := spec.validate()
	if err != nil {
		return nil, err
	}
	return cfg.roundtrip(job.Deps{Now: now}, log)
}

// RoundtripKind is the mail-roundtrip job kind: a scheduled `mail roundtrip`.
func RoundtripKind() job.Kind {
	return job.NewKind("mail-roundtrip",
		"send a tagged message (SMTP submission or Brevo) and time its arrival in IMAP",
		NewRoundtripJob).WithMetrics(job.MetricsOf(newRoundtripMetrics))
}

// RoundtripJob is a configured mail-roundtrip job.
type RoundtripJob struct {
	cfg     roundtripConfig
	deps    job.Deps
	metrics *roundtripMetrics
}

var _ job.Job = (*RoundtripJob)(nil)

// NewRoundtripJob validates spec and registers the metrics.
func NewRoundtripJob(spec RoundtripSpec, deps job.Deps) (*RoundtripJob, error) {
	cfg, err := spec.validate()
	if err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	m, err := newRoundtripMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	return &RoundtripJob{cfg: cfg, deps: deps, metrics: m}, nil
}

// Run sends one probe and waits for it.
func (j *RoundtripJob) Run(ctx context.Context, log *slog.Logger) job.Result {
	start := j.deps.Now()
	rt, err := j.cfg.roundtrip(j.deps, log)
	if err != nil {
		j.metrics.success.Set(0)
		return job.Result{Status: job.StatusIncomplete, Error: err.Error(), Started: start, Duration: j.deps.Now().Sub(start)}
	}
	rep := rt.Run(ctx)
	j.metrics.observe(rep)
	attrs := []any{"status", rep.Status, "sender", rep.Sender, "mailbox", rep.Mailbox}
	if rep.Client != nil {
		attrs = append(attrs, "client_ip", rep.Client.FromIP)
	}
	if !rep.SeenAt.IsZero() {
		attrs = append(attrs, "roundtrip_seconds", rep.RoundtripSeconds, "send_seconds", rep.SendSeconds)
	}
	if rep.Error != "" {
		attrs = append(attrs, "err", rep.Error)
	}
	log.Info("mail roundtrip done", attrs...)
	return rep.Result()
}

type roundtripMetrics struct {
	success                           prometheus.Gauge
	seconds, sendSeconds, lastSuccess *prometheus.GaugeVec
}

func newRoundtripMetrics(reg prometheus.Registerer) (*roundtripMetrics, error) {
	// Vectors without labels gather nothing until first set, so a pushed
	// failure never overwrites the last measured times with 0.
	v := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, nil)
	}
	m := &roundtripMetrics{
		success:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "labops_mail_roundtrip_success", Help: "Whether the last probe message arrived in IMAP in time, from the expected client address when one is set (1) or not (0)."}),
		seconds:     v("labops_mail_roundtrip_seconds", "Seconds from sending the last probe that arrived to first seeing it in IMAP."),
		sendSeconds: v("labops_mail_roundtrip_send_seconds", "Seconds the sender (SMTP submission or HTTP API) took to accept the last probe it accepted."),
		lastSuccess: v("labops_mail_roundtrip_last_success_timestamp_seconds", "Unix time at which a probe last arrived as expected."),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.success, m.seconds, m.sendSeconds, m.lastSuccess} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("registering mail-roundtrip metrics: %w", err)
			}
			switch existing := are.ExistingCollector.(type) {
			case prometheus.Gauge:
				m.success = existing
			case *prometheus.GaugeVec:
				switch c {
				case m.seconds:
					m.seconds = existing
				case m.sendSeconds:
					m.sendSeconds = existing
				case m.lastSuccess:
					m.lastSuccess = existing
				}
			default:
				return nil, fmt.Errorf("registering mail-roundtrip metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *roundtripMetrics) observe(r *RoundtripReport) {
	ok := 0.0
	if r.Status == job.StatusOK {
		ok = 1
		m.lastSuccess.WithLabelValues().Set(float64(r.SeenAt.UnixNano()) / 1e9)
	}
	m.success.Set(ok)
	if !r.AcceptedAt.IsZero() {
		m.sendSeconds.WithLabelValues().Set(r.SendSeconds)
	}
	if !r.SeenAt.IsZero() {
		m.seconds.WithLabelValues().Set(r.RoundtripSeconds)
	}
}
