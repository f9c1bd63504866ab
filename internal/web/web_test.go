package web

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/schedule"
)

// get serves one request through New(opts) and returns the response.
func serve(t *testing.T, opts Options, req *http.Request) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	New(opts).ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func get(t *testing.T, opts Options, path string) (*http.Response, string) {
	t.Helper()
	return serve(t, opts, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
}

func TestGetPages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		path       string
		wantStatus int
		want       []string // substrings of the body
		notWant    []string
	}{
		{
			name: "index", path: "/", wantStatus: http.StatusOK,
			want: []string{
				`<meta http-equiv="refresh" content="5">`,
				"Embedded lab", "registry-probe", "oci-probe", "* * * * *", "manual only",
				`<span class="status failed">failed</span>`, `<span class="status incomplete">incomplete</span>`,
				`<span class="status never">never run</span>`, `<span class="status running">running</span>`,
				"lab/multiarch:broken", "answers 404 to a ranged GET", "2m ago", "2026-03-01 11:58:00Z", "2.5s", "in 45s",
				`action="/jobs/registry-probe/run"`, `href="/runs/1"`,
			},
		},
		{
			name: "job page lists runs newest first", path: "/jobs/registry-probe", wantStatus: http.StatusOK,
			want: []string{`<meta http-equiv="refresh" content="5">`, "Recent runs", `href="/runs/3">#3`, "lab/app:1.2", "Run now"},
		},
		{
			name: "running job", path: "/jobs/dns-sync", wantStatus: http.StatusOK,
			want: []string{"Running…", "connection refused", "1m30s so far"},
		},
		{name: "unknown job", path: "/jobs/nope", wantStatus: http.StatusNotFound, want: []string{"No such job", "nope"}},
		{
			name: "run page", path: "/runs/3", wantStatus: http.StatusOK,
			want: []string{
				"registry-probe run 3", "manual", "lab/multiarch:broken", "missing-child-manifest",
				"<td>blobs</td><td class=\"num\">31.5</td>", `<pre class="log">`, "&lt;broken&gt; &amp; missing",
			},
			notWant: []string{`http-equiv="refresh"`, "<broken>"},
		},
		{name: "running run refreshes", path: "/runs/4", wantStatus: http.StatusOK, want: []string{`http-equiv="refresh"`, "still going"}},
		{name: "unknown run", path: "/runs/99", wantStatus: http.StatusNotFound, want: []string{"No such run"}},
		{name: "run id not a number", path: "/runs/abc", wantStatus: http.StatusNotFound, want: []string{"not a run number"}},
		{name: "healthz", path: "/healthz", wantStatus: http.StatusOK, want: []string{"ok"}},
		{name: "stylesheet", path: "/static/style.css", wantStatus: http.StatusOK, want: []string{".status.failed"}},
		{name: "no such path", path: "/nope", wantStatus: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts, _, _ := fixture()
			res, body := get(t, opts, tc.path)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("GET %s: status %d, want %d\n%s", tc.path, res.StatusCode, tc.wantStatus, body)
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("GET %s: Content-Security-Policy %q, want default-src 'none'", tc.path, csp)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: body lacks %q", tc.path, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("GET %s: body has %q", tc.path, w)
				}
			}
		})
	}
}

func TestIndexWithoutLabHasNoBanner(t *testing.T) {
	t.Parallel()
	opts, _, _ := fixture()
	opts.Lab = ""
	_, body := get(t, opts, "/")
	if strings.Contains(body, "Embedded lab") {
		t.Error("index shows the embedded-lab banner without a lab")
	}
}

func TestHistoryErrorIs500(t *testing.T) {
	t.Parallel()
	opts, _, hist := fixture()
	hist.err = errors.New("disk I/O error: /secret/path")
	for _, path := range []string{"/", "/jobs/registry-probe", "/runs/3"} {
		res, body := get(t, opts, path)
		if res.StatusCode != http.StatusInternalServerError {
			t.Errorf("GET %s: status %d, want 500", path, res.StatusCode)
		}
		if strings.Contains(body, "disk I/O") {
			t.Errorf("GET %s: the page shows the internal error", path)
		}
	}
}

