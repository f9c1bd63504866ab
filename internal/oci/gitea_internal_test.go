package oci

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testDigestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	testHexB    = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestParseGiteaPackages(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		body    string
		want    []giteaVersion
		others  int
		wantErr string
	}{
		{name: "empty", body: `[]`, want: []giteaVersion{}},
		{
			name: "tag and child, extra fields and another type",
			body: `[{"id":3,"owner":{"login":"x"},"type":"container","name":"app","version":"v1","created_at":"2026-11-30T10:00:00Z","html_url":"h"},
			        {"type":"container","name":"team/app","version":"` + testDigestA + `","created_at":"2026-11-30T11:00:00+01:00"},
			        {"type":"npm","name":"@x/y","version":"1.0.0 beta"}]`,
			want: []giteaVersion{
				{Name: "app", Version: "v1", Created: t0},
				{Name: "team/app", Version: testDigestA, Created: t0.In(time.FixedZone("", 3600))},
			},
			others: 1,
		},
		{name: "no created_at", body: `[{"type":"container","name":"app","version":"latest"}]`, want: []giteaVersion{{Name: "app", Version: "latest"}}},
		{name: "null created_at", body: `[{"type":"container","name":"app","version":"latest","created_at":null}]`, want: []giteaVersion{{Name: "app", Version: "latest"}}},
		{name: "not an array", body: `{"message":"x"}`, wantErr: "package list"},
		{name: "null", body: `null`, wantErr: "not a JSON array"},
		{name: "truncated", body: `[{"type":"container"`, wantErr: "package list"},
		{name: "null entry", body: `[null]`, wantErr: "entry 0 is null"},
		{name: "upper-case name", body: `[{"type":"container","name":"App","version":"v1"}]`, wantErr: "not a repository name"},
		{name: "name with ..", body: `[{"type":"container","name":"../x","version":"v1"}]`, wantErr: "not a repository name"},
		{name: "empty name", body: `[{"type":"container","name":"","version":"v1"}]`, wantErr: "not a repository name"},
		{name: "bad tag", body: `[{"type":"container","name":"app","version":"v1/../x"}]`, wantErr: "not a tag"},
		{name: "empty version", body: `[{"type":"container","name":"app","version":""}]`, wantErr: "not a tag"},
		{name: "short digest", body: `[{"type":"container","name":"app","version":"sha256:abc"}]`, wantErr: "not a sha256 digest"},
		{name: "other algorithm", body: `[{"type":"container","name":"app","version":"sha512:abc"}]`, wantErr: "not a tag"},
		{name: "bad time", body: `[{"type":"container","name":"app","version":"v1","created_at":"yesterday"}]`, wantErr: "created_at"},
		{name: "wrong field type", body: `[{"type":"container","name":7,"version":"v1"}]`, wantErr: "package list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, others, err := parseGiteaPackages([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrMalformedResponse) {
					t.Fatalf("err = %v, want ErrMalformedResponse with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if others != tt.others {
				t.Errorf("others = %d, want %d", others, tt.others)
			}
		})
	}
}

func TestParseGiteaFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want, wantErr string
	}{
		{name: "manifest and blobs", body: `[{"id":1,"Size":10,"name":"sha256_` + strings.Repeat("c", 64) + `","sha256":"` + strings.Repeat("c", 64) + `"},{"name":"manifest.json","sha256":"` + testHexB + `","md5":"x"}]`, want: "sha256:" + testHexB},
		{name: "none", body: `[{"name":"layer","sha256":"` + testHexB + `"}]`, wantErr: "no manifest.json"},
		{name: "two", body: `[{"name":"manifest.json","sha256":"` + testHexB + `"},{"name":"manifest.json","sha256":"` + testHexB + `"}]`, wantErr: "two manifest.json"},
		{name: "upper-case hex", body: `[{"name":"manifest.json","sha256":"` + strings.ToUpper(testHexB) + `"}]`, wantErr: "sha256"},
		{name: "empty hash", body: `[{"name":"manifest.json","sha256":""}]`, wantErr: "sha256"},
		{name: "null entries are skipped", body: `[null,{"name":"manifest.json","sha256":"` + testHexB + `"}]`, want: "sha256:" + testHexB},
		{name: "object", body: `{}`, wantErr: "package files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseGiteaFiles([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrMalformedResponse) {
					t.Fatalf("err = %v, want ErrMalformedResponse with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestLinkHasNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		links []string
		want  bool
	}{
		{nil, false},
		{[]string{`<http://h/api/v1/packages/o?page=2&limit=50>; rel="next",<http://h/api/v1/packages/o?page=3&limit=50>; rel="last"`}, true},
		{[]string{`<http://h/x?page=2>; rel="prev",<http://h/x?page=1>; rel="first"`}, false},
		{[]string{`<http://h/x?page=1>; rel="first"`, `<http://h/x?page=3>; REL=next`}, true},
		{[]string{`<http://h/x?a=b,c>; rel="last next"`}, true},
		{[]string{`rel="next"`}, false}, // no <url>
		{[]string{`<u>; title="rel=next"`}, false},
	}
	for _, tt := range tests {
		if got := linkHasNext(tt.links); got != tt.want {
			t.Errorf("linkHasNext(%q) = %v, want %v", tt.links, got, tt.want)
		}
	}
}

// FuzzParseGiteaPackages: any reply either fails with ErrMalformedResponse
// or yields only versions the backend can safely put in a URL path and a
// registry reference.
func FuzzParseGiteaPackages(f *testing.F) {
	f.Add([]byte(`[{"type":"container","name":"app","version":"v1","created_at":"2026-11-30T10:00:00Z"}]`))
	f.Add([]byte(`[{"type":"container","name":"a/b","version":"` + testDigestA + `"},{"type":"npm","name":"x","version":"1"}]`))
	f.Add([]byte(`[null]`))
	f.Add([]byte(`{"message":"not found"}`))
	f.Add([]byte(`[{"type":"container","name":"app","version":"sha256:../../x"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		vs, _, err := parseGiteaPackages(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error %v is not ErrMalformedResponse", err)
			}
			return
		}
		for _, v := range vs {
			if !ValidRepo("owner/" + v.Name) {
				t.Errorf("name %q passed", v.Name)
			}
			if v.untagged() {
				if !ValidDigest(v.Version) {
					t.Errorf("digest version %q passed", v.Version)
				}
			} else if !ValidTag(v.Version) {
				t.Errorf("tag version %q passed", v.Version)
			}
			if strings.Contains(v.Name, "..") || strings.ContainsAny(v.Version, "/?#%") {
				t.Errorf("unsafe path element %q %q", v.Name, v.Version)
			}
		}
	})
}

func FuzzParseGiteaFiles(f *testing.F) {
	f.Add([]byte(`[{"name":"manifest.json","sha256":"` + testHexB + `"}]`))
	f.Add([]byte(`[{"name":"manifest.json","sha256":"../x"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := parseGiteaFiles(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error %v is not ErrMalformedResponse", err)
			}
			return
		}
		if !strings.HasPrefix(d, "sha256:") || !ValidDigest(d) {
			t.Fatalf("digest %q passed", d)
		}
	})
}
