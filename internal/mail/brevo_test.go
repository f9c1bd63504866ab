package mail

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/labops/labops/internal/job"
)

func TestBrevoSenderAccepted(t *testing.T) {
	t.Parallel()
	st := startMemStack(t, memStackOptions{})
	fb := startFakeBrevo(t, st.MXAddr, "127.0.0.3")
	s := &BrevoSender{URL: fb.URL, APIKey: fb.Key}
	m := NewMessage("probe@example.test", st.Address, time.Now())
	acc, err := s.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(acc.ID, "@smtp-relay.mailin.fr>") {
		t.Errorf("messageId %q", acc.ID)
	}
	reqs := fb.received()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Sender.Email != m.From || len(r.To) != 1 || r.To[0].Email != m.To || r.Subject != m.Subject() || r.Headers[ProbeHeader] != m.Token || r.TextContent == "" {
		t.Errorf("request %+v does not carry the probe", r)
	}
}

func TestBrevoSenderErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		key    string // "" means the right key
		status int
		body   string
		want   error
		says   string
	}{
		{name: "wrong key", key: "xkeysib-wrong", want: ErrAuthFailed, says: "401 unauthorized: Key not found"},
		{name: "unrecognised IP", status: 401, body: `{"code":"unauthorized","message":"We have detected you are using an unrecognised IP address 192.0.2.1. If you performed this action make sure to add the new IP address in this link: https://app.brevo.com/security/authorised_ips"}`,
			want: ErrAuthFailed, says: "unrecognised IP address"},
		{name: "no credits", status: 402, body: `{"code":"not_enough_credits","message":"Not enough credits"}`, want: ErrRejected, says: "402 not_enough_credits"},
		{name: "account not activated", status: 403, body: `{"code":"permission_denied","message":"Unable to send email. Your SMTP account is not yet activated. Please contact us at contact@brevo.com to request activation"}`,
			want: ErrRejected, says: "403 permission_denied"},
		{name: "bad parameter", status: 400, body: `{"code":"invalid_parameter","message":"email is not valid in to"}`, want: ErrRejected, says: "invalid_parameter"},
		{name: "rate limited", status: 429, body: `{"code":"too_many_requests","message":"The expected rate limit is exceeded."}`, want: ErrUnavailable, says: "429"},
		{name: "server error, not JSON", status: 502, body: `<html>Bad Gateway</html>`, want: ErrUnavailable, says: "502 Bad Gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fb := startFakeBrevo(t, "", "")
			if tc.status != 0 {
				fb.Fault = func(*http.Request) (int, string) { return tc.status, tc.body }
			}
			key := fb.Key
			if tc.key != "" {
				key = tc.key
			}
			_, err := (&BrevoSender{URL: fb.URL, APIKey: key}).Send(t.Context(), NewMessage("a@example.test", "b@example.test", time.Now()))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err %q does not say %q", err, tc.says)
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("err %q shows the API key", err)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		_, err := (&BrevoSender{URL: "http://" + rtClosedAddr(t), APIKey: "k"}).Send(t.Context(), NewMessage("a@example.test", "b@example.test", time.Now()))
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
}

// TestRoundtripBrevo: the probe goes through the fake Brevo API, which
// relays it from its own address (127.0.0.3) into the stack's MX; the
// Received header names the relay, as it would name Brevo's.
func TestRoundtripBrevo(t *testing.T) {
	t.Parallel()
	st := startMemStack(t, memStackOptions{})
	fb := startFakeBrevo(t, st.MXAddr, "127.0.0.3")
	rt := roundtripTo(st, TLSStartTLS)
	rt.Sender = &BrevoSender{URL: fb.URL, APIKey: fb.Key}
	rt.ExpectClientIP = netip.MustParseAddr("127.0.0.3")
	rep := rt.Run(t.Context())
	if rep.Status != job.StatusOK {
		t.Fatalf("status %s, error %q, findings %v", rep.Status, rep.Error, rep.Findings)
	}
	if rep.Client == nil || rep.Client.Helo != "smtp-relay.mailin.fr" {
		t.Errorf("client %+v, want the relay", rep.Client)
	}
	if len(rep.ReceivedHeaders) != 2 {
		t.Errorf("received headers %q, want the MX's and the relay's", rep.ReceivedHeaders)
	}
	if !rep.Deleted || st.messages(t) != 0 {
		t.Errorf("probe not deleted")
	}
	t.Logf("brevo round trip %.4fs (send %.4fs)", rep.RoundtripSeconds, rep.SendSeconds)
}

func TestRoundtripBrevoRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   job.Status
		kind   string
	}{
		{"unauthorized", 401, `{"code":"unauthorized","message":"Key not found"}`, job.StatusFailed, "login-refused"},
		{"no credits", 402, `{"code":"not_enough_credits","message":"Not enough credits"}`, job.StatusFailed, "refused"},
		{"rate limited", 429, `{"code":"too_many_requests","message":"The expected rate limit is exceeded."}`, job.StatusIncomplete, ""},
		{"server error", 500, `{"code":"internal_error","message":"oops"}`, job.StatusIncomplete, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := startMemStack(t, memStackOptions{})
			fb := startFakeBrevo(t, st.MXAddr, "")
			fb.Fault = func(*http.Request) (int, string) { return tc.status, tc.body }
			rt := roundtripTo(st, TLSStartTLS)
			rt.Sender = &BrevoSender{URL: fb.URL, APIKey: fb.Key}
			rep := rt.Run(t.Context())
			if rep.Status != tc.want {
				t.Fatalf("status %s, want %s (error %q)", rep.Status, tc.want, rep.Error)
			}
			if tc.kind != "" && (len(rep.Findings) != 1 || rep.Findings[0].Kind != tc.kind) {
				t.Errorf("findings %v, want one %s", rep.Findings, tc.kind)
			}
			if st.delivered.Load() != 0 {
				t.Errorf("a refused request delivered mail")
			}
		})
	}
}
