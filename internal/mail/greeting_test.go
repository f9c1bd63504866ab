package mail

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadSMTPGreeting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     Greeting
		wantErr  error // errors.Is target; nil means success
	}{
		{"one line", "220 mail.example.org ESMTP Postfix\r\n",
			Greeting{Protocol: "smtp", Code: 220, Lines: []string{"220 mail.example.org ESMTP Postfix"}}, nil},
		{"postscreen then smtpd", "220-mail.example.org ESMTP\r\n220 mail.example.org ESMTP Postfix\r\n",
			Greeting{Protocol: "smtp", Code: 220, Lines: []string{"220-mail.example.org ESMTP", "220 mail.example.org ESMTP Postfix"}}, nil},
		{"bare code", "220\r\n", Greeting{Protocol: "smtp", Code: 220, Lines: []string{"220"}}, nil},
		{"LF only", "220 x\n", Greeting{Protocol: "smtp", Code: 220, Lines: []string{"220 x"}}, nil},
		{"refusal", "554 5.7.1 no SMTP service here\r\n",
			Greeting{Protocol: "smtp", Code: 554, Lines: []string{"554 5.7.1 no SMTP service here"}}, nil},
		{"closed after the banner", "220-mail.example.org ESMTP\r\n", Greeting{}, io.ErrUnexpectedEOF},
		{"closed at once", "", Greeting{}, io.ErrUnexpectedEOF},
		{"closed mid-line", "220 mail", Greeting{}, io.ErrUnexpectedEOF},
		{"IMAP instead", "* OK IMAP ready\r\n", Greeting{}, ErrNotGreeting},
		{"HTTP instead", "HTTP/1.1 400 Bad Request\r\n", Greeting{}, ErrNotGreeting},
		{"code changes", "220-a\r\n421 b\r\n", Greeting{}, ErrNotGreeting},
		{"bad separator", "220_x\r\n", Greeting{}, ErrNotGreeting},
		{"code 100", "100 x\r\n", Greeting{}, ErrNotGreeting},
		{"too long", "220 " + strings.Repeat("x", 5000) + "\r\n", Greeting{}, ErrNotGreeting},
		{"too many lines", strings.Repeat("220-x\r\n", 100), Greeting{}, ErrNotGreeting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadSMTPGreeting(bufio.NewReader(strings.NewReader(tt.in)))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("greeting (-want +got):\n%s", diff)
			}
			if !got.OK() != (tt.want.Code != 220) {
				t.Errorf("OK() = %v for code %d", got.OK(), got.Code)
			}
		})
	}
}

func TestReadIMAPGreeting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		status  string
		ok      bool
		wantErr error
	}{
		{"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] Dovecot ready.\r\n", "OK", true, nil},
		{"* ok lower case\r\n", "OK", true, nil},
		{"* PREAUTH logged in\r\n", "PREAUTH", true, nil},
		{"* BYE too many connections\r\n", "BYE", false, nil},
		{"* OK\r\n", "OK", true, nil},
		{"220 mail ESMTP\r\n", "", false, ErrNotGreeting},
		{"* NO\r\n", "", false, ErrNotGreeting},
		{"", "", false, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		got, err := ReadIMAPGreeting(bufio.NewReader(strings.NewReader(tt.in)))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%q: err = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Status != tt.status || got.OK() != tt.ok {
			t.Errorf("%q: got %+v ok=%v, %v; want status %s ok=%v", tt.in, got, got.OK(), err, tt.status, tt.ok)
		}
	}
}

// FuzzReadGreeting feeds arbitrary server bytes to both parsers: they must
// never panic, and a greeting they accept must be well formed.
func FuzzReadGreeting(f *testing.F) {
	for _, s := range []string{
		"220 mail ESMTP\r\n", "220-a\r\n220 b\r\n", "554 no\r\n", "220-a\r\n", "* OK ready\r\n",
		"* PREAUTH\r\n", "* BYE\r\n", "", "\r\n", "220", "2200 x\r\n", "* OK\x00\r\n", "220 \xff\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ReadSMTPGreeting(bufio.NewReader(strings.NewReader(string(data))))
		if err == nil {
			if g.Code < 200 || g.Code > 599 || len(g.Lines) == 0 || len(g.Lines) > maxGreetingLines {
				t.Fatalf("accepted a malformed SMTP greeting %+v from %q", g, data)
			}
			if last := g.Last(); len(last) > 3 && last[3] != ' ' {
				t.Fatalf("final line %q is a continuation", last)
			}
		}
		g, err = ReadIMAPGreeting(bufio.NewReader(strings.NewReader(string(data))))
		if err == nil && (g.Status == "" || !strings.HasPrefix(g.Last(), "* ")) {
			t.Fatalf("accepted a malformed IMAP greeting %+v from %q", g, data)
		}
	})
}
