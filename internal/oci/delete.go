package oci

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// ManifestDigest resolves repo's tag (or digest) to its manifest digest
// with a HEAD, as the registry names it in Docker-Content-Digest. A
// registry that does not name it is asked with a GET, and the body hashed.
func (c *Client) ManifestDigest(ctx context.Context, repo, ref string) (string, error) {
	var dgst string
	h := http.Header{"Accept": {acceptManifests}}
	err := c.do(ctx, request{method: http.MethodHead, path: "/v2/" + repo + "/manifests/" + url.PathEscape(ref), header: h, scope: pullScope(repo)},
		func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				return statusError(resp)
			}
			dgst = resp.Header.Get("Docker-Content-Digest")
			return nil
		})
	if err != nil {
		return "", fmt.Errorf("resolving %s:%s: %w", repo, ref, err)
	}
	if ValidDigest(dgst) {
		return dgst, nil
	}
	// No usable header: hash the body (a parse error does not matter here).
	fm, err := c.GetManifest(ctx, repo, ref)
	if fm != nil && fm.Digest != "" {
		return fm.Digest, nil
	}
	return "", err
}

// DeleteManifest deletes repo's manifest digest: DELETE
// /v2/<repo>/manifests/<digest>. On registry:2 this removes the revision
// and every tag pointing at it. A 404 is ErrNotFound (already gone).
func (c *Client) DeleteManifest(ctx context.Context, repo, digest string) error {
	if !ValidDigest(digest) {
		return fmt.Errorf("deleting %s@%s: not a digest", repo, digest)
	}
	scope := "repository:" + repo + ":pull,push,delete"
	err := c.do(ctx, request{method: http.MethodDelete, path: "/v2/" + repo + "/manifests/" + digest, scope: scope},
		func(resp *http.Response) error {
			if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
				return statusError(resp)
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("deleting manifest %s@%s: %w", repo, digest, err)
	}
	return nil
}

// GetBlob reads repo's blob d whole, at most max bytes, and checks its
// digest.
func (c *Client) GetBlob(ctx context.Context, repo string, d Descriptor, max int64) ([]byte, error) {
	if d.Size > max {
		return nil, fmt.Errorf("blob %s@%s: %d bytes, more than %d", repo, d.Digest, d.Size, max)
	}
	var body []byte
	err := c.do(ctx, request{method: http.MethodGet, path: "/v2/" + repo + "/blobs/" + d.Digest, scope: pullScope(repo)},
		func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				return statusError(resp)
			}
			b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
			if err != nil {
				return fmt.Errorf("reading blob: %w", err)
			}
			if len(b) == 0 && d.Size > 0 {
				return &StatusError{Status: resp.StatusCode, Err: ErrEmptyBody}
			}
			body = b
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("getting blob %s@%s: %w", repo, d.Digest, err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("blob %s@%s: more than %d bytes", repo, d.Digest, max)
	}
	if err := verifyDigest(d.Digest, body); err != nil {
		return nil, fmt.Errorf("blob %s@%s: %w", repo, d.Digest, err)
	}
	return body, nil
}
