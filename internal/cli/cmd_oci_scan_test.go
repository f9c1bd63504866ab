package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// seedStorage starts registry:2, pushes app:v1 (a plain image) and
// app:multi (a two-platform OCI index with untagged children), and stops
// it. It returns the registry and app:v1's second layer.
func seedStorage(t *testing.T) (*labtest.Registry, []oci.Descriptor, oci.Descriptor) {
	t.Helper()
	r, _, p := startRegistry(t, oci.Options{})
	ctx := context.Background()
	if _, err := p.PushImage(ctx, "app", "v1", oci.Image{Config: []byte(`{"v":1}`), Layers: [][]byte{[]byte("base"), []byte("doomed layer")}}); err != nil {
		t.Fatal(err)
	}
	var children []oci.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		d, err := p.PushImage(ctx, "app", "", oci.Image{Config: []byte(`{"arch":"` + arch + `"}`),
			Layers: [][]byte{[]byte("base"), []byte("layer for " + arch)}, Platform: &oci.Platform{OS: "linux", Architecture: arch}})
		if err != nil {
			t.Fatal(err)
		}
		children = append(children, d)
	}
	if _, err := p.PushIndex(ctx, "app", "multi", children, false); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	return r, children, oci.Descriptor{Digest: oci.Digest([]byte("doomed layer"))}
}

func TestOCIScanCommand(t *testing.T) {
	t.Parallel()
	r, _, doomed := seedStorage(t)
	dir := t.TempDir()
	code, stdout, stderr := run(t, t.Context(), dir, nil, "oci", "scan", r.Root())
	if code != ExitOK || !strings.Contains(stdout, "status: ok") || !strings.Contains(stdout, "1 repositories, 2 tags, 4 manifests") {
		t.Errorf("healthy: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if err := os.Remove(r.BlobData(doomed.Digest)); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = run(t, t.Context(), dir, nil, "oci", "scan", r.Root(), "--json", "--workers", "3")
	if code != ExitFailed {
		t.Errorf("missing layer: exit %d, want 1\n%s", code, stdout)
	}
	var rep struct {
		Status string `json:"status"`
		Broken []struct {
			Repository string `json:"repository"`
			Tag        string `json:"tag"`
			Problems   []struct {
				Kind, State, Digest string
			} `json:"problems"`
		} `json:"broken"`
		Summary struct {
			DanglingLinks int `json:"dangling_links"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if rep.Status != "failed" || len(rep.Broken) != 1 || rep.Broken[0].Tag != "v1" || len(rep.Broken[0].Problems) != 1 ||
		rep.Broken[0].Problems[0].Digest != doomed.Digest || rep.Broken[0].Problems[0].State != "missing" || rep.Summary.DanglingLinks != 1 {
		t.Errorf("--json report: %+v", rep)
	}

	// A symbolic link out of the root: reported, not followed, exit 3.
	if err := os.Symlink("/etc", filepath.Join(r.Root(), "docker/registry/v2/repositories/etc")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run(t, t.Context(), dir, nil, "oci", "scan", r.Root())
	if code != ExitIncomplete || !strings.Contains(stdout, `REFUSED docker/registry/v2/repositories/etc: symbolic link to "/etc" (outside the storage root), not followed`) ||
		!strings.Contains(stderr, "the scan is incomplete") {
		t.Errorf("symlink: exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestOCIScanBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing", []string{"oci", "scan", filepath.Join(dir, "nope")}, filepath.Join(dir, "nope") + " does not exist"},
		{"a file", []string{"oci", "scan", file}, file + " is not a directory"},
		{"not a registry root", []string{"oci", "scan", dir}, dir + " has no docker/registry/v2 directory"},
		{"no argument", []string{"oci", "scan"}, "accepts 1 arg"},
		{"bad workers", []string{"oci", "scan", dir, "--workers", "0"}, "--workers 0: valid is 1 to 256"},
		{"bad stale-upload", []string{"oci", "scan", dir, "--stale-upload", "-1h"}, "--stale-upload -1h0m0s"},
		{"gc-preflight: missing config", []string{"oci", "gc-preflight", filepath.Join(dir, "config.yml")}, "config.yml: no such file"},
		{"gc-preflight: not filesystem storage", []string{"oci", "gc-preflight", writeFile(t, "storage:\n  s3:\n    bucket: b\n")}, "only the filesystem driver"},
		{"gc-preflight: root not storage", []string{"oci", "gc-preflight", writeFile(t, "storage:\n  filesystem:\n    rootdirectory: "+dir+"\n")}, dir + " has no docker/registry/v2"},
		{"gc-preflight: no registry binary", []string{"oci", "gc-preflight", writeFile(t, "storage:\n  filesystem:\n    rootdirectory: "+dir+"\n"), "--registry-bin", "/nonexistent/registry"}, "--registry-bin /nonexistent/registry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, t.Context(), dir, nil, tc.args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 mentioning %q", code, stderr, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The incident through the command: --delete-untagged refused (exit 1)
// naming app:multi and its children; a plain collection accepted (exit 0).
func TestOCIGCPreflightCommand(t *testing.T) {
	t.Parallel()
	r, children, _ := seedStorage(t)
	dir := t.TempDir()
	code, stdout, stderr := run(t, t.Context(), dir, nil, "oci", "gc-preflight", r.Config(), "--delete-untagged")
	if code != ExitFailed {
		t.Errorf("--delete-untagged: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"WOULD BREAK app:multi", children[0].Digest + ": revision link deleted", children[1].Digest + ": revision link deleted", "refusing: the collection would break 1 tagged images"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--delete-untagged output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = run(t, t.Context(), dir, nil, "oci", "gc-preflight", r.Config(), "--json")
	var rep struct {
		Status     string `json:"status"`
		WouldBreak []any  `json:"would_break"`
		FreedBytes int64  `json:"freed_bytes"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if code != ExitOK || rep.Status != "ok" || len(rep.WouldBreak) != 0 || rep.FreedBytes != 0 {
		t.Errorf("plain: exit %d, report %+v; want exit 0, ok, nothing broken, 0 bytes\nstderr:\n%s", code, rep, stderr)
	}

	// A collector whose output labops does not know gives no verdict.
	fake := filepath.Join(t.TempDir(), "registry")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'Deleting everything'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, t.Context(), dir, nil, "oci", "gc-preflight", r.Config(), "--registry-bin", fake)
	if code != ExitIncomplete || !strings.Contains(stderr, "unrecognised garbage-collect output") {
		t.Errorf("unknown output: exit %d, want 3\nstderr:\n%s", code, stderr)
	}
	// The root the environment names wins, as it does for the registry.
	code, _, stderr = run(t, t.Context(), dir, map[string]string{"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": dir}, "oci", "gc-preflight", r.Config())
	if code != ExitUsage || !strings.Contains(stderr, dir+" has no docker/registry/v2") {
		t.Errorf("env root: exit %d, want 2\nstderr:\n%s", code, stderr)
	}
}

func TestOCIScanHelpListsExitCodes(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"scan", "gc-preflight"} {
		code, stdout, _ := run(t, t.Context(), t.TempDir(), nil, "oci", cmd, "--help")
		if code != 0 || !strings.Contains(stdout, "EXIT STATUS") || !strings.Contains(stdout, "could not complete") {
			t.Errorf("labops oci %s --help: exit %d, help without exit codes:\n%s", cmd, code, stdout)
		}
	}
}
