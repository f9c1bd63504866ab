package docs_test

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// inlineLink matches [text](target) and ![alt](target), with an optional
// "title"; refDef matches a reference definition [label]: target.
var (
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*(?:<([^>]*)>|([^)\s]*))(?:\s+"[^"]*")?\s*\)`)
	refDef     = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
)

type link struct {
	Line   int
	Target string
}

// relativeLinks returns the links of a Markdown text that point into the
// repository: not a URL with a scheme, not a bare #anchor. Links inside
// fenced code and code spans are not links.
func relativeLinks(text string) []link {
	_, text = splitFences(text)
	var out []link
	for i, l := range strings.Split(text, "\n") {
		l = codeSpan.ReplaceAllStringFunc(l, func(s string) string { return strings.Repeat(" ", len(s)) })
		var targets []string
		for _, m := range inlineLink.FindAllStringSubmatch(l, -1) {
			targets = append(targets, m[1]+m[2])
		}
		if m := refDef.FindStringSubmatch(l); m != nil {
			targets = append(targets, m[1])
		}
		for _, tg := range targets {
			if tg == "" || strings.HasPrefix(tg, "#") {
				continue
			}
			if u, err := url.Parse(tg); err == nil && u.Scheme != "" {
				continue
			}
			out = append(out, link{Line: i + 1, Target: tg})
		}
	}
	return out
}

// TestRelativeLinks: every relative link in docs/*.md and README.md names
// a file or directory that exists (anchors are not checked).
func TestRelativeLinks(t *testing.T) {
	t.Parallel()
	for _, f := range markdownFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range relativeLinks(string(b)) {
			p := l.Target
			if i := strings.IndexAny(p, "#?"); i >= 0 {
				p = p[:i]
			}
			if up, err := url.PathUnescape(p); err == nil {
				p = up
			}
			var target string
			if strings.HasPrefix(p, "/") { // repository-rooted, as GitHub reads it
				target = filepath.Join("..", filepath.FromSlash(p))
			} else {
				target = filepath.Join(filepath.Dir(f), filepath.FromSlash(p))
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s:%d: link %q: %s does not exist", displayPath(f), l.Line, l.Target, displayPath(target))
			}
		}
	}
}

// displayPath names a file relative to the repository root.
func displayPath(p string) string {
	return filepath.ToSlash(filepath.Join("docs", p))
}

func TestRelativeLinksExtraction(t *testing.T) {
	t.Parallel()
	text := "See [arch](architecture.md#jobs) and ![img](img/a.png \"t\").\n" +
		"Not [web](https://example.org/x), not [anchor](#top), not `[code](code.md)`.\n" +
		"```\n[fenced](fenced.md)\n```\n" +
		"[ref]: ../deploy/prometheus/labops.rules.yml\n" +
		"[two](a.md) [three](<b c.md>)\n"
	got := relativeLinks(text)
	want := []link{{1, "architecture.md#jobs"}, {1, "img/a.png"}, {6, "../deploy/prometheus/labops.rules.yml"}, {7, "a.md"}, {7, "b c.md"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("relativeLinks (-want +got):\n%s", diff)
	}
}
