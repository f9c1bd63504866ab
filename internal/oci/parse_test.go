package oci_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/oci"
)

func TestParseChallenges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    []oci.Challenge
		wantErr string
	}{
		{
			in: `Bearer realm="https://auth.example.org/token",service="registry.example.org",scope="repository:app:pull"`,
			want: []oci.Challenge{{Scheme: "bearer", Params: map[string]string{
				"realm": "https://auth.example.org/token", "service": "registry.example.org", "scope": "repository:app:pull"}}},
		},
		{in: `Basic realm="labtest"`, want: []oci.Challenge{{Scheme: "basic", Params: map[string]string{"realm": "labtest"}}}},
		{in: `basic`, want: []oci.Challenge{{Scheme: "basic", Params: map[string]string{}}}},
		{
			in: `Basic realm="a, b", Bearer realm="https://t/x" , error=insufficient_scope`,
			want: []oci.Challenge{
				{Scheme: "basic", Params: map[string]string{"realm": "a, b"}},
				{Scheme: "bearer", Params: map[string]string{"realm": "https://t/x", "error": "insufficient_scope"}},
			},
		},
		{in: `Bearer realm="a\"b"`, want: []oci.Challenge{{Scheme: "bearer", Params: map[string]string{"realm": `a"b`}}}},
		{in: ``, wantErr: "no challenge"},
		{in: `Bearer realm="unterminated`, wantErr: "unterminated quoted string"},
		{in: `Bearer realm="x" junk`, wantErr: "expected ','"},
		{in: `=x`, wantErr: "expected an auth scheme"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := oci.ParseChallenges(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %+v, %v; want error containing %q", got, err, tc.wantErr)
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

func TestParseLinkNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
		wantErr  string
	}{
		{in: `</v2/_catalog?last=b&n=2>; rel="next"`, want: "/v2/_catalog?last=b&n=2", ok: true},
		{in: `</v2/app/tags/list?n=2&last=v2>; rel=next`, want: "/v2/app/tags/list?n=2&last=v2", ok: true},
		{in: `<https://x/prev>; rel="prev", <https://x/next>; rel="next"`, want: "https://x/next", ok: true},
		{in: `<https://x/a>; title="a;b"; rel="last next"`, want: "https://x/a", ok: true},
		{in: `<https://x/prev>; rel="prev"`},
		{in: ``},
		{in: `/v2/_catalog; rel="next"`, wantErr: "expected '<'"},
		{in: `</v2/_catalog; rel="next"`, wantErr: "unterminated <"},
		{in: `</v2/x>; rel="next`, wantErr: "unterminated quoted string"},
		{in: `</v2/x> rel="next"`, wantErr: "expected ';'"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, ok, err := oci.ParseLinkNext(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want || ok != tc.ok {
				t.Errorf("got %q, %v, %v; want %q, %v", got, ok, err, tc.want, tc.ok)
			}
		})
	}
}

const (
	d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestParseManifest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, ct, body string
		wantType       string
		wantIndex      bool
		wantErr        error
		wantMsg        string
	}{
		{name: "oci manifest", body: `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIManifest + `","config":{"digest":"` + d1 + `","size":2},"layers":[{"digest":"` + d2 + `","size":3}]}`, wantType: oci.MediaTypeOCIManifest},
		{name: "oci manifest without mediaType, by header", ct: oci.MediaTypeOCIManifest, body: `{"schemaVersion":2,"config":{"digest":"` + d1 + `","size":2},"layers":[]}`, wantType: oci.MediaTypeOCIManifest},
		{name: "oci manifest without mediaType or header", body: `{"schemaVersion":2,"config":{"digest":"` + d1 + `","size":2}}`, wantType: oci.MediaTypeOCIManifest},
		{name: "oci index", body: `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIIndex + `","manifests":[{"digest":"` + d1 + `","size":2,"platform":{"os":"linux","architecture":"arm64"}}]}`, wantType: oci.MediaTypeOCIIndex, wantIndex: true},
		{name: "oci index by shape", body: `{"schemaVersion":2,"manifests":[]}`, wantType: oci.MediaTypeOCIIndex, wantIndex: true},
		{name: "docker schema2", body: `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeDockerManifest + `","config":{"digest":"` + d1 + `","size":2},"layers":[{"digest":"` + d2 + `","size":3}]}`, wantType: oci.MediaTypeDockerManifest},
		{name: "docker list", body: `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeDockerList + `","manifests":[{"digest":"` + d1 + `","size":2}]}`, wantType: oci.MediaTypeDockerList, wantIndex: true},
		{name: "schema1", ct: oci.MediaTypeDockerSchema1Signed, body: `{"schemaVersion":1,"name":"app","tag":"v1","fsLayers":[]}`, wantErr: oci.ErrUnsupportedMedia, wantMsg: "schema1"},
		{name: "unknown type", body: `{"schemaVersion":2,"mediaType":"application/vnd.example+json"}`, wantErr: oci.ErrUnsupportedMedia, wantMsg: "application/vnd.example+json"},
		{name: "not json", body: `<html>`, wantErr: oci.ErrInvalidManifest},
		{name: "bad digest", body: `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIManifest + `","config":{"digest":"sha256:xyz","size":2}}`, wantErr: oci.ErrInvalidManifest, wantMsg: "config: digest"},
		{name: "negative size", body: `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeOCIIndex + `","manifests":[{"digest":"` + d1 + `","size":-1}]}`, wantErr: oci.ErrInvalidManifest, wantMsg: "manifests[0]: negative size"},
		{name: "manifest without config", body: `{"schemaVersion":2,"mediaType":"` + oci.MediaTypeDockerManifest + `","layers":[]}`, wantErr: oci.ErrInvalidManifest, wantMsg: "no config"},
		{name: "schemaVersion 3", body: `{"schemaVersion":3}`, wantErr: oci.ErrInvalidManifest, wantMsg: "schemaVersion 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := oci.ParseManifest(tc.ct, []byte(tc.body))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("error %v, want %v containing %q", err, tc.wantErr, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != tc.wantType || m.IsIndex() != tc.wantIndex {
				t.Errorf("type %s index %v, want %s %v", m.MediaType, m.IsIndex(), tc.wantType, tc.wantIndex)
			}
		})
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add("", `{"schemaVersion":2,"mediaType":"`+oci.MediaTypeOCIIndex+`","manifests":[{"digest":"`+d1+`","size":2}]}`)
	f.Add(oci.MediaTypeDockerManifest, `{"schemaVersion":2,"config":{"digest":"`+d1+`","size":2},"layers":[{"digest":"`+d2+`","size":3}]}`)
	f.Add(oci.MediaTypeDockerSchema1, `{"schemaVersion":1}`)
	f.Fuzz(func(t *testing.T, ct, body string) {
		m, err := oci.ParseManifest(ct, []byte(body))
		if err != nil {
			if !errors.Is(err, oci.ErrInvalidManifest) && !errors.Is(err, oci.ErrUnsupportedMedia) {
				t.Fatalf("error %v is neither invalid nor unsupported", err)
			}
			return
		}
		// Whatever parses points only at valid digests.
		for _, d := range append(append([]oci.Descriptor{}, m.Manifests...), m.Layers...) {
			if !oci.ValidDigest(d.Digest) || d.Size < 0 {
				t.Fatalf("accepted descriptor %+v", d)
			}
		}
		if !m.IsIndex() && !oci.ValidDigest(m.Config.Digest) {
			t.Fatalf("accepted config %+v", m.Config)
		}
	})
}

func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{`Bearer realm="https://a/t",service="r",scope="repository:x:pull"`, `Basic realm="a, b", Bearer realm=x`, `a="\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := oci.ParseChallenges(s)
		if err == nil && len(cs) == 0 {
			t.Fatalf("%q: no error and no challenge", s)
		}
		for _, c := range cs {
			if c.Scheme == "" || c.Scheme != strings.ToLower(c.Scheme) {
				t.Fatalf("%q: scheme %q", s, c.Scheme)
			}
		}
	})
}

func FuzzParseLinkNext(f *testing.F) {
	for _, s := range []string{`</v2/_catalog?last=b&n=2>; rel="next"`, `<a>; rel=prev, <b>; rel=next`, `<`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		target, ok, err := oci.ParseLinkNext(s)
		if err != nil && ok {
			t.Fatalf("%q: error and ok", s)
		}
		if ok && strings.ContainsAny(target, "<>") {
			t.Fatalf("%q: target %q holds brackets", s, target)
		}
	})
}
