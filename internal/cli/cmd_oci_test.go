package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

func runOCI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Execute(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// seedOCI starts registry:2 with one healthy image and one whose layer is
// gone (a 404 after a restart clears the descriptor cache).
func seedOCI(t *testing.T) *labtest.Registry {
	t.Helper()
	r, _, p := startRegistry(t, oci.Options{})
	ctx := context.Background()
	if _, err := p.PushImage(ctx, "good", "v1", oci.Image{Config: []byte(`{"a":1}`), Layers: [][]byte{[]byte("good layer")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PushImage(ctx, "bad", "v1", oci.Image{Config: []byte(`{"b":1}`), Layers: [][]byte{[]byte("doomed layer")}}); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOCICheckCommand(t *testing.T) {
	t.Parallel()
	r := seedOCI(t)
	// A healthy repository alone: exit 0.
	code, out, errs := runOCI(t, "oci", "check", r.URL(), "--repo", "good")
	if code != 0 || !strings.Contains(out, "status: ok") {
		t.Errorf("check --repo good: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if errs != "" {
		t.Errorf("stderr not empty when piped: %q", errs)
	}
	// Delete the layer for good: remove its data and restart.
	r.Stop()
	if err := removeBlob(r, "doomed layer"); err != nil {
		t.Fatal(err)
	}
	r.Start()
	code, out, _ = runOCI(t, "oci", "check", r.URL(), "--json")
	if code != 1 {
		t.Errorf("check --json: exit %d, want 1\n%s", code, out)
	}
	var rep struct {
		Status string `json:"status"`
		Broken []struct {
			Repository string `json:"repository"`
			Tag        string `json:"tag"`
			Problems   []struct {
				Kind       string `json:"kind"`
				State      string `json:"state"`
				Digest     string `json:"digest"`
				HTTPStatus int    `json:"http_status"`
			} `json:"problems"`
		} `json:"broken"`
		Summary struct {
			Repositories int `json:"repositories"`
			Tags         int `json:"tags"`
			BrokenImages int `json:"broken_images"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	want := `{failed [{bad v1 [{layer missing ` + oci.Digest([]byte("doomed layer")) + ` 404}]}] {2 2 1}}`
	if diff := cmp.Diff(want, strings.TrimSpace(sprint(rep))); diff != "" {
		t.Errorf("--json report (-want +got):\n%s", diff)
	}
	// verify one good and one broken reference.
	if code, out, _ := runOCI(t, "oci", "verify", r.URL()+"/good:v1"); code != 0 {
		t.Errorf("verify good:v1: exit %d\n%s", code, out)
	}
	if code, out, _ := runOCI(t, "oci", "verify", r.URL()+"/bad:v1"); code != 1 || !strings.Contains(out, "BROKEN bad:v1") {
		t.Errorf("verify bad:v1: exit %d\n%s", code, out)
	}
	if code, out, _ := runOCI(t, "oci", "verify", r.URL()+"/good:nope"); code != 1 {
		t.Errorf("verify of a missing tag: exit %d, want 1\n%s", code, out)
	}
}

func TestOCICheckUnreachable(t *testing.T) {
	t.Parallel()
	addr := "http://127.0.0.1:" + itoa(labtest.FreePort(t))
	code, out, errs := runOCI(t, "oci", "check", addr, "--request-timeout", "2s")
	if code != 3 {
		t.Errorf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if !strings.Contains(out, "status: incomplete") || !strings.Contains(errs, "connection refused") {
		t.Errorf("want an incomplete status and the reason\nstdout:\n%s\nstderr:\n%s", out, errs)
	}
}

func TestOCIBadUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"oci", "check"}, "accepts 1 arg"},
		{[]string{"oci", "check", "localhost:5000", "--depth", "layers"}, `--depth "layers": valid are blobs, manifests`},
		{[]string{"oci", "check", "localhost:5000", "--concurrency", "0"}, "--concurrency 0: valid is 1 to 64"},
		{[]string{"oci", "check", "localhost:5000", "--rate", "-1"}, "--rate -1"},
		{[]string{"oci", "check", "ftp://localhost:5000"}, `scheme "ftp" is not http or https`},
		{[]string{"oci", "check", "localhost:5000", "--repo", "Bad Name"}, `--repo "Bad Name"`},
		{[]string{"oci", "check", "localhost:5000", "--username", "u"}, "--username needs --password-file"},
		{[]string{"oci", "check", "localhost:5000", "--depth", "manifests", "--verify-digests"}, "--verify-digests needs --depth blobs"},
		{[]string{"oci", "check", "localhost:5000", "--no-such-flag"}, "unknown flag"},
		{[]string{"oci", "verify", "app:v1"}, "want host/repository"},
		{[]string{"oci", "verify", "localhost:5000/app@sha256:abc"}, "is not a digest"},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			t.Parallel()
			code, _, errs := runOCI(t, tc.args...)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, errs, tc.want)
			}
		})
	}
}

// TestOCICheckIncident runs the incident through the command: an index
// whose untagged children registry:2's collector deleted is the only
// broken image, and the check exits 1.
func TestOCICheckIncident(t *testing.T) {
	t.Parallel()
	r, _, p := startRegistry(t, oci.Options{})
	ctx := context.Background()
	if _, err := p.PushImage(ctx, "app", "v1", oci.Image{Config: []byte(`{"v":1}`), Layers: [][]byte{[]byte("base"), []byte("app v1")}}); err != nil {
		t.Fatal(err)
	}
	var children []oci.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		d, err := p.PushImage(ctx, "app", "", oci.Image{Config: []byte(`{"arch":"` + arch + `"}`), Layers: [][]byte{[]byte("base"), []byte(arch)},
			Platform: &oci.Platform{OS: "linux", Architecture: arch}})
		if err != nil {
			t.Fatal(err)
		}
		children = append(children, d)
	}
	if _, err := p.PushIndex(ctx, "app", "multi", children, false); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	r.GarbageCollect(t, "--delete-untagged")
	r.Start()

	code, out, errs := runOCI(t, "oci", "check", r.URL())
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if strings.Count(out, "BROKEN ") != 1 || !strings.Contains(out, "BROKEN app:multi ") || strings.Contains(out, "app:v1") {
		t.Errorf("want exactly app:multi broken:\n%s", out)
	}
	for _, ch := range children {
		if !strings.Contains(out, "child-manifest "+ch.Digest+" ("+ch.Platform.String()+"): missing (HTTP 404): not found (MANIFEST_UNKNOWN)") {
			t.Errorf("report does not name child %s as missing:\n%s", ch.Digest, out)
		}
	}
	// The cheap tier sees it too.
	if code, out, _ := runOCI(t, "oci", "check", r.URL(), "--depth", "manifests"); code != 1 || !strings.Contains(out, "BROKEN app:multi ") {
		t.Errorf("--depth manifests: exit %d\n%s", code, out)
	}
}

// TestOCICheckHangingRegistry points the check at a server that accepts
// connections and never answers: --timeout ends it with exit 3.
func TestOCICheckHangingRegistry(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	code, out, errs := runOCI(t, "oci", "check", "http://"+l.Addr().String(), "--request-timeout", "300ms", "--timeout", "1s")
	if code != 3 || !strings.Contains(errs, "--timeout 1s reached") || !strings.Contains(out, "status: incomplete") {
		t.Errorf("exit %d; want 3 naming the timeout\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}
