package mail

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
)

// lintFile lints the haproxy.cfg the stack runs.
func lintFile(t *testing.T, path string) []LintFinding {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseHAProxy(path, data)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Lint(cfg, LintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// waitLog polls the stack's Postfix log for substr, for at most d.
func waitLog(s *labtest.MailStack, substr string, d time.Duration) []string {
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		if lines := s.PostfixLogLines(substr); len(lines) > 0 || time.Now().After(deadline) {
			return lines
		}
	}
}

// TestProxycheckReproducesTheIncident runs HAProxy's default `check` on the
// PROXY-requiring submission port: the checks' LOCAL header and reset make
// smtpd exit with the incident's fatal, master throttles the service, and
// proxycheck's public path reports the failures. mail lint flags the very
// config the stack runs.
func TestProxycheckReproducesTheIncident(t *testing.T) {
	t.Parallel()
	s := labtest.StartMailStack(t, labtest.MailStackOptions{HealthCheck: labtest.CheckProxyPort, CheckInterval: 500 * time.Millisecond})
	fatals := waitLog(s, "smtpd_peer_hostaddr_to_sockaddr", 15*time.Second)
	if len(fatals) == 0 {
		t.Fatalf("no smtpd_peer_hostaddr_to_sockaddr fatal in the Postfix log:\n%s", s.PostfixLog())
	}
	t.Logf("postfix: %s", fatals[0])
	// Master throttles the service once it reaps the failed smtpd.
	if len(waitLog(s, "throttling", 10*time.Second)) == 0 {
		t.Fatalf("master did not throttle smtpd:\n%s", s.PostfixLog())
	}

	p, err := NewProxycheck(ProxycheckSpec{
		Listeners: []ListenerSpec{{Name: "submission", Public: s.PublicSubmission, Health: s.Health, Stock: s.Submission}},
		Count:     5, Timeout: "2s",
	}, job.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	rep := p.Check(t.Context(), nil)
	var text strings.Builder
	rep.WriteText(&text)
	t.Logf("report:\n%s", text.String())
	if rep.Status != job.StatusFailed {
		t.Fatalf("status %s, want failed", rep.Status)
	}
	pub := rep.Sets[0].Public
	if pub.Greeted == pub.Attempts {
		t.Errorf("public path greeted %d of %d during the incident", pub.Greeted, pub.Attempts)
	}
	if len(rep.Findings) == 0 || rep.Findings[0].Kind != "public-failures" {
		t.Errorf("findings %+v, want public-failures first", rep.Findings)
	}
	if throttled := s.PostfixLogLines("throttling"); len(throttled) == 0 {
		t.Errorf("no throttling in the Postfix log")
	}

	fs := lintFile(t, s.HAProxyConfig)
	var flagged []string
	for _, f := range fs {
		if f.Kind == LintProxyCheck {
			flagged = append(flagged, f.Section)
		}
	}
	if !strings.Contains(strings.Join(flagged, ","), "backend submission_alt") {
		t.Errorf("lint did not flag backend submission_alt: %v", fs)
	}
}

// TestProxycheckPassesWithChecksOnTheHealthPort is the fix: every role of
// every listener set does what it must, and lint accepts the config. Then,
// told the load balancer's address, proxycheck reports that the alt ports
// accepted its forged PROXY header from 127.0.0.1, and Postfix logged the
// forged client address.
func TestProxycheckPassesWithChecksOnTheHealthPort(t *testing.T) {
	t.Parallel()
	s := labtest.StartMailStack(t, labtest.MailStackOptions{HealthCheck: labtest.CheckHealthPort, CheckInterval: 500 * time.Millisecond})
	time.Sleep(2 * time.Second) // let HAProxy run a few checks
	sets := []ListenerSpec{
		{Name: "smtp", Public: s.PublicSMTP, Alt: s.AltSMTP, Health: s.Health, Stock: s.SMTP},
		{Name: "submission", Public: s.PublicSubmission, Alt: s.AltSubmission, Health: s.Health, Stock: s.Submission},
		// Dovecot trusts PROXY only from haproxy_trusted_networks (the load
		// balancer), so its alt port is probed in the second run below.
		{Name: "imap", Protocol: "imap", Public: s.PublicIMAP, Stock: s.IMAP},
	}
	spec := ProxycheckSpec{Listeners: sets, Count: 5, Timeout: "5s", NoProxyWait: "1s"}
	p, err := NewProxycheck(spec, job.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	rep := p.Check(t.Context(), nil)
	var text strings.Builder
	rep.WriteText(&text)
	t.Logf("report:\n%s", text.String())
	if rep.Status != job.StatusOK {
		t.Fatalf("status %s, want ok; findings %+v\n%s", rep.Status, rep.Findings, s.PostfixLog())
	}
	if lines := s.PostfixLogLines("smtpd_peer_hostaddr_to_sockaddr"); len(lines) > 0 {
		t.Errorf("fatals with the checks on the health port: %v", lines)
	}
	if fs := lintFile(t, s.HAProxyConfig); len(fs) != 0 {
		t.Errorf("lint flagged the fixed config: %v", fs)
	}
	if len(s.PostfixLogLines("203.0.113.7")) == 0 {
		t.Errorf("Postfix did not log the client address claimed in the PROXY header")
	}

	// The forged-PROXY finding: labops is not the load balancer.
	sets[2].Alt = s.AltIMAP
	for i := range sets {
		sets[i].LBSources = []string{s.LBSource}
		sets[i].Public, sets[i].Health, sets[i].Stock = "", "", ""
	}
	p, err = NewProxycheck(ProxycheckSpec{Listeners: sets, Timeout: "5s", NoProxyWait: "1s"}, job.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	rep = p.Check(t.Context(), nil)
	// Postfix's postscreen and smtpd trust anyone's header; Dovecot trusts
	// only haproxy_trusted_networks (the load balancer) and refuses ours.
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Kind+" "+strings.Fields(f.Subject)[0])
	}
	want := "alt-trusts-any-proxy smtp,alt-trusts-any-proxy submission,alt-refuses-proxy imap"
	if strings.Join(got, ",") != want {
		t.Errorf("findings %v, want %s; %+v", got, want, rep.Findings)
	}
}
