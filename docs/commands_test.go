package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/cli"
)

var (
	// A labops command line in a code span, a shell block or a diagram
	// label ends at a tag, a quote, a bracket, a comment or the line's end.
	// In a shell line it also ends at a pipe or a list operator.
	commandLine = regexp.MustCompile(`(?:^|[^\w.'-])labops ((?:[a-z][a-z0-9-]*)(?: [^<"\]#|;&\n]*)?)`)
	shellInfo   = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true, "mermaid": true}
)

type commandRef struct {
	Line int
	Args []string
}

// commandLines returns the labops command lines of a Markdown text: those
// in code spans, in shell blocks and in Mermaid diagrams.
func commandLines(text string) []commandRef {
	fences, rest := splitFences(text)
	var out []commandRef
	add := func(line int, s string) {
		for _, m := range commandLine.FindAllStringSubmatch(s, -1) {
			args := strings.Fields(strings.TrimRight(m[1], " .,;:`)"))
			if len(args) > 0 {
				out = append(out, commandRef{Line: line, Args: args})
			}
		}
	}
	for i, l := range strings.Split(rest, "\n") {
		for _, span := range codeSpan.FindAllString(l, -1) {
			add(i+1, strings.Trim(span, "`"))
		}
	}
	for _, f := range fences {
		if !shellInfo[f.Info] {
			continue
		}
		lines := strings.Split(f.Body, "\n")
		for j := 0; j < len(lines); j++ {
			start, l := j, strings.TrimPrefix(strings.TrimSpace(lines[j]), "$ ")
			// A line ending in a backslash goes on on the next one.
			for strings.HasSuffix(l, "\\") && j+1 < len(lines) {
				j++
				l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(lines[j])
			}
			add(f.Line+1+start, l)
		}
	}
	return out
}

// TestCommandLines: every labops command line in docs/*.md and the
// top-level README.md names a command that exists, with known flags and a
// valid number of arguments (cli.CheckArgs), so a renamed command or flag
// fails here.
func TestCommandLines(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join("..", "README.md"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range commandLines(string(b)) {
			n++
			if err := cli.CheckArgs(c.Args); err != nil {
				t.Errorf("%s:%d: labops %s: %v", displayPath(f), c.Line, strings.Join(c.Args, " "), err)
			}
		}
	}
	if n == 0 {
		t.Error("found no labops command lines in docs/*.md: the extraction is broken")
	}
}

func TestCommandLinesExtraction(t *testing.T) {
	t.Parallel()
	text := "Run `labops run JOB --config FILE`, not labops.yaml nor `labops.yaml`.\n" +
		"```sh\nlabops dns ready            # the gate\n$ labops oci check REGISTRY\n```\n" +
		"```sh\nlabops oci check --json R | jq .summary && labops version\nlabops mail roundtrip --smtp h:587 \\\n  --json\n```\n" +
		"```mermaid\nflowchart LR\n  a[\"labops serve<br/>x\"] --> b[\"Daemon: labops mail lint haproxy.cfg\"]\n```\n" +
		"```yaml\nargs: labops nope\n```\n"
	want := []commandRef{
		{1, []string{"run", "JOB", "--config", "FILE"}},
		{3, []string{"dns", "ready"}},
		{4, []string{"oci", "check", "REGISTRY"}},
		{7, []string{"oci", "check", "--json", "R"}},
		{7, []string{"version"}},
		{8, []string{"mail", "roundtrip", "--smtp", "h:587", "--json"}},
		{13, []string{"serve"}},
		{13, []string{"mail", "lint", "haproxy.cfg"}},
	}
	if diff := cmp.Diff(want, commandLines(text)); diff != "" {
		t.Errorf("commandLines (-want +got):\n%s", diff)
	}
}
