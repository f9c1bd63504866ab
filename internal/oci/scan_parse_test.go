package oci_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/oci"
)

const (
	gcD1 = "sha256:0791605089a4eb0e0c045c559240f479970cea1a7a8fbfceb073453d382473ec"
	gcD2 = "sha256:1021f864af017a0b191223ea11b13b631936505069c8b5c55a57c06809928967"
)

// The samples are real garbage-collect --dry-run output (distribution
// 2.8.2), written by TestGCPreflightIncident -update-gc-samples.
func TestParseGCOutputSamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file              string
		manifests, blobs  int
		marked            int
		firstManifestRepo string
	}{
		{file: "testdata/gc-dry-run.txt", manifests: 0, blobs: 3, marked: 13},
		{file: "testdata/gc-dry-run-delete-untagged.txt", manifests: 2, blobs: 9, marked: 7, firstManifestRepo: "app"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(tc.file)
			must(t, err)
			plan, err := oci.ParseGCOutput(b)
			must(t, err)
			if len(plan.Manifests) != tc.manifests || len(plan.Blobs) != tc.blobs || plan.Marked != tc.marked {
				t.Errorf("got %d manifests, %d blobs, %d marked; want %d, %d, %d", len(plan.Manifests), len(plan.Blobs), plan.Marked, tc.manifests, tc.blobs, tc.marked)
			}
			if tc.firstManifestRepo != "" && plan.Manifests[0].Repo != tc.firstManifestRepo {
				t.Errorf("first manifest in repository %q, want %q", plan.Manifests[0].Repo, tc.firstManifestRepo)
			}
		})
	}
}

func TestParseGCOutput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     *oci.GCPlan
		wantErr  string
	}{
		{
			name: "nested repositories",
			in: "team/app\nmanifest eligible for deletion: " + gcD1 + "\nteam/app: marking manifest " + gcD2 + " \nteam/app: marking blob " + gcD1 +
				"\nbase\n\n2 blobs marked, 1 blobs and 1 manifests eligible for deletion\nblob eligible for deletion: " + gcD2 + "\n",
			want: &oci.GCPlan{Manifests: []oci.GCManifest{{Repo: "team/app", Digest: gcD1}}, Blobs: []string{gcD2}, Marked: 2},
		},
		{name: "empty registry", in: "\n0 blobs marked, 0 blobs and 0 manifests eligible for deletion\n", want: &oci.GCPlan{}},
		{name: "log lines on stdout", in: "time=\"2026-01-01\" level=info msg=x\n\n0 blobs marked, 0 blobs and 0 manifests eligible for deletion\r\n", want: &oci.GCPlan{}},
		{name: "no summary", in: "app\napp: marking blob " + gcD1 + "\n", wantErr: "no summary line"},
		{name: "blob count disagrees", in: "\n0 blobs marked, 2 blobs and 0 manifests eligible for deletion\nblob eligible for deletion: " + gcD1 + "\n", wantErr: "says 2 blobs eligible, 1 are listed"},
		{name: "manifest count disagrees", in: "app\n\n0 blobs marked, 0 blobs and 1 manifests eligible for deletion\n", wantErr: "says 1 manifests eligible, 0 are listed"},
		{name: "manifest outside a repository", in: "manifest eligible for deletion: " + gcD1 + "\n", wantErr: "outside a repository"},
		{name: "bad digest", in: "\n0 blobs marked, 1 blobs and 0 manifests eligible for deletion\nblob eligible for deletion: sha256:xyz\n", wantErr: "not a digest"},
		{name: "blob before the summary", in: "blob eligible for deletion: " + gcD1 + "\n", wantErr: "before the summary"},
		{name: "marking another repository", in: "app\nbase: marking blob " + gcD1 + "\n", wantErr: "not a marking line"},
		{name: "unknown line", in: "Deleting blob: /docker/registry/v2/blobs/sha256/07\n", wantErr: "unrecognised garbage-collect output: line 1"},
		{name: "two summaries", in: "\n0 blobs marked, 0 blobs and 0 manifests eligible for deletion\n0 blobs marked, 0 blobs and 0 manifests eligible for deletion\n", wantErr: "a second summary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := oci.ParseGCOutput([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %+v, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			must(t, err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseGCOutput(f *testing.F) {
	for _, p := range []string{"testdata/gc-dry-run.txt", "testdata/gc-dry-run-delete-untagged.txt"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a\nmanifest eligible for deletion: " + gcD1 + "\n\n1 blobs marked, 0 blobs and 1 manifests eligible for deletion\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		plan, err := oci.ParseGCOutput(b)
		if err != nil {
			return
		}
		for _, m := range plan.Manifests {
			if !oci.ValidRepo(m.Repo) || !oci.ValidDigest(m.Digest) {
				t.Fatalf("accepted manifest %+v", m)
			}
		}
		for _, d := range plan.Blobs {
			if !oci.ValidDigest(d) {
				t.Fatalf("accepted blob %q", d)
			}
		}
	})
}

func FuzzParseLinkFile(f *testing.F) {
	for _, s := range []string{gcD1, gcD1 + "\n", "sha512:" + strings.Repeat("a", 128), "", "sha256:"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, ok := oci.ParseLinkFile(b)
		if ok && (!oci.ValidDigest(d) || d != string(b)) {
			t.Fatalf("accepted %q as %q", b, d)
		}
	})
}

func FuzzParseStartedAt(f *testing.F) {
	for _, s := range []string{"2026-12-01T14:34:16Z", "2026-12-01T14:34:16.224673011Z", "2026-12-01T14:34:16+02:00", "", "yesterday"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, ok := oci.ParseStartedAt(b)
		if ok && ts.IsZero() && !strings.HasPrefix(strings.TrimSpace(string(b)), "0001-01-01") {
			t.Fatalf("accepted %q as the zero time", b)
		}
		if !ok && ts != (time.Time{}) {
			t.Fatalf("rejected %q but returned %v", b, ts)
		}
	})
}

func FuzzRegistryStorageRoot(f *testing.F) {
	for _, s := range []string{"storage:\n  filesystem:\n    rootdirectory: /srv\n", "storage: {s3: {}}", "storage:\n  filesystem:\n", "{", "storage: 1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := oci.RegistryStorageRoot(b, func(string) string { return "" })
		if err == nil && root == "" {
			t.Fatalf("%q: no error and no root", b)
		}
	})
}
