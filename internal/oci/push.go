package oci

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// Pusher uploads blobs and manifests over the distribution API, for
// seeding registries in tests, benchmarks and the embedded lab. Uploads
// are monolithic (POST, then PUT with the whole body).
type Pusher struct {
	c *Client
}

// NewPusher returns a pusher that sends through c (its auth, retries and
// request counter included).
func NewPusher(c *Client) *Pusher { return &Pusher{c: c} }

func pushScope(repo string) string { return "repository:" + repo + ":pull,push" }

// PushBlob uploads data to repo and returns its descriptor with mediaType.
func (p *Pusher) PushBlob(ctx context.Context, repo, mediaType string, data []byte) (Descriptor, error) {
	d := Descriptor{MediaType: mediaType, Digest: Digest(data), Size: int64(len(data))}
	var location string
	err := p.c.do(ctx, request{method: http.MethodPost, path: "/v2/" + repo + "/blobs/uploads/", body: []byte{}, scope: pushScope(repo)},
		func(resp *http.Response) error {
			if resp.StatusCode != http.StatusAccepted {
				return statusError(resp)
			}
			loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if err != nil || resp.Header.Get("Location") == "" {
				return fmt.Errorf("%w: upload Location %q", ErrMalformedResponse, resp.Header.Get("Location"))
			}
			q := loc.Query()
			q.Set("digest", d.Digest)
			loc.RawQuery = q.Encode()
			location = p.c.relative(loc)
			return nil
		})
	if err != nil {
		return d, fmt.Errorf("starting upload of %s to %s: %w", d.Digest, repo, err)
	}
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	err = p.c.do(ctx, request{method: http.MethodPut, path: location, header: h, body: data, scope: pushScope(repo)},
		func(resp *http.Response) error {
			if resp.StatusCode != http.StatusCreated {
				return statusError(resp)
			}
			return nil
		})
	if err != nil {
		return d, fmt.Errorf("uploading %s to %s: %w", d.Digest, repo, err)
	}
	return d, nil
}

// PushManifest puts a manifest body under ref (a tag, or its digest for an
// untagged manifest) and returns its descriptor.
func (p *Pusher) PushManifest(ctx context.Context, repo, ref, mediaType string, body []byte) (Descriptor, error) {
	d := Descriptor{MediaType: mediaType, Digest: Digest(body), Size: int64(len(body))}
	if ref == "" {
		ref = d.Digest
	}
	h := http.Header{"Content-Type": {mediaType}}
	err := p.c.do(ctx, request{method: http.MethodPut, path: "/v2/" + repo + "/manifests/" + url.PathEscape(ref), header: h, body: body, scope: pushScope(repo)},
		func(resp *http.Response) error {
			if resp.StatusCode != http.StatusCreated {
				return statusError(resp)
			}
			return nil
		})
	if err != nil {
		return d, fmt.Errorf("putting manifest %s:%s: %w", repo, ref, err)
	}
	return d, nil
}

// Image is what PushImage uploads: a config and layers, any bytes.
type Image struct {
	Config   []byte
	Layers   [][]byte
	Platform *Platform // set on the descriptor PushImage returns
	// Docker selects the Docker schema2 media types instead of OCI.
	Docker bool
}

// PushImage uploads img's blobs and its manifest under ref (empty ref
// pushes it untagged, by digest) and returns the manifest's descriptor.
func (p *Pusher) PushImage(ctx context.Context, repo, ref string, img Image) (Descriptor, error) {
	mt, cmt, lmt := MediaTypeOCIManifest, MediaTypeOCIConfig, MediaTypeOCILayer
	if img.Docker {
		mt, cmt, lmt = MediaTypeDockerManifest, MediaTypeDockerConfig, MediaTypeDockerLayer
	}
	m := &Manifest{SchemaVersion: 2, MediaType: mt}
	cfg, err := p.PushBlob(ctx, repo, cmt, img.Config)
	if err != nil {
		return Descriptor{}, err
	}
	m.Config = cfg
	for _, l := range img.Layers {
		d, err := p.PushBlob(ctx, repo, lmt, l)
		if err != nil {
			return Descriptor{}, err
		}
		m.Layers = append(m.Layers, d)
	}
	body, err := MarshalManifest(m)
	if err != nil {
		return Descriptor{}, err
	}
	d, err := p.PushManifest(ctx, repo, ref, mt, body)
	d.Platform = img.Platform
	return d, err
}

// PushIndex puts an index of children (already pushed, with platforms)
// under tag and returns its descriptor. docker selects a Docker manifest
// list instead of an OCI index.
func (p *Pusher) PushIndex(ctx context.Context, repo, tag string, children []Descriptor, docker bool) (Descriptor, error) {
	mt := MediaTypeOCIIndex
	if docker {
		mt = MediaTypeDockerList
	}
	body, err := MarshalManifest(&Manifest{SchemaVersion: 2, MediaType: mt, Manifests: children})
	if err != nil {
		return Descriptor{}, err
	}
	return p.PushManifest(ctx, repo, tag, mt, body)
}
