// Package prometheus_test checks the Prometheus rules in deploy/prometheus:
// promtool accepts them, their promtool unit tests pass, every alert has a
// case where it fires and one where it stays quiet, every alert carries the
// labels and annotations Alertmanager and the runbooks rely on, and every
// labops metric a rule reads is one the code registers.
package prometheus_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/labops/labops/internal/labtest"
)

const (
	rulesFile      = "labops.rules.yml"
	thresholdsFile = "thresholds.example.yml"
	runbookPrefix  = "https://github.com/labops/labops/blob/main/docs/runbooks/"
)

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type testFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name      string `yaml:"name"`
		AlertTest []struct {
			EvalTime  string           `yaml:"eval_time"`
			AlertName string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// decode reads YAML into v; strict rejects fields v does not know (used
// for the rules file, whose whole shape is modelled here; promtool itself
// validates the test files).
func decode(t *testing.T, path string, v any, strict bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(strict)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func testFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.test.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.test.yml next to %s (%v)", rulesFile, err)
	}
	sort.Strings(files)
	return files
}

func alerts(t *testing.T) map[string]rule {
	t.Helper()
	var rf ruleFile
	decode(t, rulesFile, &rf, true)
	out := map[string]rule{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if _, dup := out[r.Alert]; dup {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			out[r.Alert] = r
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s defines no alerts", rulesFile)
	}
	return out
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := labtest.Need(t, "promtool", "prometheus")
	out, err := exec.Command(promtool, "check", "rules", rulesFile, thresholdsFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := labtest.Need(t, "promtool", "prometheus")
	args := append([]string{"test", "rules"}, testFiles(t)...)
	out, err := exec.Command(promtool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Every alert needs a case where it fires and one where it stays quiet; a
// case naming an alert that does not exist would pass as quiet forever.
func TestEveryAlertFiresAndStaysQuiet(t *testing.T) {
	defined := alerts(t)
	firing, quiet := map[string]int{}, map[string]int{}
	for _, f := range testFiles(t) {
		var tf testFile
		decode(t, f, &tf, false)
		if !contains(tf.RuleFiles, rulesFile) {
			t.Errorf("%s does not load %s", f, rulesFile)
		}
		for _, tc := range tf.Tests {
			for _, at := range tc.AlertTest {
				if _, ok := defined[at.AlertName]; !ok {
					t.Errorf("%s: test %q checks alert %q, which %s does not define", f, tc.Name, at.AlertName, rulesFile)
				}
				if len(at.ExpAlerts) > 0 {
					firing[at.AlertName]++
				} else {
					quiet[at.AlertName]++
				}
			}
		}
	}
	for name := range defined {
		if firing[name] == 0 {
			t.Errorf("alert %s has no test case where it fires", name)
		}
		if quiet[name] == 0 {
			t.Errorf("alert %s has no test case where it stays quiet", name)
		}
	}
}

func TestAlertsCarrySeverityAnnotationsAndRunbook(t *testing.T) {
	for name, r := range alerts(t) {
		switch r.Labels["severity"] {
		case "critical", "warning":
		default:
			t.Errorf("alert %s: severity %q, want critical or warning", name, r.Labels["severity"])
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("alert %s has no %s annotation", name, a)
			}
		}
		if want := runbookPrefix + name + ".md"; r.Annotations["runbook_url"] != want {
			t.Errorf("alert %s: runbook_url %q, want %q", name, r.Annotations["runbook_url"], want)
		}
	}
}

var metricName = regexp.MustCompile(`\blabops_[a-z_]+[a-z]\b`)

// A rule on a misspelt metric never fires, and its tests, fed the same
// misspelling, would still pass: every labops_* name the rules read must be
// one the code registers, as docs/metrics.md lists them (generated from the
// collectors themselves, and tested to be current by go test ./docs).
func TestRulesReadOnlyMetricsTheCodeRegisters(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(labops_[a-z_]+)` \\|").FindAllSubmatch(b, -1) {
		registered[string(m[1])] = true
	}
	if len(registered) < 20 {
		t.Fatalf("docs/metrics.md lists %d labops metrics: its table format changed?", len(registered))
	}
	var rf ruleFile
	decode(t, rulesFile, &rf, true)
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				if !registered[m] {
					t.Errorf("rule %s%s reads %s, which docs/metrics.md (what the code registers) does not list", r.Alert, r.Record, m)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
