// Package browser starts headless Chromium for tests (the status page, the
// docs' diagrams), with the flags this closed network needs. It is a
// subpackage of labtest because it brings chromedp, which most tests do not
// need to link.
package browser

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/labops/labops/internal/labtest"
)

// Start starts Debian's Chromium headless under ctx, in a fresh profile,
// and returns a browser context for chromedp; Chromium is stopped (and
// waited for) at test cleanup. A missing Chromium skips the test (fails it
// under CI=true). extra adds allocator options (a window size, say).
func Start(t *testing.T, ctx context.Context, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	chromium := labtest.Need(t, "chromium", "chromium")
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		// Without these, Chromium's own background connections are refused
		// by the closed network, many at a time.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
	}, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	// Cleanups run last-in first-out: the browser, then the allocator,
	// which waits for Chromium to exit before t.TempDir is removed.
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancelBrowser)
	return browser
}
