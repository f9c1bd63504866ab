package prometheus_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/cli"
)

// runbookDir holds docs/runbooks/<AlertName>.md, the page every alert's
// runbook_url points at, and README.md, their index.
var runbookDir = filepath.Join("..", "..", "docs", "runbooks")

// runbookSections are the headings every runbook has, in this order.
var runbookSections = []string{"Meaning", "Impact", "Diagnosis", "Mitigation", "False positives"}

// runbook is one docs/runbooks page, read.
type runbook struct {
	path     string
	text     string
	title    string     // the first line, "# <AlertName>"
	sections []string   // the "## " headings outside code blocks, in order
	shell    []shellCmd // every line of its sh code blocks
}

type shellCmd struct {
	line int
	text string // continuation lines joined
}

func readRunbook(t *testing.T, path string) runbook {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rb := runbook{path: path, text: string(b)}
	var (
		fence   string // "" outside a code block, else its opening
		pending *shellCmd
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			rb.title = line
		}
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if fence == "" {
				fence = strings.TrimPrefix(trimmed, "```")
			} else {
				fence = ""
			}
			continue
		}
		switch {
		case fence == "" && strings.HasPrefix(line, "## "):
			rb.sections = append(rb.sections, strings.TrimSpace(strings.TrimPrefix(line, "## ")))
		case fence == "sh" || fence == "bash" || fence == "shell":
			if pending != nil {
				pending.text += " " + trimmed
			} else {
				pending = &shellCmd{line: n, text: trimmed}
			}
			if strings.HasSuffix(pending.text, `\`) {
				pending.text = strings.TrimSuffix(pending.text, `\`)
				continue
			}
			rb.shell = append(rb.shell, *pending)
			pending = nil
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if fence != "" {
		t.Errorf("%s: a code block is never closed", path)
	}
	return rb
}

// runbookFiles returns docs/runbooks/*.md by alert name, README.md aside.
func runbookFiles(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(runbookDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range paths {
		if name := strings.TrimSuffix(filepath.Base(p), ".md"); name != "README" {
			out[name] = p
		}
	}
	return out
}

// Every alert has a runbook and every runbook an alert: a removed or
// renamed alert leaves a page behind, and that fails here.
func TestEveryAlertHasARunbook(t *testing.T) {
	defined := alerts(t)
	files := runbookFiles(t)
	for name := range defined {
		if _, ok := files[name]; !ok {
			t.Errorf("alert %s has no runbook: write %s", name, filepath.Join(runbookDir, name+".md"))
		}
	}
	for name, p := range files {
		if _, ok := defined[name]; !ok {
			t.Errorf("%s is named after no alert in %s: rename or delete it with its alert", p, rulesFile)
		}
	}
}

var alertName = regexp.MustCompile(`\bLabops[A-Z][A-Za-z0-9]*\b`)

// The index lists every alert once, with the severity its rule gives it.
func TestRunbookIndexListsEveryAlertOnce(t *testing.T) {
	severity := map[string]string{}
	for name, r := range alerts(t) {
		severity[name] = r.Labels["severity"]
	}
	b, err := os.ReadFile(filepath.Join(runbookDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) < 3 {
			t.Errorf("README.md: row %q: want alert | severity | what it means", line)
			continue
		}
		names := alertName.FindAllString(cells[0], -1)
		if len(names) == 0 {
			continue // the header and separator rows
		}
		name := names[0]
		seen[name]++
		want, ok := severity[name]
		if !ok {
			t.Errorf("README.md lists %s, which is no alert", name)
			continue
		}
		if got := strings.TrimSpace(cells[1]); got != want {
			t.Errorf("README.md: %s has severity %q, its rule says %q", name, got, want)
		}
		if !strings.Contains(cells[0], "("+name+".md)") {
			t.Errorf("README.md: %s does not link to %s.md", name, name)
		}
	}
	for name := range severity {
		if seen[name] != 1 {
			t.Errorf("README.md lists %s %d times, want once", name, seen[name])
		}
	}
}

func TestRunbooksHaveTheSections(t *testing.T) {
	for name, p := range runbookFiles(t) {
		rb := readRunbook(t, p)
		if want := "# " + name; rb.title != want {
			t.Errorf("%s: first line %q, want %q", p, rb.title, want)
		}
		if diff := cmp.Diff(runbookSections, rb.sections); diff != "" {
			t.Errorf("%s: ## headings differ (-want +got):\n%s", p, diff)
		}
	}
}

var recordingName = regexp.MustCompile(`\blabops:[a-z_:]*[a-z]\b`)

// When a rule changes what it reads, its runbook must be reread: each one
// names every labops_* metric its alert reads, directly or through the
// recording rules of the rules file, and every recording rule it reads.
func TestRunbooksNameTheMetricsTheirAlertReads(t *testing.T) {
	var rf ruleFile
	decode(t, rulesFile, &rf, true)
	records := map[string][]string{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				records[r.Record] = append(records[r.Record], r.Expr)
			}
		}
	}
	files := runbookFiles(t)
	for name, r := range alerts(t) {
		p, ok := files[name]
		if !ok {
			continue // TestEveryAlertHasARunbook says so
		}
		text := readRunbook(t, p).text
		for _, m := range readsOf(r.Expr, records) {
			if !regexp.MustCompile(`(^|[^a-z_:])` + regexp.QuoteMeta(m) + `($|[^a-z_:])`).MatchString(text) {
				t.Errorf("%s does not mention %s, which alert %s reads", p, m, name)
			}
		}
	}
}

// readsOf returns what expr reads: each labops_* metric, directly or
// through recording rules, and each recording rule it names itself.
func readsOf(expr string, records map[string][]string) []string {
	out := map[string]bool{}
	for _, rec := range recordingName.FindAllString(expr, -1) {
		out[rec] = true
	}
	seen := map[string]bool{}
	var walk func(string)
	walk = func(e string) {
		for _, m := range metricName.FindAllString(e, -1) {
			out[m] = true
		}
		for _, rec := range recordingName.FindAllString(e, -1) {
			if !seen[rec] {
				seen[rec] = true
				for _, sub := range records[rec] {
					walk(sub)
				}
			}
		}
	}
	walk(expr)
	names := make([]string, 0, len(out))
	for m := range out {
		names = append(names, m)
	}
	slices.Sort(names)
	return names
}

// Every labops command in a runbook's sh blocks is one the CLI would run:
// the command exists, its flags are known, its argument count is right.
func TestRunbookCommandsAreValid(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(runbookDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range paths {
		for _, sc := range readRunbook(t, p).shell {
			cmds, err := shellCommands(sc.text)
			if err != nil {
				t.Errorf("%s:%d: %v: %s", p, sc.line, err, sc.text)
				continue
			}
			for _, words := range cmds {
				if len(words) == 0 || words[0] != "labops" {
					continue
				}
				checked++
				if err := cli.CheckArgs(words[1:]); err != nil {
					t.Errorf("%s:%d: %v\n\t%s", p, sc.line, err, sc.text)
				}
			}
		}
	}
	if checked == 0 {
		t.Errorf("no labops command found in the sh blocks of %s", runbookDir)
	}
}

// shellCommands splits one shell line into the words of each simple
// command, as sh would for what runbooks hold: single and double quotes,
// backslashes, a trailing # comment, pipes and lists (| || && ; &).
// Redirections and their targets are dropped; anything fancier
// (substitutions, globs, variables) is left as written.
func shellCommands(line string) ([][]string, error) {
	var (
		cmds     [][]string
		words    []string
		cur      strings.Builder
		inWord   bool
		redirect bool // the next word is a redirection's target
	)
	flush := func() {
		if inWord {
			if redirect {
				redirect = false
			} else {
				words = append(words, cur.String())
			}
		}
		cur.Reset()
		inWord = false
	}
	endCommand := func() {
		flush()
		cmds = append(cmds, words)
		words = nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(line); i++ {
				if line[i] == '"' {
					closed = true
					break
				}
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(line[i])
			}
			if !closed {
				return nil, errors.New("unterminated double quote")
			}
		case c == '\\':
			if i+1 < len(line) {
				i++
				cur.WriteByte(line[i])
			}
			inWord = true
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			endCommand()
			return nonEmpty(cmds), nil
		case c == '|' || c == ';' || c == '&':
			endCommand()
			if i+1 < len(line) && (line[i+1] == c) {
				i++
			}
		case c == '<' || c == '>':
			if inWord && strings.Trim(cur.String(), "0123456789") == "" {
				cur.Reset() // the descriptor of 2>, not a word
				inWord = false
			}
			flush()
			for i+1 < len(line) && (line[i+1] == '>' || line[i+1] == '&') {
				i++
			}
			redirect = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	endCommand()
	if redirect {
		return nil, fmt.Errorf("redirection without a target")
	}
	return nonEmpty(cmds), nil
}

func nonEmpty(cmds [][]string) [][]string {
	var out [][]string
	for _, c := range cmds {
		if len(c) > 0 {
			out = append(out, c)
		}
	}
	return out
}

func TestShellCommands(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		want [][]string
	}{
		{`labops run registry --config /etc/labops/labops.yaml`, [][]string{{"labops", "run", "registry", "--config", "/etc/labops/labops.yaml"}}},
		{`labops dns ready   # the gate`, [][]string{{"labops", "dns", "ready"}}},
		{`labops dns ready --override "tertiary rebuilt, INC-1"`, [][]string{{"labops", "dns", "ready", "--override", "tertiary rebuilt, INC-1"}}},
		{`labops oci retain r --keep-tag 'v*' --json | jq '.plan | length'`, [][]string{{"labops", "oci", "retain", "r", "--keep-tag", "v*", "--json"}, {"jq", ".plan | length"}}},
		{`labops oci check r --json > report.json 2>&1`, [][]string{{"labops", "oci", "check", "r", "--json"}}},
		{`labops oci gc-preflight c.yml && docker-registry garbage-collect c.yml`, [][]string{{"labops", "oci", "gc-preflight", "c.yml"}, {"docker-registry", "garbage-collect", "c.yml"}}},
		{`echo a\ b "x#y" c#d; true || false`, [][]string{{"echo", "a b", "x#y", "c#d"}, {"true"}, {"false"}}},
		{`# only a comment`, nil},
	} {
		got, err := shellCommands(tc.line)
		if err != nil {
			t.Errorf("shellCommands(%q): %v", tc.line, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("shellCommands(%q) (-want +got):\n%s", tc.line, diff)
		}
	}
	for _, bad := range []string{`labops run 'x`, `labops run "x`, `labops run x >`} {
		if _, err := shellCommands(bad); err == nil {
			t.Errorf("shellCommands(%q) = nil error, want one", bad)
		}
	}
}
