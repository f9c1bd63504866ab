package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// markdownFiles are the documents the docs tests read: docs/*.md and the
// README, as paths relative to this package's directory.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("../README.md"); err == nil {
		files = append(files, "../README.md")
	}
	if len(files) == 0 {
		t.Fatal("no Markdown files found in docs/")
	}
	return files
}

// fence is one fenced code block: its info string (```mermaid → "mermaid"),
// the line of its opening fence, and its body.
type fence struct {
	Info string
	Line int
	Body string
}

var fenceOpen = regexp.MustCompile("^ {0,3}(```+|~~~+)[ \t]*([^`\\s]*)")

// splitFences returns the fenced code blocks of a Markdown text, and the
// text with every fenced line blanked (line numbers stay), so that links
// inside code are not taken for links.
func splitFences(text string) ([]fence, string) {
	lines := strings.Split(text, "\n")
	var fences []fence
	var cur *fence
	var marker string
	var body []string
	for i, l := range lines {
		if cur == nil {
			m := fenceOpen.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			cur, marker, body = &fence{Info: m[2], Line: i + 1}, m[1], nil
			lines[i] = ""
			continue
		}
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, marker) && strings.Trim(trimmed, marker[:1]) == "" {
			cur.Body = strings.Join(body, "\n")
			fences = append(fences, *cur)
			cur = nil
		} else {
			body = append(body, l)
		}
		lines[i] = ""
	}
	if cur != nil { // unclosed: CommonMark runs it to the end
		cur.Body = strings.Join(body, "\n")
		fences = append(fences, *cur)
	}
	return fences, strings.Join(lines, "\n")
}

func TestSplitFences(t *testing.T) {
	t.Parallel()
	text := "# t\n\n```mermaid\nflowchart LR\n  a --> b\n```\n\nsee [x](x.md)\n\n~~~go\n[y](y.md)\n~~~\n````\n```\n````\n"
	fences, rest := splitFences(text)
	if len(fences) != 3 || fences[0].Info != "mermaid" || fences[0].Line != 3 || fences[0].Body != "flowchart LR\n  a --> b" ||
		fences[1].Info != "go" || fences[2].Body != "```" {
		t.Errorf("fences = %+v", fences)
	}
	if strings.Contains(rest, "y.md") || !strings.Contains(rest, "x.md") || strings.Count(rest, "\n") != strings.Count(text, "\n") {
		t.Errorf("rest = %q", rest)
	}
}
