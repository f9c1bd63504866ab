package oci

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxManifestSize bounds a manifest body (registry:2 refuses > 4 MiB too).
const maxManifestSize = 4 << 20

// FetchedManifest is a manifest GET's outcome.
type FetchedManifest struct {
	Digest      string // from the content when fetched by digest, else the header (or content)
	ContentType string
	Body        []byte
	Manifest    *Manifest
}

// GetManifest fetches repo's manifest by tag or digest, accepting the four
// manifest types. When ref is a digest, or the registry names one in
// Docker-Content-Digest, the body must hash to it (ErrDigestMismatch).
// The manifest is parsed; a parse error is returned with the body kept.
func (c *Client) GetManifest(ctx context.Context, repo, ref string) (*FetchedManifest, error) {
	var fm FetchedManifest
	h := http.Header{"Accept": {acceptManifests}}
	err := c.do(ctx, request{method: http.MethodGet, path: "/v2/" + repo + "/manifests/" + ref, header: h, scope: pullScope(repo)},
		func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				return statusError(resp)
			}
			body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
			if err != nil {
				return fmt.Errorf("reading body: %w", err)
			}
			if len(body) > maxManifestSize {
				return fmt.Errorf("%w: larger than %d bytes", ErrInvalidManifest, maxManifestSize)
			}
			if len(body) == 0 {
				return &StatusError{Status: resp.StatusCode, Err: ErrEmptyBody}
			}
			fm.Body = body
			fm.ContentType = resp.Header.Get("Content-Type")
			fm.Digest = resp.Header.Get("Docker-Content-Digest")
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("getting manifest %s:%s: %w", repo, ref, err)
	}
	want := fm.Digest
	if ValidDigest(ref) {
		want = ref
	}
	if want == "" || !ValidDigest(want) {
		fm.Digest = Digest(fm.Body)
	} else {
		if err := verifyDigest(want, fm.Body); err != nil {
			return &fm, fmt.Errorf("manifest %s@%s: %w", repo, want, err)
		}
		fm.Digest = want
	}
	m, err := ParseManifest(fm.ContentType, fm.Body)
	if err != nil {
		return &fm, fmt.Errorf("manifest %s@%s: %w", repo, fm.Digest, err)
	}
	fm.Manifest = m
	return &fm, nil
}

// CheckBlob proves that repo's blob d can be read, with a one-byte ranged
// GET: a 206 with its byte, or a 200 with a body, is present; an empty body
// is missing (ErrEmptyBody) even with a 2xx status, because registry:2's
// blob descriptor cache answers HEAD and GET 200 for a blob whose data is
// gone. A size-0 blob has no byte to read, so it falls back to HEAD.
func (c *Client) CheckBlob(ctx context.Context, repo string, d Descriptor) error {
	path := "/v2/" + repo + "/blobs/" + d.Digest
	if d.Size == 0 {
		return c.do(ctx, request{method: http.MethodHead, path: path, scope: pullScope(repo)}, func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				return statusError(resp)
			}
			return nil
		})
	}
	h := http.Header{"Range": {"bytes=0-0"}}
	return c.do(ctx, request{method: http.MethodGet, path: path, header: h, scope: pullScope(repo)}, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
			return statusError(resp)
		}
		n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1))
		if n == 0 && errors.Is(err, io.ErrUnexpectedEOF) {
			// registry:2 with a cached descriptor promises the byte and
			// closes: the data is gone.
			err = nil
		}
		if err != nil {
			return fmt.Errorf("reading first byte: %w", err)
		}
		if n == 0 {
			return &StatusError{Status: resp.StatusCode, Err: ErrEmptyBody}
		}
		return nil
	})
}

// VerifyBlob downloads repo's blob d whole and checks its size and digest.
func (c *Client) VerifyBlob(ctx context.Context, repo string, d Descriptor) error {
	h, err := newDigester(d.Digest)
	if err != nil {
		return err
	}
	path := "/v2/" + repo + "/blobs/" + d.Digest
	return c.do(ctx, request{method: http.MethodGet, path: path, scope: pullScope(repo)}, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return statusError(resp)
		}
		h.Reset()
		n, err := io.Copy(h, io.LimitReader(resp.Body, d.Size+1))
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil // a body shorter than promised: judged by its size below
		}
		if err != nil {
			return fmt.Errorf("reading blob: %w", err)
		}
		if n == 0 && d.Size > 0 {
			return &StatusError{Status: resp.StatusCode, Err: ErrEmptyBody}
		}
		if n != d.Size {
			return &StatusError{Status: resp.StatusCode, Err: fmt.Errorf("%w: read %d bytes, descriptor says %d", ErrSizeMismatch, n, d.Size)}
		}
		alg, _, _ := strings.Cut(d.Digest, ":")
		got := alg + ":" + hex.EncodeToString(h.Sum(nil))
		if got != d.Digest {
			return &StatusError{Status: resp.StatusCode, Err: fmt.Errorf("%w: content is %s", ErrDigestMismatch, got)}
		}
		return nil
	})
}
