package oci_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/oci"
)

func TestParseRegistry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		plain   bool
		want    oci.Registry
		wantErr string
	}{
		{in: "localhost:5000", want: oci.Registry{Scheme: "https", Host: "localhost:5000"}},
		{in: "localhost:5000", plain: true, want: oci.Registry{Scheme: "http", Host: "localhost:5000"}},
		{in: "https://registry.example.org", want: oci.Registry{Scheme: "https", Host: "registry.example.org"}},
		{in: "http://127.0.0.1:5000", want: oci.Registry{Scheme: "http", Host: "127.0.0.1:5000"}},
		{in: "http://127.0.0.1:5000/v2/", want: oci.Registry{Scheme: "http", Host: "127.0.0.1:5000"}},
		{in: "HTTP://[::1]:5000", want: oci.Registry{Scheme: "http", Host: "[::1]:5000"}},
		{in: "", wantErr: "registry address is empty"},
		{in: "ftp://host", wantErr: `registry "ftp://host": scheme "ftp" is not http or https`},
		{in: "https://host", plain: true, wantErr: "contradicts plain HTTP"},
		{in: "host/path", wantErr: `registry "host/path": want host[:port] with no path`},
		{in: "http://", wantErr: `registry "http://": no host`},
		{in: "host:99999", wantErr: `bad port "99999"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := oci.ParseRegistry(tc.in, tc.plain)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseReference(t *testing.T) {
	t.Parallel()
	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	local := oci.Registry{Scheme: "https", Host: "localhost:5000"}
	for _, tc := range []struct {
		in      string
		want    oci.Reference
		wantErr string
	}{
		{in: "localhost:5000/app", want: oci.Reference{Registry: local, Repo: "app", Tag: "latest"}},
		{in: "localhost:5000/team/app:1.2.3", want: oci.Reference{Registry: local, Repo: "team/app", Tag: "1.2.3"}},
		{in: "localhost:5000/app@" + dg, want: oci.Reference{Registry: local, Repo: "app", Digest: dg}},
		{in: "localhost:5000/app:v1@" + dg, want: oci.Reference{Registry: local, Repo: "app", Tag: "v1", Digest: dg}},
		{in: "http://127.0.0.1:5000/a-b_c.d:x", want: oci.Reference{Registry: oci.Registry{Scheme: "http", Host: "127.0.0.1:5000"}, Repo: "a-b_c.d", Tag: "x"}},
		{in: "app:v1", wantErr: "want host/repository"},
		{in: "localhost:5000/", wantErr: "want host/repository"},
		{in: "localhost:5000/App:v1", wantErr: `"App" is not a valid repository name`},
		{in: "localhost:5000/app:-bad", wantErr: `"-bad" is not a valid tag`},
		{in: "localhost:5000/app@sha256:12", wantErr: `"sha256:12" is not a digest`},
		{in: "ftp://h/app", wantErr: `scheme "ftp"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := oci.ParseReference(tc.in, false)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.in) {
					t.Errorf("error %q does not name the value %q", err, tc.in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"localhost:5000/app:v1", "http://h/a@sha256:00", "h/a/b/c:d@e:f", "::/::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := oci.ParseReference(s, false)
		if err != nil {
			return
		}
		if !oci.ValidRepo(ref.Repo) || ref.Registry.Host == "" {
			t.Fatalf("accepted %q as %+v", s, ref)
		}
		// What it prints parses back to itself.
		again, err := oci.ParseReference(ref.Registry.Scheme+"://"+ref.String(), false)
		if err != nil || again != ref {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, ref, ref.String(), again, err)
		}
	})
}
