package cli

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/labops/labops/internal/labtest"
)

func TestMailProxycheckUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args     []string
		contains string
	}{
		{nil, "give at least one of --public"},
		{[]string{"--public", "nohostport"}, `listeners[0].public: "nohostport" is not host:port`},
		{[]string{"--stock", "127.0.0.1:25", "--protocol", "pop3"}, `"pop3" is not a protocol`},
		{[]string{"--stock", "127.0.0.1:25", "--lb-source", "lb"}, `"lb" is not an IP address`},
		{[]string{"--stock", "127.0.0.1:25", "--timeout", "soon"}, `timeout: "soon"`},
		{[]string{"--stock", "127.0.0.1:25", "--count", "0"}, "--count 0"},
	} {
		code, _, stderr := run(t, t.Context(), t.TempDir(), nil, append([]string{"mail", "proxycheck"}, tt.args...)...)
		if code != ExitUsage || !strings.Contains(stderr, tt.contains) {
			t.Errorf("%v: exit %d, want 2 with %q; stderr:\n%s", tt.args, code, tt.contains, stderr)
		}
	}
}

// A port nobody listens on: nothing answered at all, exit 3.
func TestMailProxycheckUnreachable(t *testing.T) {
	t.Parallel()
	addr := labtest.FreeAddr(t)
	code, stdout, stderr := run(t, t.Context(), t.TempDir(), nil, "mail", "proxycheck", "--public", addr, "--count", "2", "--timeout", "1s")
	if code != ExitIncomplete || !strings.Contains(stdout, "nothing answered") {
		t.Errorf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// A listener that greets without PROXY, given as the alt port: exit 1 with
// alt-greets-without-proxy; the same server as the stock port: exit 0.
func TestMailProxycheckFlagsAnAltPortWithoutProxy(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", labtest.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "220-fake ESMTP\r\n220 fake ESMTP\r\n")
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	code, stdout, _ := run(t, t.Context(), t.TempDir(), nil, "mail", "proxycheck", "--alt", addr, "--no-proxy-wait", "1s", "--timeout", "2s")
	if code != ExitFailed || !strings.Contains(stdout, "alt-greets-without-proxy") {
		t.Errorf("alt: exit %d, want 1\n%s", code, stdout)
	}
	code, stdout, _ = run(t, t.Context(), t.TempDir(), nil, "mail", "proxycheck", "--stock", addr, "--health", addr, "--json")
	if code != ExitOK || !strings.Contains(stdout, `"status": "ok"`) {
		t.Errorf("stock: exit %d, want 0\n%s", code, stdout)
	}
}

// The listener sets come from a mail-proxycheck job in the config.
func TestMailProxycheckFromConfig(t *testing.T) {
	t.Parallel()
	addr := labtest.FreeAddr(t)
	dir, path := writeConfig(t, fmt.Sprintf(`jobs:
  - name: mail-path
    kind: mail-proxycheck
    schedule: "*/5 * * * *"
    spec:
      count: 1
      timeout: 1s
      listeners:
        - name: submission
          public: %s
`, addr))
	code, stdout, stderr := run(t, t.Context(), dir, nil, "mail", "proxycheck", "mail-path", "--config", path)
	if code != ExitIncomplete || !strings.Contains(stdout, "submission (smtp)") {
		t.Errorf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, _, stderr = run(t, t.Context(), dir, nil, "mail", "proxycheck", "mail-path", "--config", path, "--public", addr)
	if code != ExitUsage || !strings.Contains(stderr, "not both") {
		t.Errorf("JOB and --public: exit %d, want 2\n%s", code, stderr)
	}
}
