package labtest

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Pushgateway is a throwaway Prometheus Pushgateway on loopback.
type Pushgateway struct {
	URL string
}

// StartPushgateway starts the Debian prometheus-pushgateway on a free
// loopback port and stops it at cleanup.
func StartPushgateway(t testing.TB) *Pushgateway {
	t.Helper()
	bin := Need(t, "prometheus-pushgateway", "prometheus-pushgateway")
	addr := FreeAddr(t)
	var logs strings.Builder
	// Debian's build persists to /var/lib/prometheus/pushgateway.data by
	// default, which every instance would share: give each its own file.
	cmd := exec.Command(bin, "--web.listen-address="+addr,
		"--persistence.file="+filepath.Join(t.TempDir(), "pushgateway.data"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting pushgateway: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	pg := &Pushgateway{URL: "http://" + addr}
	waitHTTP(t, pg.URL+"/-/ready", &logs)
	return pg
}

// Metrics returns the Pushgateway's /metrics text.
func (p *Pushgateway) Metrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(p.URL + "/metrics")
	if err != nil {
		t.Fatalf("reading pushgateway metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitHTTP polls url until it answers 2xx, failing the test after 15 s with
// the server's own output.
func waitHTTP(t testing.TB, url string, logs fmt.Stringer) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not become ready in 15s; its output:\n%s", url, logs)
}
