package oci

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParseStored: a manifest blob read from disk, whatever it holds,
// parses to a whole manifest, a schema1 list of layers, or a stated
// problem, and never panics.
func FuzzParseStored(f *testing.F) {
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`,
		`{"schemaVersion":1,"fsLayers":[{"blobSum":"sha256:0791605089a4eb0e0c045c559240f479970cea1a7a8fbfceb073453d382473ec"}]}`,
		`{"schemaVersion":2}`, `[]`, ``,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0791605089a4eb0e0c045c559240f479970cea1a7a8fbfceb073453d382473ec","size":7},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:1021f864af017a0b191223ea11b13b631936505069c8b5c55a57c06809928967","size":3}]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0791605089a4eb0e0c045c559240f479970cea1a7a8fbfceb073453d382473ec","size":7,"platform":{"os":"linux","architecture":"arm64"}}]}`,
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, right bool) {
		d := "sha256:0000000000000000000000000000000000000000000000000000000000000000"
		if right {
			d = Digest(body)
		}
		if fast := parseFast(body); fast != nil {
			slow, err := ParseManifest("", body)
			if err != nil {
				t.Fatalf("parseFast accepted what ParseManifest rejects (%v): %q", err, body)
			}
			if diff := cmp.Diff(slow, fast); diff != "" {
				t.Fatalf("parseFast and ParseManifest disagree on %q (-slow +fast):\n%s", body, diff)
			}
		}
		sm := parseStored(d, body)
		switch {
		case sm.state != "" && (sm.m != nil || sm.refs != nil || sm.msg == ""):
			t.Fatalf("problem %q with content: %+v", sm.state, sm)
		case sm.state == "" && sm.m == nil && sm.refs == nil && !isEmptySchema1(body):
			t.Fatalf("whole but empty: %+v", sm)
		case !right && sm.state != StateCorrupt && Digest(body) != d:
			t.Fatalf("wrong digest not corrupt: %+v", sm)
		}
		for _, r := range sm.refs {
			if !ValidDigest(r) {
				t.Fatalf("schema1 ref %q", r)
			}
		}
	})
}

func isEmptySchema1(body []byte) bool {
	refs, ok := schema1Refs(body)
	return ok && len(refs) == 0
}
