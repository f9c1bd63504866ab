package mail

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
)

// yamlDecoder decodes spec strictly, as the config file does.
func yamlDecoder(spec string) func(any) error {
	return func(v any) error {
		dec := yaml.NewDecoder(strings.NewReader(spec))
		dec.KnownFields(true)
		return dec.Decode(v)
	}
}

func TestRoundtripKindValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		want config.Problems
	}{
		{
			spec: `{imap: {}}`,
			want: config.Problems{
				{Path: "from", Msg: "required (an address such as probe@example.org)"},
				{Path: "to", Msg: "required (an address such as probe@example.org)"},
				{Path: "", Msg: "set smtp or brevo: how the probe is sent"},
				{Path: "imap.addr", Msg: "required (host:port)"},
				{Path: "imap.username", Msg: "required"},
			},
		},
		{
			spec: `
from: Probe <p@example.org>
to: p@example.org
timeout: -1s
expect_client_ip: 203.0.113.300
smtp: {addr: mail.example.org, tls: ssl, username: p, password_file: /p, password: x, source_ip: nope}
brevo: {url: "ftp://x", api_key: k}
imap: {addr: "mail.example.org:993", tls: tls, password: x, poll_interval: 1ms}`,
			want: config.Problems{
				{Path: "from", Msg: `"Probe <p@example.org>" is not a bare address such as probe@example.org`},
				{Path: "timeout", Msg: `"-1s" is not a positive duration (e.g. 2m)`},
				{Path: "expect_client_ip", Msg: `"203.0.113.300" is not an IP address`},
				{Path: "", Msg: "set smtp or brevo, not both"},
				{Path: "smtp.tls", Msg: `"ssl" is not a TLS mode (valid: starttls, implicit, none)`},
				{Path: "smtp.addr", Msg: `"mail.example.org" is not host:port`},
				{Path: "smtp.source_ip", Msg: `"nope" is not an IP address`},
				{Path: "smtp", Msg: "set password_file or password, not both"},
				{Path: "brevo.url", Msg: `"ftp://x" is not an http(s) URL`},
				{Path: "imap.tls", Msg: `"tls" is not a TLS mode (valid: starttls, implicit, none)`},
				{Path: "imap.poll_interval", Msg: `"1ms" is not a duration of 10ms or more (e.g. 50ms)`},
				{Path: "imap.username", Msg: "required with a password"},
			},
		},
		{
			spec: `{from: a@x, to: a@x, brevo: {}, smtp: null, imap: {addr: "h:993", username: u}}`,
			want: config.Problems{
				{Path: "brevo", Msg: "set api_key_file, or api_key as ${ENV}"},
				{Path: "imap", Msg: `set password_file, or password as ${ENV}, for username "u"`},
			},
		},
	} {
		_, err := RoundtripKind().New(yamlDecoder(tc.spec), job.Deps{Registerer: prometheus.NewRegistry()})
		var got config.Problems
		if !errors.As(err, &got) {
			t.Fatalf("%s: error %v is not config.Problems", tc.spec, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.spec, diff)
		}
	}
	if _, err := RoundtripKind().New(yamlDecoder(`{from: a@x, bogus: 1}`), job.Deps{}); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown field: error %v, want it named", err)
	}
}

// The job runs the probe with secrets read from files at run time and
// sets its gauges; a failed run sets success 0 and keeps the last
// success time and round-trip seconds out of the gathered metrics.
func TestRoundtripJobMetrics(t *testing.T) {
	t.Parallel()
	st := startMemStack(t, memStackOptions{})
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(st.Pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := fmt.Sprintf(`
from: %[1]s
to: %[1]s
timeout: 20s
expect_client_ip: 127.0.0.1
smtp: {addr: "%[2]s", tls: implicit, username: %[1]s, password_file: %[3]s, ca_file: %[4]s}
imap: {addr: "%[5]s", username: %[1]s, password: %[6]s, ca_file: %[4]s, poll_interval: 20ms}
`, st.Address, st.SMTPSAddr, pwFile, st.CAFile, st.IMAPAddr, st.Pass)
	reg := prometheus.NewRegistry()
	seen := time.Now()
	j, err := RoundtripKind().New(yamlDecoder(spec), job.Deps{Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	res := j.Run(t.Context(), slog.New(slog.DiscardHandler))
	if res.Status != job.StatusOK {
		t.Fatalf("status %s, error %q, findings %v", res.Status, res.Error, res.Findings)
	}
	if res.Counters["roundtrip_seconds"] <= 0 {
		t.Errorf("counters %v", res.Counters)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP labops_mail_roundtrip_success Whether the last probe message arrived in IMAP in time, from the expected client address when one is set (1) or not (0).
# TYPE labops_mail_roundtrip_success gauge
labops_mail_roundtrip_success 1
`), "labops_mail_roundtrip_success"); err != nil {
		t.Error(err)
	}
	names := gatheredNames(t, reg)
	for _, n := range []string{"labops_mail_roundtrip_seconds", "labops_mail_roundtrip_send_seconds", "labops_mail_roundtrip_last_success_timestamp_seconds"} {
		if !names[n] {
			t.Errorf("%s not gathered after a success", n)
		}
	}
	if ts := testutil.ToFloat64(j.(*RoundtripJob).metrics.lastSuccess); ts < float64(seen.Unix()) {
		t.Errorf("last success %v is before the run", ts)
	}

	// A rotated (wrong) password: the next run fails, on a fresh registry
	// as a one-shot run has, and pushes success 0 and nothing else.
	if err := os.WriteFile(pwFile, []byte("rotated-wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg2 := prometheus.NewRegistry()
	j2, err := RoundtripKind().New(yamlDecoder(spec), job.Deps{Registerer: reg2})
	if err != nil {
		t.Fatal(err)
	}
	res = j2.Run(t.Context(), slog.New(slog.DiscardHandler))
	if res.Status != job.StatusFailed {
		t.Fatalf("status %s after a wrong password, want failed", res.Status)
	}
	if err := testutil.GatherAndCompare(reg2, strings.NewReader(`
# HELP labops_mail_roundtrip_success Whether the last probe message arrived in IMAP in time, from the expected client address when one is set (1) or not (0).
# TYPE labops_mail_roundtrip_success gauge
labops_mail_roundtrip_success 0
`)); err != nil {
		t.Error(err)
	}
	// Serve re-creates a job on the same registry: registration reuses.
	if _, err := RoundtripKind().New(yamlDecoder(spec), job.Deps{Registerer: reg}); err != nil {
		t.Errorf("second registration on one registry: %v", err)
	}
}

func gatheredNames(t *testing.T, g prometheus.Gatherer) map[string]bool {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, mf := range mfs {
		m[mf.GetName()] = true
	}
	return m
}

func TestRoundtripJobSecretFileMissing(t *testing.T) {
	t.Parallel()
	spec := `{from: a@x.test, to: a@x.test, brevo: {api_key_file: /nonexistent/key}, imap: {addr: "127.0.0.1:1", username: u, password: p}}`
	j, err := RoundtripKind().New(yamlDecoder(spec), job.Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	res := j.Run(t.Context(), slog.New(slog.DiscardHandler))
	if res.Status != job.StatusIncomplete || !strings.Contains(res.Error, "brevo api key: reading secret") {
		t.Errorf("status %s error %q; want incomplete naming the key file", res.Status, res.Error)
	}
}
