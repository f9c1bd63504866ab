package mail

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labops/labops/internal/job"
)

// greeter is a loopback SMTP server that greets every connection.
func greeter(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
			fmt.Fprint(c, "220 fake ESMTP\r\n")
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func TestProxycheckKindMetrics(t *testing.T) {
	t.Parallel()
	addr := greeter(t)
	reg := prometheus.NewRegistry()
	j, err := ProxycheckKind().New(func(v any) error {
		*v.(*ProxycheckSpec) = ProxycheckSpec{Count: 3, Listeners: []ListenerSpec{{Public: addr, Health: addr}}}
		return nil
	}, job.Deps{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	res := j.Run(t.Context(), nil)
	if res.Status != job.StatusOK || res.Counters["public_attempts"] != 3 {
		t.Fatalf("result %+v", res)
	}
	want := `
# HELP labops_mail_proxycheck_findings Broken expectations the last check found.
# TYPE labops_mail_proxycheck_findings gauge
labops_mail_proxycheck_findings 0
# HELP labops_mail_proxycheck_success_ratio Share of the last check's connections through the public path that got a complete greeting.
# TYPE labops_mail_proxycheck_success_ratio gauge
labops_mail_proxycheck_success_ratio 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "labops_mail_proxycheck_findings", "labops_mail_proxycheck_success_ratio"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "labops_mail_proxycheck_greeting_seconds"); n != 2 {
		t.Errorf("%d greeting_seconds series, want 2 (public, health)", n)
	}
	// Built again on the same registry (serve reloads): reuses the metrics.
	if _, err := NewProxycheck(ProxycheckSpec{Listeners: []ListenerSpec{{Stock: addr}}}, job.Deps{Registerer: reg}); err != nil {
		t.Errorf("second build: %v", err)
	}
}

func TestProxycheckSpecProblems(t *testing.T) {
	t.Parallel()
	_, err := NewProxycheck(ProxycheckSpec{Count: -1, Timeout: "x", ProxySource: "nope",
		Listeners: []ListenerSpec{{Name: "a"}, {Name: "a", Protocol: "pop3", Public: "x"}}}, job.Deps{})
	want := `listeners[0]: no addresses: give at least one of public, alt, health, stock
listeners[1].name: "a" is used twice
listeners[1].protocol: "pop3" is not a protocol (valid: smtp, imap)
listeners[1].public: "x" is not host:port
count: -1 is out of range (1 to 1000)
timeout: "x" is not a positive duration (e.g. 10s)
proxy_source: "nope" is not an IP address`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}
