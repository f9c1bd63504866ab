package mail

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseReceived(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		in   string
		want Received
		ok   bool
	}{
		{
			name: "postfix submission",
			in:   "from client.example (unknown [192.0.2.7])\r\n\tby mx.example.org (Postfix) with ESMTPSA id 4ZxQ1k2m3nz9sWR\r\n\tfor <probe@example.org>; Tue,  1 Dec 2026 15:00:00 +0000 (UTC)",
			want: Received{Helo: "client.example", FromHost: "unknown", FromIP: ip("192.0.2.7"), By: "mx.example.org", With: "ESMTPSA", ID: "4ZxQ1k2m3nz9sWR"},
			ok:   true,
		},
		{
			name: "postfix through haproxy: the PROXY source",
			in:   "from [127.0.0.1] (localhost [127.0.0.7]) by mail.lab (Postfix) with ESMTP id 1A2B3C for <u@lab>; Tue, 1 Dec 2026 15:00:00 +0000 (UTC)",
			want: Received{Helo: "[127.0.0.1]", FromHost: "localhost", FromIP: ip("127.0.0.7"), By: "mail.lab", With: "ESMTP", ID: "1A2B3C"},
			ok:   true,
		},
		{
			name: "ipv6 literal",
			in:   "from h (h.example [IPv6:2001:db8::1]) by mx (Postfix) with ESMTPS id X",
			want: Received{Helo: "h", FromHost: "h.example", FromIP: ip("2001:db8::1"), By: "mx", With: "ESMTPS", ID: "X"},
			ok:   true,
		},
		{
			name: "postfix client port logging",
			in:   "from h (unknown [198.51.100.4]:53211) by mx with ESMTP id Y",
			want: Received{Helo: "h", FromHost: "unknown", FromIP: ip("198.51.100.4"), By: "mx", With: "ESMTP", ID: "Y"},
			ok:   true,
		},
		{
			name: "exim",
			in:   "from host.example ([203.0.113.9] helo=claimed.example) by mx.example with esmtps (TLS1.3) id 1tXyZ-000abc-12; Tue, 01 Dec 2026 15:00:00 +0000",
			want: Received{Helo: "host.example", FromIP: ip("203.0.113.9"), By: "mx.example", With: "esmtps", ID: "1tXyZ-000abc-12"},
			ok:   true,
		},
		{
			name: "a helo literal alone proves nothing",
			in:   "from [10.9.9.9] by mx with SMTP id Z",
			want: Received{Helo: "[10.9.9.9]", By: "mx", With: "SMTP", ID: "Z"},
		},
		{
			name: "local submission has no client",
			in:   "by mx.example.org (Postfix, from userid 0) id 4Zx; Tue, 1 Dec 2026 15:00:00 +0000 (UTC)",
			want: Received{By: "mx.example.org", ID: "4Zx"},
		},
		{
			name: "nested comment and a bogus bracket first",
			in:   "from h (x [not-an-ip] (nested (deeper)) y [192.0.2.1]) by mx id Q",
			want: Received{Helo: "h", FromHost: "y", FromIP: ip("192.0.2.1"), By: "mx", ID: "Q"},
			ok:   true,
		},
		{
			name: "date semicolon is ignored",
			in:   "from h (h [192.0.2.2]); by-the-date (with [198.51.100.1])",
			want: Received{Helo: "h", FromHost: "h", FromIP: ip("192.0.2.2")},
			ok:   true,
		},
		{
			name: "unterminated comment",
			in:   "from h (h [192.0.2.3]",
			want: Received{Helo: "h", FromHost: "h", FromIP: ip("192.0.2.3")},
			ok:   true,
		},
		{name: "empty", in: ""},
		{name: "from at the end", in: "from", want: Received{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseReceived(tc.in)
			if ok != tc.ok {
				t.Errorf("ok = %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("ParseReceived (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientAddressTakesTheNewestHop(t *testing.T) {
	t.Parallel()
	hdrs := []string{
		"by mx (Postfix, from userid 0) id A",
		"from relay.brevo.example (relay.brevo.example [185.41.28.1]) by mx (Postfix) with ESMTPS id B",
		"from app (app [10.0.0.5]) by relay.brevo.example with ESMTP id C",
	}
	got, ok := ClientAddress(hdrs)
	if !ok || got.FromIP != netip.MustParseAddr("185.41.28.1") {
		t.Errorf("ClientAddress = %+v, %v; want the relay's 185.41.28.1", got, ok)
	}
	if _, ok := ClientAddress(hdrs[:1]); ok {
		t.Errorf("ClientAddress found an address in a local submission")
	}
}

func TestReceivedHeaders(t *testing.T) {
	t.Parallel()
	raw := "Received: from a (a [192.0.2.1])\r\n\tby b id 1\r\nReceived: from c (c [192.0.2.2]) by d id 2\r\n\r\n"
	got := receivedHeaders([]byte(raw))
	want := []string{"from a (a [192.0.2.1]) by b id 1", "from c (c [192.0.2.2]) by d id 2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("receivedHeaders (-want +got):\n%s", diff)
	}
	if got := receivedHeaders(nil); len(got) != 0 {
		t.Errorf("receivedHeaders(nil) = %q", got)
	}
}

// FuzzParseReceived: any header parses without panic; an address found
// came from a bracketed literal in the input, and the headers' own
// output round-trips through the header reader.
func FuzzParseReceived(f *testing.F) {
	for _, s := range []string{
		"from client.example (unknown [192.0.2.7])\r\n\tby mx.example.org (Postfix) with ESMTPSA id 4Zx\r\n\tfor <p@example.org>; Tue,  1 Dec 2026 15:00:00 +0000 (UTC)",
		"from [127.0.0.1] (localhost [IPv6:::1]:25) by mx id 1",
		"from host ([203.0.113.9] helo=x) by mx with esmtps id 1t-00",
		"by mx (Postfix, from userid 0) id 4Zx",
		"from (((((\\", "from h ([", "from h ([::ffff:1.2.3.4])", "]([)", ";;;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := ParseReceived(s)
		if ok {
			if !r.FromIP.IsValid() {
				t.Fatalf("ok without an address: %+v", r)
			}
			if !strings.Contains(s, "[") || !strings.Contains(s, "]") {
				t.Fatalf("address %v found without brackets in %q", r.FromIP, s)
			}
		}
		_ = receivedHeaders([]byte("Received: " + s + "\r\n"))
		if tt, ok := tokenTime(s); ok && tt.Unix() <= 0 {
			t.Fatalf("tokenTime(%q) = %v", s, tt)
		}
	})
}
