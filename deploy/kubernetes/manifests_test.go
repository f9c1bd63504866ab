// Package kubernetes_test checks the Kubernetes manifests in
// deploy/kubernetes: the real kustomize builds every kustomization, every
// object it prints decodes strictly into its Kubernetes (or
// prometheus-operator) API type, and the CronJobs, the serve Deployment,
// its Service and ServiceMonitors agree with labops.yaml, with the labops
// command line (cli.CheckArgs) and with each other.
package kubernetes_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/labops/labops/internal/labtest"
)

// kustomizations are the directories shipped here that kustomize builds
// (prometheus-rules is built on its own too: a user may want only the
// rules). TestEveryKustomizationIsBuilt keeps the list complete.
var kustomizations = []string{"base", "prometheus-rules", "cronjobs", "serve"}

// kustomizeVersion is the release scripts/test-deps installs.
const kustomizeVersion = "5.7.1"

// needKustomize returns the kustomize binary: LABOPS_KUSTOMIZE, the cache
// path scripts/test-deps installs to, or kustomize on PATH; else it skips
// the test (fails it under CI=true).
func needKustomize(t *testing.T) string {
	t.Helper()
	return labtest.NeedCached(t, "LABOPS_KUSTOMIZE", "kustomize-"+kustomizeVersion, "kustomize", "kustomize "+kustomizeVersion)
}

// object is one object of a build, decoded into its API type.
type object struct {
	Kind, Name string
	Obj        any
}

// newObject maps apiVersion/kind to the API type an object must decode
// into. A kind missing here fails the test: it is checked by nothing.
var newObject = map[string]func() any{
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/PersistentVolumeClaim":                func() any { return &corev1.PersistentVolumeClaim{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"batch/v1/CronJob":                        func() any { return &batchv1.CronJob{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// decodeStrict decodes one YAML document into v the way the API server's
// strict field validation does: sigs.k8s.io/json rejects an unknown or
// duplicated field and one whose name matches only case-insensitively
// (encoding/json accepts "RestartPolicy"), naming its path; encoding/json
// with DisallowUnknownFields must accept it too.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		var msgs []string
		for _, e := range strict {
			msgs = append(msgs, e.Error())
		}
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decodeAll splits a multi-document YAML stream and decodes each document
// strictly into its API type.
func decodeAll(out []byte) ([]object, error) {
	var objs []object
	for i, doc := range docSeparator.Split(string(out), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("document %d: %v", i, err)
		}
		what := tm.APIVersion + "/" + tm.Kind
		mk, ok := newObject[what]
		if !ok {
			return nil, fmt.Errorf("%s %s: a kind this test does not know; add its API type to newObject and checks for it", what, tm.Metadata.Name)
		}
		v := mk()
		if err := decodeStrict([]byte(doc), v); err != nil {
			return nil, fmt.Errorf("%s %s: %v", tm.Kind, tm.Metadata.Name, err)
		}
		objs = append(objs, object{Kind: tm.Kind, Name: tm.Metadata.Name, Obj: v})
	}
	return objs, nil
}

var builds struct {
	sync.Mutex
	out map[string][]byte
	err map[string]error
}

// build runs `kustomize build dir` once per test binary and decodes its
// output; any failure fails the test.
func build(t *testing.T, dir string) []object {
	t.Helper()
	bin := needKustomize(t)
	builds.Lock()
	out, done := builds.out[dir]
	err := builds.err[dir]
	if !done {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "build", dir)
		cmd.Stderr = &stderr
		out, err = cmd.Output()
		if err != nil {
			err = fmt.Errorf("kustomize build %s: %v\n%s", dir, err, stderr.String())
		}
		if builds.out == nil {
			builds.out, builds.err = map[string][]byte{}, map[string]error{}
		}
		builds.out[dir], builds.err[dir] = out, err
	}
	builds.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return objs
}

// ofKind returns the objects of type T in objs.
func ofKind[T any](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestEveryKustomizationIsBuilt(t *testing.T) {
	t.Parallel()
	var found []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "kustomization.yaml" {
			found = append(found, filepath.Dir(path))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	want := slices.Sorted(slices.Values(kustomizations))
	if !slices.Equal(found, want) {
		t.Errorf("kustomization.yaml files in %v, the test builds %v: add the new one to kustomizations", found, want)
	}
}

func TestKustomizationsBuildStrictly(t *testing.T) {
	t.Parallel()
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			if objs := build(t, dir); len(objs) == 0 {
				t.Errorf("kustomize build %s printed no objects", dir)
			}
		})
	}
}

// TestModesApart: a user runs one mode; a Deployment among the CronJobs
// (or the reverse) would run every job twice.
func TestModesApart(t *testing.T) {
	t.Parallel()
	cron := build(t, "cronjobs")
	serve := build(t, "serve")
	if n := len(ofKind[*appsv1.Deployment](cron)); n != 0 {
		t.Errorf("cronjobs has %d Deployment(s): serve would run the jobs a second time", n)
	}
	if n := len(ofKind[*batchv1.CronJob](serve)); n != 0 {
		t.Errorf("serve has %d CronJob(s): they would run jobs serve already schedules", n)
	}
	if n := len(ofKind[*batchv1.CronJob](cron)); n == 0 {
		t.Error("cronjobs has no CronJob")
	}
	if n := len(ofKind[*appsv1.Deployment](serve)); n != 1 {
		t.Errorf("serve has %d Deployments, want 1", n)
	}
}
