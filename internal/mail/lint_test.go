package mail

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestLintGolden lints each testdata/lint/*.cfg and compares the report
// with its .golden file (go test -run TestLintGolden -update rewrites them).
func TestLintGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/lint/*.cfg")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	wantFindings := map[string]int{
		"incident.cfg": 1, "fix-port.cfg": 0, "fix-never-send-local.cfg": 0, "fix-linger.cfg": 0,
		"default-server.cfg": 2, "smtpchk.cfg": 1,
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := ParseHAProxy(name, data)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := Lint(cfg, LintOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := wantFindings[name]; !ok || len(fs) != want {
				t.Errorf("%d findings, want %d (known: %v)", len(fs), want, ok)
			}
			var buf bytes.Buffer
			WriteLintText(&buf, name, fs)
			golden := strings.TrimSuffix(file, ".cfg") + ".golden"
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("report (-golden +got):\n%s", diff)
			}
		})
	}
}

func TestLintDetails(t *testing.T) {
	t.Parallel()
	lint := func(t *testing.T, cfg string) []LintFinding {
		t.Helper()
		c, err := ParseHAProxy("t.cfg", []byte(cfg))
		if err != nil {
			t.Fatal(err)
		}
		fs, err := Lint(c, LintOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	t.Run("names file line backend and server", func(t *testing.T) {
		fs := lint(t, "defaults\n  mode tcp\nbackend b\n  server s1 1.2.3.4:587 send-proxy check\n")
		if len(fs) != 1 || fs[0].Line != 4 || fs[0].Section != "backend b" || fs[0].Server != "s1" || fs[0].Kind != LintProxyCheck {
			t.Fatalf("got %+v", fs)
		}
		if !strings.HasPrefix(fs[0].String(), "t.cfg:4: backend b, server s1: ") {
			t.Errorf("String() = %q", fs[0].String())
		}
	})
	t.Run("check-send-proxy is not a fix", func(t *testing.T) {
		fs := lint(t, "backend b\n  server s1 1.2.3.4:587 send-proxy-v2 check check-send-proxy\n")
		if len(fs) != 1 || !strings.Contains(fs[0].Message, "check-send-proxy is not a fix") {
			t.Fatalf("got %+v", fs)
		}
	})
	t.Run("no-send-proxy-v2 on the server undoes default-server", func(t *testing.T) {
		if fs := lint(t, "backend b\n  default-server send-proxy-v2 check\n  server s1 1.2.3.4:587 no-send-proxy-v2\n"); len(fs) != 0 {
			t.Fatalf("got %+v", fs)
		}
	})
	t.Run("tcp-check connect without linger still resets", func(t *testing.T) {
		if fs := lint(t, "backend b\n  option tcp-check\n  tcp-check connect\n  server s1 1.2.3.4:587 send-proxy-v2 check\n"); len(fs) != 1 {
			t.Fatalf("got %+v", fs)
		}
	})
	t.Run("the linger fix inherited from defaults", func(t *testing.T) {
		if fs := lint(t, "defaults\n  option tcp-check\n  tcp-check connect linger\nbackend b\n  server s1 1.2.3.4:587 send-proxy-v2 check\n"); len(fs) != 0 {
			t.Fatalf("got %+v", fs)
		}
	})
	t.Run("a later anonymous defaults resets inheritance", func(t *testing.T) {
		fs := lint(t, "defaults\n  default-server send-proxy-v2 check\ndefaults\n  mode tcp\nbackend b\n  server s1 1.2.3.4:587\n")
		if len(fs) != 0 {
			t.Fatalf("got %+v", fs)
		}
	})
	t.Run("listen sections count", func(t *testing.T) {
		if fs := lint(t, "listen l\n  bind :587\n  server s1 1.2.3.4:587 send-proxy-v2 check\n"); len(fs) != 1 || fs[0].Section != "listen l" {
			t.Fatalf("got %+v", fs)
		}
	})
	t.Run("postscreen ports are configurable", func(t *testing.T) {
		c, _ := ParseHAProxy("t.cfg", []byte("backend b\n  option smtpchk\n  server s1 1.2.3.4:10025 check\n"))
		fs, _ := Lint(c, LintOptions{PostscreenPorts: []int{10025}})
		if len(fs) != 1 || fs[0].Kind != LintSMTPChkPostscrn {
			t.Fatalf("got %+v", fs)
		}
	})
}

func TestParseHAProxyErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, cfg, want string }{
		{"outside a section", "server s 1.2.3.4:25\n", `t.cfg:1: haproxy config syntax: "server" outside any section`},
		{"unterminated quote", "backend b\n  server s \"1.2.3.4:25\n", "t.cfg:2: haproxy config syntax: unterminated \" quote"},
		{"trailing backslash", "global\n  log \\\n", "t.cfg:2: haproxy config syntax: backslash at the end of the line"},
	} {
		_, err := ParseHAProxy("t.cfg", []byte(tt.cfg))
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrHAProxySyntax) {
			t.Errorf("%s: err = %v, want %s", tt.name, err, tt.want)
		}
	}
	c, err := ParseHAProxy("t.cfg", []byte("backend b from nowhere\n  server s 1.2.3.4:25 check\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lint(c, LintOptions{}); err == nil || !strings.Contains(err.Error(), `defaults "nowhere"`) {
		t.Errorf("missing defaults: err = %v", err)
	}
}

func TestSplitHAProxyLine(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		`  server s1 1.2.3.4:25 check # comment`: {"server", "s1", "1.2.3.4:25", "check"},
		`option smtpchk "HELO lb.example"`:       {"option", "smtpchk", "HELO lb.example"},
		`log 'a b\c' x\ y`:                       {"log", `a b\c`, "x y"},
		`tcp-check send "QUIT\r\n"`:              {"tcp-check", "send", "QUITrn"},
		`#only a comment`:                        nil,
		`a#b`:                                    {"a"},
	} {
		got, err := splitHAProxyLine(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", in, diff)
		}
	}
}

// FuzzParseHAProxy: any bytes parse or fail cleanly, and whatever parses
// lints without panicking.
func FuzzParseHAProxy(f *testing.F) {
	files, _ := filepath.Glob("testdata/lint/*.cfg")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte("backend b from d\ndefaults d from b\n"))
	f.Add([]byte("defaults a from a\nbackend b from a\n server s x check send-proxy\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseHAProxy("f.cfg", data)
		if err != nil {
			if !errors.Is(err, ErrHAProxySyntax) {
				t.Fatalf("error without ErrHAProxySyntax: %v", err)
			}
			return
		}
		fs, _ := Lint(c, LintOptions{})
		for _, x := range fs {
			if x.Line < 1 || x.Kind == "" {
				t.Fatalf("bad finding %+v", x)
			}
		}
	})
}
