package oci_test

import (
	"net/http"
	"os/exec"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/labops/labops/internal/job"

	"github.com/labops/labops/internal/oci"
)

func head(t testing.TB, url string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func cmpIgnore(fields ...string) cmp.Option {
	return cmpopts.IgnoreFields(oci.Summary{}, fields...)
}

var sortFindings = cmpopts.SortSlices(func(a, b job.Finding) bool { return a.Message < b.Message })

func runCmd(name string, args ...string) ([]byte, error) { return exec.Command(name, args...).Output() }

func itoa(i int) string { return strconv.Itoa(i) }

// mustGauge returns the collector registered under name, for ToFloat64.
func mustGauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "copy"})
			g.Set(mf.Metric[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
