package kubernetes_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

var update = flag.Bool("update", false, "rewrite prometheus-rules/prometheusrule.yaml from deploy/prometheus/labops.rules.yml")

const (
	rulesFile     = "../prometheus/labops.rules.yml"
	ruleResource  = "prometheus-rules/prometheusrule.yaml"
	ruleGenerated = `# Generated from deploy/prometheus/labops.rules.yml by
#   go test ./deploy/kubernetes -run TestPrometheusRule -update
# Do not edit: edit the rules file and run that; the test fails while the two differ.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: labops
spec:
`
)

// prometheusRule is the rules file as a PrometheusRule: its text, comments
// included, indented under spec (a PrometheusRule's spec is a rules file).
func prometheusRule(rules []byte) []byte {
	var b bytes.Buffer
	b.WriteString(ruleGenerated)
	for _, line := range strings.SplitAfter(string(rules), "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	return b.Bytes()
}

// TestPrometheusRule: the PrometheusRule is the rules file, so the alerts
// promtool tests in deploy/prometheus are the ones the operator loads.
func TestPrometheusRule(t *testing.T) {
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	want := prometheusRule(rules)
	if *update {
		if err := os.WriteFile(ruleResource, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(ruleResource)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from %s: run go test ./deploy/kubernetes -run TestPrometheusRule -update", ruleResource, rulesFile)
	}
	var spec monitoringv1.PrometheusRuleSpec
	if err := decodeStrict(rules, &spec); err != nil {
		t.Fatalf("%s as a PrometheusRule's spec: %v", rulesFile, err)
	}
	for _, dir := range []string{"prometheus-rules", "cronjobs", "serve"} {
		prs := ofKind[*monitoringv1.PrometheusRule](build(t, dir))
		if len(prs) != 1 {
			t.Fatalf("%s has %d PrometheusRules, want 1", dir, len(prs))
		}
		if diff := cmp.Diff(spec, prs[0].Spec); diff != "" {
			t.Errorf("%s: the PrometheusRule's spec is not %s (-file +built):\n%s", dir, rulesFile, diff)
		}
	}
}
