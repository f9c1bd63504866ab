package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labops/labops/internal/labtest"
)

// labops secrets sync and labops run on a secret-sync job, end to end: a
// password file rotated twice, a webhook consumer, a real Pushgateway;
// every exit code, and no password anywhere in what labops printed,
// logged or pushed.
func TestSecretsSync(t *testing.T) {
	t.Parallel()
	gw := labtest.StartPushgateway(t)
	var (
		mu     sync.Mutex
		got    []string
		status = http.StatusNoContent
	)
	hook := serveOnLoopback(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(b))
		w.WriteHeader(status)
		io.WriteString(w, "echo: "+string(b)) // a careless consumer echoes what it got
	})})
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	setPW := func(pw string) {
		if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	passwords := []string{"first-S3cret-one", "second-S3cret-two"}
	setPW(passwords[0])
	cfgDir, _ := writeConfig(t, fmt.Sprintf(`jobs:
  - name: hook-password
    kind: secret-sync
    schedule: "0 */6 * * *"
    spec:
      state_dir: %s
      source:
        file: {password_file: %s, username: app}
      sinks:
        - name: hook
          http:
            url: %s/rotate
            body: '{"user": {{json .Username}}, "password": {{json .Password}}}'
push:
  pushgateway:
    url: %s
`, filepath.Join(dir, "state"), pwFile, hook, gw.URL))
	var all strings.Builder
	labops := func(args ...string) (code int, stdout, stderr string) {
		t.Helper()
		code, stdout, stderr = run(t, t.Context(), cfgDir, nil, append([]string{"--log-level", "debug"}, args...)...)
		all.WriteString(stdout + stderr)
		return code, stdout, stderr
	}
	type report struct {
		Sinks []struct{ Name, Action, Verified, Error string }
	}
	sync := func(want int, args ...string) report {
		t.Helper()
		code, stdout, stderr := labops(append([]string{"secrets", "sync", "--json"}, args...)...)
		var r report
		if err := json.Unmarshal([]byte(stdout), &r); code != want || err != nil || len(r.Sinks) != 1 {
			t.Fatalf("secrets sync %v: exit %d, want %d (%v)\n%s%s", args, code, want, err, stdout, stderr)
		}
		return r
	}

	if code, stdout, stderr := labops("config", "check"); code != 0 {
		t.Fatalf("config check: exit %d\n%s%s", code, stdout, stderr)
	}
	if r := sync(0, "--dry-run"); r.Sinks[0].Action != "would-push" {
		t.Errorf("dry run: %+v", r)
	}
	if r := sync(0); r.Sinks[0].Action != "pushed" || r.Sinks[0].Verified != "not-verifiable" {
		t.Errorf("first sync: %+v", r)
	}
	if r := sync(0); r.Sinks[0].Action != "unchanged" {
		t.Errorf("second sync: %+v", r)
	}
	if r := sync(0, "--force"); r.Sinks[0].Action != "pushed" {
		t.Errorf("forced sync: %+v", r)
	}
	// Rotated: labops run (the CronJob's command) pushes it and the metrics.
	setPW(passwords[1])
	if code, stdout, stderr := labops("run", "hook-password"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, stdout, stderr)
	}
	metrics := gw.Metrics(t)
	for _, want := range []string{`labops_secret_sync_pushed{instance="",job="hook-password"} 1`,
		`labops_secret_sync_failures{instance="",job="hook-password"} 0`, `labops_secret_sync_sinks{instance="",job="hook-password"} 1`,
		`labops_secret_sync_last_success_timestamp_seconds{instance="",job="hook-password"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("pushgateway lacks %s", want)
		}
	}
	all.WriteString(metrics)
	mu.Lock()
	if n := len(got); n != 3 || got[2] != `{"user": "app", "password": "second-S3cret-two"}` {
		t.Errorf("hook got %d bodies, last %q", n, got[len(got)-1])
	}
	status = http.StatusBadGateway
	mu.Unlock()

	// The consumer refuses: exit 1, the hash kept so the next run retries.
	r := sync(1, "--force")
	if r.Sinks[0].Action != "failed" || !strings.Contains(r.Sinks[0].Error, "HTTP 502") || !strings.Contains(r.Sinks[0].Error, "[redacted]") {
		t.Errorf("refused: %+v", r)
	}
	// The source is gone: exit 3, saying why.
	os.Remove(pwFile)
	if code, stdout, stderr := labops("secrets", "sync"); code != ExitIncomplete || !strings.Contains(stdout+stderr, "reading the source") {
		t.Errorf("no source: exit %d\n%s%s", code, stdout, stderr)
	}
	// A bad spec: exit 2, naming the field.
	badDir, _ := writeConfig(t, `jobs:
  - name: x
    kind: secret-sync
    spec: {state_dir: /s, source: {file: {password_file: /p}}, sinks: [{name: h, http: {url: "ftp://x", body: "{{.Password}}"}}]}
`)
	code, stdout, stderr := run(t, t.Context(), badDir, nil, "secrets", "sync")
	if code != ExitUsage || !strings.Contains(stdout+stderr, `jobs[0].spec.sinks[0].http.url: "ftp://x" is not an http(s) URL`) {
		t.Errorf("bad spec: exit %d\n%s%s", code, stdout, stderr)
	}

	for _, pw := range passwords {
		if strings.Contains(all.String(), pw) || strings.Contains(all.String(), pw[:10]) {
			t.Errorf("a password shows in labops' output, logs or pushed metrics")
		}
	}
	if all.Len() < 2000 {
		t.Errorf("only %d bytes of output checked", all.Len())
	}
}

// Under serve a secret-sync job runs again just after the source's
// rotation (its ttl plus after_rotation), with no schedule of its own; no
// password reaches the status page, the run logs or /metrics.
func TestServeSyncsAfterEachRotation(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		calls int
		hooks []string
	)
	vault := serveOnLoopback(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/database/static-creds/app" || r.Header.Get("X-Vault-Token") != "tok" {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"errors":["permission denied"]}`)
			return
		}
		mu.Lock()
		calls++ // every read sees a new password that lives one second
		n := calls
		mu.Unlock()
		fmt.Fprintf(w, `{"data":{"username":"app","password":"vault-pw-%d","ttl":1,"last_vault_rotation":"2026-12-01T00:00:00Z","rotation_period":1}}`, n)
	})})
	hook := serveOnLoopback(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, string(b))
		mu.Unlock()
	})})
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("tok"), 0o600)
	cfgDir, cfgPath := writeConfig(t, fmt.Sprintf(`jobs:
  - name: rotating
    kind: secret-sync
    spec:
      state_dir: %s
      after_rotation: 1s
      source:
        vault: {address: %s, token_file: %s, static_creds: {role: app}}
      sinks:
        - name: hook
          http: {url: %s, body: '{{.Password}}'}
`, filepath.Join(dir, "state"), vault, token, hook))
	addr := fmt.Sprintf("127.0.0.1:%d", labtest.FreePort(t))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan string, 1)
	go func() {
		_, stdout, stderr := run(t, ctx, cfgDir, nil, "--log-level", "debug", "serve", "--config", cfgPath, "--listen", addr, "--data", t.TempDir(), "--jitter", "0s")
		done <- stdout + stderr
	}()
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for get(base+"/healthz") == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	// One run by hand; the rest are asked for by the runs themselves.
	resp, err := http.Post(base+"/jobs/rotating/run", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var metrics string
	for time.Now().Before(deadline) {
		metrics = get(base + "/metrics")
		if strings.Contains(metrics, `labops_job_runs_total{job="rotating",result="ok"} 3`) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(metrics, `labops_job_runs_total{job="rotating",result="ok"} 3`) {
		t.Fatalf("the job did not run again after its rotations:\n%s", metrics)
	}
	if !strings.Contains(metrics, `labops_secret_sync_rotation_timestamp_seconds{job="rotating"}`) {
		t.Errorf("no rotation time exported:\n%s", metrics)
	}
	var pages strings.Builder
	pages.WriteString(metrics + get(base+"/") + get(base+"/jobs/rotating"))
	for id := 1; id <= 3; id++ {
		page := get(fmt.Sprintf("%s/runs/%d", base, id))
		if !strings.Contains(page, "rotating") {
			t.Errorf("run page %d: %.200s", id, page)
		}
		pages.WriteString(page)
	}
	cancel()
	var out string
	select {
	case out = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooks) < 3 || hooks[len(hooks)-1] != fmt.Sprintf("vault-pw-%d", calls) {
		t.Errorf("hook got %q after %d vault reads", hooks, calls)
	}
	if strings.Contains(pages.String()+out, "vault-pw-") {
		t.Error("a password shows on the status page, in /metrics or in serve's output")
	}
	if !strings.Contains(out, "requested") {
		t.Errorf("serve's log names no requested run:\n%s", out)
	}
}
