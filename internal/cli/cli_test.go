package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labops/labops/internal/lab"
	"github.com/labops/labops/internal/labtest"
)

// run executes labops with args in dir and returns exit code and outputs.
func run(t *testing.T, ctx context.Context, dir string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := &App{Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] },
		Getwd:  func() (string, error) { return dir, nil }}
	root := newRootCommand(app)
	root.SetArgs(args)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	code := finish(root.ExecuteContext(ctx), &stderr)
	return code, stdout.String(), stderr.String()
}

func writeConfig(t *testing.T, text string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "labops.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func startLab(t *testing.T) *lab.Lab {
	t.Helper()
	l, err := lab.Start(t.Context(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func probeConfig(registry string, extra string) string {
	return fmt.Sprintf(`jobs:
  - name: probe
    kind: oci-probe
    spec:
      registry: %s
      repos: [%s]
%s`, registry, strings.Join(lab.Repos, ", "), extra)
}

func TestExitCodesOnBadUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"version", "--nope"}, "unknown flag"},
		{"bad log level", []string{"--log-level", "loud", "version"}, `"loud" is not a level`},
		{"run without config", []string{"run", "x"}, "no config file"},
		{"config check without config", []string{"config", "check"}, "no config file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, t.Context(), t.TempDir(), nil, tc.args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 mentioning %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
				t.Errorf("stack trace on bad input:\n%s", stderr)
			}
		})
	}
}

func TestHelpListsExitCodes(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"serve", "--help"}, {"config", "check", "--help"}, {"oci", "check", "--help"}} {
		code, stdout, _ := run(t, t.Context(), t.TempDir(), nil, args...)
		if code != 0 || !strings.Contains(stdout, "EXIT STATUS") || !strings.Contains(stdout, "could not complete") {
			t.Errorf("labops %s: exit %d, help without exit codes:\n%s", strings.Join(args, " "), code, stdout)
		}
	}
}

func TestConfigCheckReportsEveryProblem(t *testing.T) {
	t.Parallel()
	dir, path := writeConfig(t, `jobs:
  - name: a
    kind: oci-probe
    schedule: "61 * * * *"
    spec: {}
  - name: a
    kind: dns-magic
`)
	code, _, stderr := run(t, t.Context(), dir, nil, "config", "check")
	if code != ExitUsage {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{path + ": 4 problem(s)", "jobs[0].schedule: bad cron expression", "jobs[0].spec.registry: required", `jobs[1].name: "a" is already the name of jobs[0]`, `jobs[1].kind: unknown kind "dns-magic" (valid: `, "oci-probe"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestConfigCheckOK(t *testing.T) {
	t.Parallel()
	dir, _ := writeConfig(t, probeConfig("http://127.0.0.1:5000", ""))
	code, stdout, stderr := run(t, t.Context(), dir, nil, "config", "check")
	if code != 0 || !strings.Contains(stdout, "ok, 1 job(s)") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// labops run against the lab: exit 1, the two broken images reported,
// metrics pushed to a real Pushgateway under job="probe", Kuma told "down".
func TestRunPushesResult(t *testing.T) {
	t.Parallel()
	l := startLab(t)
	gw := labtest.StartPushgateway(t)
	var kumaGot []string
	kuma := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kumaGot = append(kumaGot, r.URL.Query().Get("status"))
		_, _ = io.WriteString(w, `{"ok":true}`)
	})}
	kumaURL := serveOnLoopback(t, kuma)
	dir, _ := writeConfig(t, probeConfig(l.RegistryURL(), fmt.Sprintf(`    uptime_kuma:
      url: ${KUMA_URL}
push:
  pushgateway:
    url: %s
`, gw.URL)))
	env := map[string]string{"KUMA_URL": kumaURL + "/api/push/tok"}
	code, stdout, stderr := run(t, t.Context(), dir, env, "run", "probe", "--json")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var reports []runReport
	if err := json.Unmarshal([]byte(stdout), &reports); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	subjects := map[string]bool{}
	for _, f := range reports[0].Result.Findings {
		subjects[f.Subject] = true
	}
	for _, b := range lab.Broken {
		if !subjects[b] {
			t.Errorf("findings lack %s: %+v", b, reports[0].Result.Findings)
		}
	}
	metrics := gw.Metrics(t)
	for _, want := range []string{`labops_job_runs_total{instance="",job="probe",result="failed"} 1`, `labops_oci_broken_images{instance="",job="probe"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("pushgateway lacks %s", want)
		}
	}
	if strings.Join(kumaGot, ",") != "down" {
		t.Errorf("uptime kuma got %v, want [down]", kumaGot)
	}
}

// A run whose result cannot be delivered is not healthy: exit 3.
func TestRunFailsWhenPushFails(t *testing.T) {
	t.Parallel()
	l := startLab(t)
	dir, _ := writeConfig(t, `jobs:
  - name: probe
    kind: oci-probe
    spec:
      registry: `+l.RegistryURL()+`
      repos: [lab/alpine]
push:
  pushgateway:
    url: http://127.0.0.1:1
`)
	code, stdout, stderr := run(t, t.Context(), dir, nil, "run", "probe")
	if code != ExitIncomplete || !strings.Contains(stderr, "pushgateway") {
		t.Errorf("exit %d, want 3 with a pushgateway error\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// serve with the embedded lab: the lab job runs at start, its findings are
// in the history, /metrics has the runner's series, and SIGTERM (context
// cancel) stops it cleanly.
func TestServeEmbeddedLab(t *testing.T) {
	t.Parallel()
	addr := fmt.Sprintf("127.0.0.1:%d", labtest.FreePort(t))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	data := t.TempDir()
	go func() {
		code, _, _ := run(t, ctx, t.TempDir(), nil, "serve", "--listen", addr, "--data", data, "--jitter", "0s")
		done <- code
	}()
	base := "http://" + addr
	var metrics string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		metrics = get(base + "/metrics")
		if strings.Contains(metrics, `labops_job_runs_total{job="lab-registry",result="failed"} 1`) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(metrics, `labops_oci_broken_images{job="lab-registry"} 2`) {
		t.Errorf("metrics after the first lab run lack the broken images:\n%s", metrics)
	}
	page := get(base + "/")
	for _, want := range []string{"lab-registry", "mbedded lab"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if got := get(base + "/healthz"); !strings.Contains(got, "ok") {
		t.Errorf("/healthz = %q", got)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d after shutdown, want 0", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
}

func get(url string) string {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
