package push_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/push"
)

// runAndPush records one run with the runner's metrics on a fresh registry
// and pushes it, as `labops run` does.
func runAndPush(t *testing.T, pg push.Pushgateway, name string, status job.Status, at time.Time) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := job.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := &job.Runner{Name: name, Metrics: m, Now: func() time.Time { return at },
		Job: job.Func(func(ctx context.Context, _ *slog.Logger) job.Result { return job.Result{Status: status} })}
	r.Run(t.Context(), slog.New(slog.DiscardHandler))
	if err := push.Metrics(t.Context(), pg, name, reg); err != nil {
		t.Fatalf("push: %v", err)
	}
}

func series(text, metric string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, metric+"{") {
			out = append(out, l)
		}
	}
	return out
}

func TestPushgatewayKeepsLastSuccessAcrossFailure(t *testing.T) {
	t.Parallel()
	gw := labtest.StartPushgateway(t)
	pg := push.Pushgateway{URL: gw.URL, Grouping: map[string]string{"cluster": "home/lab"}}
	ok := time.Unix(1_700_000_000, 0)
	runAndPush(t, pg, "registry-probe", job.StatusOK, ok)
	runAndPush(t, pg, "registry-probe", job.StatusFailed, ok.Add(time.Hour))

	text := gw.Metrics(t)
	want := []string{`labops_job_last_success_timestamp_seconds{cluster="home/lab",instance="",job="registry-probe"} 1.7e+09`}
	if diff := cmp.Diff(want, series(text, "labops_job_last_success_timestamp_seconds")); diff != "" {
		t.Errorf("last success after a failed run (-want +got):\n%s\nall:\n%s", diff, text)
	}
	want = []string{`labops_job_runs_total{cluster="home/lab",instance="",job="registry-probe",result="failed"} 1`}
	if diff := cmp.Diff(want, series(text, "labops_job_runs_total")); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
	if len(series(text, "push_time_seconds")) == 0 {
		t.Errorf("no push_time_seconds for the group:\n%s", text)
	}
}

func TestPushgatewayUnreachableIsAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	err := push.Metrics(t.Context(), push.Pushgateway{URL: srv.URL}, "j", prometheus.NewRegistry())
	if err == nil {
		t.Fatal("push to a closed port succeeded")
	}
}

// kuma is a fake Uptime Kuma push endpoint built from its documented API:
// GET /api/push/<token>?status=up|down&msg=...&ping=..., answering
// {"ok":true}, or 404 {"ok":false,"msg":"Monitor not found or not active."}.
type kuma struct {
	mu    sync.Mutex
	token string
	got   []url.Values
}

func (k *kuma) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := regexp.MustCompile(`^/api/push/([^/]+)$`).FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodGet || m == nil || m[1] != k.token {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"ok":false,"msg":"Monitor not found or not active."}`))
		return
	}
	k.mu.Lock()
	k.got = append(k.got, r.URL.Query())
	k.mu.Unlock()
	_, _ = w.Write([]byte(`{"ok":true}`))
}

func TestKumaPush(t *testing.T) {
	t.Parallel()
	k := &kuma{token: "s3cret"}
	srv := httptest.NewServer(k)
	defer srv.Close()
	good := push.Kuma{URL: srv.URL + "/api/push/s3cret?status=up&msg=OK&ping="}
	if err := push.KumaResult(t.Context(), good, job.Result{Status: job.StatusOK, Duration: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := push.KumaResult(t.Context(), good, job.Result{Status: job.StatusFailed, Findings: make([]job.Finding, 2)}); err != nil {
		t.Fatal(err)
	}
	want := []url.Values{
		{"status": {"up"}, "msg": {"ok in 1.5s"}, "ping": {"1500"}},
		{"status": {"down"}, "msg": {"failed: 2 finding(s)"}, "ping": {"0"}},
	}
	if diff := cmp.Diff(want, k.got); diff != "" {
		t.Errorf("pushes (-want +got):\n%s", diff)
	}

	bad := push.Kuma{URL: srv.URL + "/api/push/wrong"}
	err := push.KumaResult(t.Context(), bad, job.Result{Status: job.StatusOK})
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("push to unknown monitor: err = %v, want HTTP 404", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error leaks the push token: %v", err)
	}
}
