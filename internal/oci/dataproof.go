package oci

import (
	"context"
	"net/http"
	"sync"
)

// dataProofs makes a check read each distinct blob's data once per
// registry, not once per repository.
//
// What a ranged GET proves that a HEAD cannot is that the blob's bytes
// exist: registry:2's descriptor cache answers a HEAD (and a GET's headers)
// for data deleted behind its back, but cannot fake a byte. registry:2 keeps
// blob data in one global store and checks a repository's link through the
// same cache for a GET as for a HEAD, so in every other repository that
// links the blob a HEAD proves all a ranged GET would. Registries that store
// data per repository have no such cache to lie (their HEAD stats the data).
// On registry:2 a ranged blob GET costs about three HEADs of CPU (it sets up
// a 4 MiB read buffer), so this is most of a check's cost on registries
// whose images share base layers.
type dataProofs struct {
	mu sync.Mutex
	m  map[string]*dataProof
}

type dataProof struct {
	done chan struct{}
	ok   bool
}

// claim returns (p, true) when the caller must read the data itself and
// then call settle; otherwise it waits for the reader in flight and reports
// (nil, false) when the data is proven, or claims it anew when that read
// failed (a missing link in one repository proves nothing about the data).
func (d *dataProofs) claim(ctx context.Context, digest string) (*dataProof, bool) {
	for {
		d.mu.Lock()
		p, ok := d.m[digest]
		if !ok {
			p = &dataProof{done: make(chan struct{})}
			d.m[digest] = p
			d.mu.Unlock()
			return p, true
		}
		d.mu.Unlock()
		select {
		case <-p.done:
		case <-ctx.Done():
			// Let the caller fail on its own context, with a proof of
			// its own that nobody waits for.
			return &dataProof{done: make(chan struct{})}, true
		}
		if p.ok {
			return nil, false
		}
		d.mu.Lock()
		if d.m[digest] == p {
			delete(d.m, digest)
		}
		d.mu.Unlock()
	}
}

// settle records the outcome of the read that claim handed out; a failed
// read is claimed anew by the next repository that needs the blob.
func (p *dataProof) settle(ok bool) {
	p.ok = ok
	close(p.done)
}

// HeadBlob checks that repo links blob d, with a HEAD.
func (c *Client) HeadBlob(ctx context.Context, repo string, d Descriptor) error {
	path := "/v2/" + repo + "/blobs/" + d.Digest
	return c.do(ctx, request{method: http.MethodHead, path: path, scope: pullScope(repo)}, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return statusError(resp)
		}
		return nil
	})
}
