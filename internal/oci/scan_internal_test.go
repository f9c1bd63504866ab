package oci

import (
	"testing"
)

// FuzzParseStored: a manifest blob read from disk, whatever it holds,
// parses to a whole manifest, a schema1 list of layers, or a stated
// problem, and never panics.
func FuzzParseStored(f *testing.F) {
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`,
		`{"schemaVersion":1,"fsLayers":[{"blobSum":"sha256:0791605089a4eb0e0c045c559240f479970cea1a7a8fbfceb073453d382473ec"}]}`,
		`{"schemaVersion":2}`, `[]`, ``,
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, right bool) {
		d := "sha256:0000000000000000000000000000000000000000000000000000000000000000"
		if right {
			d = Digest(body)
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