func TestRunNow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		job          string
		header       map[string]string
		triggerErr   error
		wantStatus   int
		wantLocation string
		wantBody     string
		wantTrigger  []string
	}{
		{
			name: "same origin", job: "registry-probe",
			header:     map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"},
			wantStatus: http.StatusSeeOther, wantLocation: "/jobs/registry-probe", wantTrigger: []string{"registry-probe"},
		},
		{
			name: "no browser headers (curl)", job: "backup",
			wantStatus: http.StatusSeeOther, wantLocation: "/jobs/backup", wantTrigger: []string{"backup"},
		},
		{
			name: "already running", job: "dns-sync", triggerErr: schedule.ErrRunning,
			wantStatus: http.StatusConflict, wantBody: "already running", wantTrigger: []string{"dns-sync"},
		},
		{name: "unknown job", job: "nope", wantStatus: http.StatusNotFound, wantBody: "No such job"},
		{
			name: "scheduler does not know it", job: "backup", triggerErr: schedule.ErrUnknownJob,
			wantStatus: http.StatusNotFound, wantBody: "No such job", wantTrigger: []string{"backup"},
		},
		{
			name: "shutting down", job: "backup", triggerErr: schedule.ErrStopped,
			wantStatus: http.StatusServiceUnavailable, wantBody: "shutting down", wantTrigger: []string{"backup"},
		},
		{
			name: "cross-origin form post", job: "registry-probe",
			header:     map[string]string{"Origin": "http://evil.example"},
			wantStatus: http.StatusForbidden,
		},
		{
			name: "cross-site fetch", job: "registry-probe",
			header:     map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
			wantStatus: http.StatusForbidden,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts, sched, _ := fixture()
			var triggered []string
			sched.trigger = func(name string) error {
				triggered = append(triggered, name)
				return tc.triggerErr
			}
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/jobs/"+tc.job+"/run", nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			res, body := serve(t, opts, req)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("POST: status %d, want %d\n%s", res.StatusCode, tc.wantStatus, body)
			}
			if got := res.Header.Get("Location"); got != tc.wantLocation {
				t.Errorf("Location %q, want %q", got, tc.wantLocation)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("body lacks %q:\n%s", tc.wantBody, body)
			}
			if diff := cmp.Diff(tc.wantTrigger, triggered); diff != "" {
				t.Errorf("Trigger calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunNowNeedsPost(t *testing.T) {
	t.Parallel()
	opts, _, _ := fixture()
	res, _ := get(t, opts, "/jobs/registry-probe/run")
	if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET run: status %d, want 404 or 405", res.StatusCode)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labops_job_runs_total", Help: "Runs."}, []string{"job", "result"})
	reg.MustRegister(c)
	c.WithLabelValues("registry-probe", "failed").Inc()
	opts, _, _ := fixture()
	opts.Gatherer = reg
	res, body := get(t, opts, "/metrics")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", res.StatusCode)
	}
	want := `labops_job_runs_total{job="registry-probe",result="failed"} 1`
	if !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %q:\n%s", want, body)
	}
}

func TestRelative(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration // now - t
		want string
	}{
		{0, "just now"},
		{3 * time.Second, "just now"},
		{42 * time.Second, "42s ago"},
		{2*time.Minute + 59*time.Second, "2m ago"},
		{5 * time.Hour, "5h ago"},
		{72 * time.Hour, "3d ago"},
		{-45 * time.Second, "in 45s"},
		{-14 * time.Minute, "in 14m"},
	} {
		if got := relative(fixedNow.Add(-tc.d), fixedNow); got != tc.want {
			t.Errorf("relative(now-%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{400 * time.Microsecond, "<1ms"},
		{340400 * time.Microsecond, "340ms"},
		{1234 * time.Millisecond, "1.2s"},
		{125400 * time.Millisecond, "2m5s"},
	} {
		if got := duration(tc.d); got != tc.want {
			t.Errorf("duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestLogTail(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100) + "\n" + strings.Repeat("line\n", maxLog/5)
	got := logTail(long)
	if len(got) > maxLog+50 || !strings.HasPrefix(got, "… (earlier lines cut)\nline\n") {
		t.Errorf("logTail: %d bytes, starting %q", len(got), got[:40])
	}
	if got := logTail("short\n"); got != "short\n" {
		t.Errorf("logTail(short) = %q", got)
	}
}
