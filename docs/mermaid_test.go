package docs_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/labtest/browser"
)

var diagramDir = flag.String("diagram-dir", "", "write a PNG of each rendered diagram here, to look at them")

// mermaidVersion is the mermaid scripts/test-deps installs.
const mermaidVersion = "11.12.1"

// needMermaid returns the path of mermaid.min.js: under $LABOPS_MERMAID,
// else under the cache dir scripts/test-deps installs it to; else it skips
// the test (fails it under CI=true).
func needMermaid(t *testing.T) string {
	t.Helper()
	return labtest.NeedCachedFile(t, "LABOPS_MERMAID", "mermaid-"+mermaidVersion,
		filepath.Join("node_modules", "mermaid", "dist", "mermaid.min.js"), "mermaid "+mermaidVersion+"'s mermaid.min.js")
}

// diagram is one ```mermaid block and where it is.
type diagram struct {
	Where string // docs/architecture.md:42
	Src   string
}

func mermaidBlocks(t *testing.T) []diagram {
	t.Helper()
	var out []diagram
	for _, f := range markdownFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fences, _ := splitFences(string(b))
		for _, fc := range fences {
			if fc.Info == "mermaid" {
				out = append(out, diagram{Where: fmt.Sprintf("%s:%d", displayPath(f), fc.Line), Src: fc.Body})
			}
		}
	}
	return out
}

const mermaidPage = `<!doctype html>
<html><head><meta charset="utf-8"><script src="/mermaid.min.js"></script></head>
<body><script>mermaid.initialize({startOnLoad: false, securityLevel: "strict"});</script></body></html>`

// renderJS renders one diagram with mermaid.render, the call a Markdown
// viewer makes, and answers "ok" or "error: <mermaid's message>".
const renderJS = `(async (id, src) => {
	try {
		const r = await mermaid.render(id, src);
		if (!r.svg || !r.svg.includes("<svg")) return "error: no SVG rendered";
		if (%s) document.body.innerHTML = r.svg;
		return "ok";
	} catch (e) {
		return "error: " + ((e && (e.message || e.str)) || String(e));
	}
})(%s, %s)`

// TestMermaidDiagrams renders every ```mermaid block of docs/*.md and the
// README with the real mermaid in headless Chromium; a block that does not
// parse or render fails with its file:line and mermaid's error. mermaid is
// served from a loopback server: no network.
func TestMermaidDiagrams(t *testing.T) {
	blocks := mermaidBlocks(t)
	if len(blocks) == 0 {
		t.Skip("no mermaid diagrams in docs/*.md or README.md")
	}
	results := renderMermaid(t, append([]string{brokenDiagram}, srcs(blocks)...))
	// The harness must see mermaid's errors, or a pass proves nothing.
	if !strings.HasPrefix(results[0], "error: ") {
		t.Fatalf("a broken diagram rendered %q: the test cannot see mermaid's errors", results[0])
	}
	for i, b := range blocks {
		if r := results[i+1]; r != "ok" {
			t.Errorf("%s: mermaid diagram does not render: %s", b.Where, strings.TrimPrefix(r, "error: "))
		}
	}
}

const brokenDiagram = "flowchart LR\n  a --> (b"

func srcs(ds []diagram) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Src
	}
	return out
}

// renderMermaid renders each source in one page and returns "ok" or
// "error: ..." for each.
func renderMermaid(t *testing.T, sources []string) []string {
	t.Helper()
	js := needMermaid(t)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, mermaidPage)
	})
	mux.HandleFunc("GET /mermaid.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, js)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	tab := browser.Start(t, ctx)

	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("loading the page in Chromium: %v", err)
	}
	ready, err := chromedp.Run(tab, chromedp.Evaluate[bool](`typeof mermaid === "object" && typeof mermaid.render === "function"`))
	if err != nil {
		t.Fatalf("loading mermaid in Chromium: %v", err)
	}
	if !ready {
		t.Fatalf("mermaid did not load from %s", js)
	}
	out := make([]string, len(sources))
	for i, src := range sources {
		id, _ := json.Marshal(fmt.Sprintf("diagram%d", i))
		text, _ := json.Marshal(src)
		show := *diagramDir != "" && i > 0
		res, err := chromedp.Run(tab, chromedp.Evaluate[string](fmt.Sprintf(renderJS, strconv.FormatBool(show), id, text), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("rendering diagram %d in Chromium: %v", i, err)
		}
		if show && res == "ok" {
			png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot of diagram %d: %v", i, err)
			}
			p := filepath.Join(*diagramDir, fmt.Sprintf("diagram%02d.png", i))
			if err := os.WriteFile(p, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("diagram %d: %s", i, p)
		}
		out[i] = res
	}
	return out
}
