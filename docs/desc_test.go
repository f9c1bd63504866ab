package docs_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// desc is what the reference shows of a *prometheus.Desc.
type desc struct {
	Name, Help  string
	ConstLabels []string // names only: values are the job's, not the code's
	VarLabels   []string
}

// parseDesc reads a *prometheus.Desc through its String method, the only
// view client_golang gives of a Desc's name, help and labels:
//
//	Desc{fqName: "a", help: "b", constLabels: {job="x"}, variableLabels: {result}}
//
// It is strict: anything else is an error, so a change of that format in a
// client_golang upgrade fails the test instead of producing a wrong reference.
func parseDesc(s string) (desc, error) {
	var d desc
	rest := s
	fail := func(what string) (desc, error) {
		return desc{}, fmt.Errorf("client_golang's Desc.String format changed (docs/desc_test.go parses it): %s in %q", what, s)
	}
	expect := func(lit string) bool {
		if !strings.HasPrefix(rest, lit) {
			return false
		}
		rest = rest[len(lit):]
		return true
	}
	quoted := func() (string, bool) {
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return "", false
		}
		v, err := strconv.Unquote(q)
		if err != nil {
			return "", false
		}
		rest = rest[len(q):]
		return v, true
	}
	var ok bool
	if !expect(`Desc{fqName: `) {
		return fail(`no "Desc{fqName: "`)
	}
	if d.Name, ok = quoted(); !ok {
		return fail("no quoted fqName")
	}
	if !expect(`, help: `) {
		return fail(`no ", help: "`)
	}
	if d.Help, ok = quoted(); !ok {
		return fail("no quoted help")
	}
	if !expect(`, constLabels: {`) {
		return fail(`no ", constLabels: {"`)
	}
	for !expect("}") {
		if len(d.ConstLabels) > 0 && !expect(",") {
			return fail("no ',' between const labels")
		}
		i := strings.Index(rest, "=")
		if i <= 0 || !labelName.MatchString(rest[:i]) {
			return fail("no label name before '='")
		}
		d.ConstLabels = append(d.ConstLabels, rest[:i])
		rest = rest[i+1:]
		if _, ok := quoted(); !ok {
			return fail("no quoted const label value")
		}
	}
	if !expect(`, variableLabels: {`) {
		return fail(`no ", variableLabels: {"`)
	}
	end := strings.Index(rest, "}")
	if end < 0 {
		return fail("variableLabels not closed")
	}
	if names := rest[:end]; names != "" {
		for _, n := range strings.Split(names, ",") {
			// c(name) marks a label with a value constraint.
			if strings.HasPrefix(n, "c(") && strings.HasSuffix(n, ")") {
				n = n[2 : len(n)-1]
			}
			if !labelName.MatchString(n) {
				return fail(fmt.Sprintf("variable label %q is not a label name", n))
			}
			d.VarLabels = append(d.VarLabels, n)
		}
	}
	rest = rest[end+1:]
	if rest != "}" {
		return fail("trailing text after variableLabels")
	}
	return d, nil
}

func TestParseDesc(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		d    *prometheus.Desc
		want desc
	}{
		{"plain", prometheus.NewDesc("labops_x", "Help.", nil, nil), desc{Name: "labops_x", Help: "Help."}},
		{"labels", prometheus.NewDesc("labops_x_total", `Help with "quotes", commas, {braces} and a \ backslash.`,
			[]string{"server", "zone"}, prometheus.Labels{"job": "a,b=\"c\"}"}),
			desc{Name: "labops_x_total", Help: `Help with "quotes", commas, {braces} and a \ backslash.`,
				ConstLabels: []string{"job"}, VarLabels: []string{"server", "zone"}}},
		{"two const labels", prometheus.NewDesc("labops_y", "H", []string{"role"}, prometheus.Labels{"job": "j", "instance": "i"}),
			desc{Name: "labops_y", Help: "H", ConstLabels: []string{"instance", "job"}, VarLabels: []string{"role"}}},
		{"constrained", prometheus.V2.NewDesc("labops_z", "H", prometheus.ConstrainedLabels{{Name: "role", Constraint: strings.ToLower}}, nil),
			desc{Name: "labops_z", Help: "H", VarLabels: []string{"role"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDesc(tc.d.String())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseDesc(%s) (-want +got):\n%s", tc.d, diff)
			}
		})
	}
	for _, bad := range []string{
		``,
		`Desc{fqName: "a", help: "b", constLabels: {}}`,
		`Desc{fqName: "a", help: "b", constLabels: {}, variableLabels: [x]}`,
		`Desc{fqName: "a", help: "b", constLabels: {}, variableLabels: {x}} `,
		`Desc{name: "a", help: "b", constLabels: {}, variableLabels: {}}`,
		`Desc{fqName: "a", help: "b", constLabels: {job}, variableLabels: {}}`,
		`Desc{fqName: "a", help: "b", constLabels: {}, variableLabels: {x y}}`,
	} {
		if d, err := parseDesc(bad); err == nil {
			t.Errorf("parseDesc(%q) = %+v, want an error", bad, d)
		}
	}
}
