package web_test

import (
	"context"
	"flag"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest/browser"
	"github.com/labops/labops/internal/schedule"
	"github.com/labops/labops/internal/store"
	"github.com/labops/labops/internal/web"
)

var screenshotDir = flag.String("screenshot-dir", "", "keep the browser test's screenshots here (default: a temp dir)")

// TestBrowserRunNow drives the status page in headless Chromium against a
// real store and a real scheduler: it loads the index, presses "Run now"
// and waits for the new run's finding to appear.
func TestBrowserRunNow(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	const subject = "lab/multiarch:broken"
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	run := func(ctx context.Context, name, trigger string) {
		started := time.Now()
		id, err := st.Start(ctx, name, trigger, started)
		if err != nil {
			t.Errorf("recording start: %v", err)
			return
		}
		res := job.Result{
			Status:   job.StatusFailed,
			Findings: []job.Finding{{Kind: "missing-child-manifest", Subject: subject, Message: "index child linux/arm64 answers 404"}},
			Counters: map[string]float64{"tags": 3},
			Started:  started,
			Duration: time.Since(started),
		}
		if err := st.Finish(ctx, id, res, "level=INFO msg=\"walked 3 tags\"\n"); err != nil {
			t.Errorf("recording result: %v", err)
		}
	}
	sched := schedule.New([]schedule.Entry{{Name: "registry-probe"}}, run, 0, logger)
	sched.Start()
	t.Cleanup(func() { sched.Shutdown(5 * time.Second) })

	srv := httptest.NewServer(web.New(web.Options{
		Jobs:      []web.JobView{{Name: "registry-probe", Kind: "oci-probe"}},
		Scheduler: sched,
		History:   st,
		Lab:       "An in-process OCI registry on loopback with broken images; registry-probe checks it.",
		Version:   "test",
		Logger:    logger,
	}))
	t.Cleanup(srv.Close)

	tab := browser.Start(t, ctx, chromedp.WindowSize(1280, 900))

	button := chromedp.CSS(`button[data-job="registry-probe"]`)
	finding := chromedp.Search(`//td[contains(@class, "subject")][contains(., "` + subject + `")]`)
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(button)); err != nil {
		t.Fatalf("loading the index: %v", err)
	}
	before, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatalf("reading the index: %v", err)
	}
	if strings.Contains(before, subject) {
		t.Fatalf("the index shows %q before any run", subject)
	}

	// The POST redirects to the job page, which refreshes until the run is there.
	if err := chromedp.Do(tab, chromedp.Click(button), chromedp.WaitVisible(finding)); err != nil {
		t.Fatalf("pressing run now and waiting for the run: %v", err)
	}
	jobPage, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot of the job page: %v", err)
	}
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(finding)); err != nil {
		t.Fatalf("the index does not show the new run's finding: %v", err)
	}
	index, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot of the index: %v", err)
	}

	dir := *screenshotDir
	if dir == "" {
		dir = t.TempDir()
	}
	for name, png := range map[string][]byte{"index.png": index, "job.png": jobPage} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
}
