package oci

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Blob streams copy blobs of any size without holding one in memory.
//
// Timeouts: Options.RequestTimeout bounds a whole request for everything
// else, but a multi-gigabyte layer cannot be read in 30 s. A stream is
// therefore bounded by progress instead: the request must answer within
// RequestTimeout, and then every RequestTimeout at least one byte must
// move (read from the source, or taken by the destination's connection).
// A stalled stream fails with ErrRequestTimeout; a slow one that keeps
// moving never does. The caller's context bounds the total.
//
// Concurrency: the client's semaphore and rate limiter admit the request
// as usual, but the slot is released once the headers arrive, so that a
// caller copying N blobs at once bounds its own streams (holding N slots
// while also asking the same client for manifests would deadlock).

// watchdog cancels a context when no progress was reported for d.
type watchdog struct {
	d      time.Duration
	cancel context.CancelFunc
	mu     sync.Mutex
	t      *time.Timer
	fired  bool
}

func newWatchdog(ctx context.Context, d time.Duration) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watchdog{d: d, cancel: cancel}
	w.t = time.AfterFunc(d, func() {
		w.mu.Lock()
		w.fired = true
		w.mu.Unlock()
		cancel()
	})
	return ctx, w
}

// kick reports progress.
func (w *watchdog) kick() { w.t.Reset(w.d) }

// timedOut reports whether the watchdog (not the parent context) ended it.
func (w *watchdog) timedOut() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

func (w *watchdog) stop() {
	w.t.Stop()
	w.cancel()
}

// OpenBlob streams repo's blob d. The reader checks the bytes as they
// pass: it withholds the last chunk until the whole blob hashed to
// d.Digest, and ends with an error instead of io.EOF when the size or the
// digest is wrong (ErrSizeMismatch, ErrDigestMismatch or ErrEmptyBody,
// wrapped in a *StatusError as fetch.go does), so a consumer that streams
// it onward never delivers a complete wrong blob. Opening is retried like
// any request; reading is not. Close must be called.
func (c *Client) OpenBlob(ctx context.Context, repo string, d Descriptor) (io.ReadCloser, error) {
	h, err := newDigester(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("getting blob %s@%s: %w", repo, d.Digest, err)
	}
	if d.Size < 0 {
		return nil, fmt.Errorf("getting blob %s@%s: negative size %d", repo, d.Digest, d.Size)
	}
	resp, wd, err := c.openStream(ctx, request{method: http.MethodGet, path: "/v2/" + repo + "/blobs/" + d.Digest, scope: pullScope(repo)})
	if err != nil {
		return nil, fmt.Errorf("getting blob %s@%s: %w", repo, d.Digest, err)
	}
	return &blobReader{resp: resp, wd: wd, h: h, d: d, repo: repo}, nil
}

// openStream sends r with do's retry rules (do itself closes the body
// when its handler returns) and returns the 200 response with its body
// still open, under a progress watchdog the caller must stop.
func (c *Client) openStream(ctx context.Context, r request) (*http.Response, *watchdog, error) {
	authTried := false
	var lastErr error
	for attempt := 0; attempt <= c.retries; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(ctx, c.backoffFor(attempt, lastErr)); err != nil {
				return nil, nil, fmt.Errorf("%w (after %v)", err, lastErr)
			}
		}
		resp, wd, retry, authRetry, err := c.attemptStream(ctx, r)
		if authRetry && !authTried {
			authTried = true
			attempt-- // an auth round trip is not a retry
			continue
		}
		if err == nil {
			return resp, wd, nil
		}
		if !retry || ctx.Err() != nil {
			return nil, nil, err
		}
		lastErr = err
		c.log.Debug("retrying registry request", "method", r.method, "path", r.path, "attempt", attempt+1, "err", err)
	}
	return nil, nil, fmt.Errorf("%w after %d attempts: %w", ErrRetriesExhausted, c.retries+1, lastErr)
}

func (c *Client) attemptStream(ctx context.Context, r request) (_ *http.Response, _ *watchdog, retry, authRetry bool, err error) {
	u, err := c.base.Parse(r.path)
	if err != nil {
		return nil, nil, false, false, err
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, false, false, ctx.Err()
	}
	defer func() { <-c.sem }()
	if err := c.lim.wait(ctx); err != nil {
		return nil, nil, false, false, err
	}
	sctx, wd := newWatchdog(ctx, c.timeout)
	req, err := http.NewRequestWithContext(sctx, r.method, u.String(), nil)
	if err != nil {
		wd.stop()
		return nil, nil, false, false, err
	}
	req.Header.Set("User-Agent", "labops")
	sameHost := u.Host == c.base.Host
	if sameHost {
		c.auth.authorize(req, r.scope)
	}
	c.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		wd.stop()
		retry, _, err := c.transportError(ctx, sctx, r, u, err)
		return nil, nil, retry, false, err
	}
	if resp.StatusCode == http.StatusOK {
		wd.kick()
		return resp, wd, false, false, nil
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		wd.stop()
	}()
	if resp.StatusCode == http.StatusUnauthorized && sameHost {
		ok, aerr := c.auth.challenge(ctx, resp, r.scope)
		if aerr != nil {
			return nil, nil, false, false, fmt.Errorf("%s %s: %w", r.method, u.Path, aerr)
		}
		if ok {
			return nil, nil, false, true, fmt.Errorf("%s %s: %w", r.method, u.Path, statusError(resp))
		}
	}
	err = fmt.Errorf("%s %s: %w", r.method, u.Path, statusError(resp))
	if retryable(resp.StatusCode) {
		if ra := retryAfter(resp); ra > 0 {
			err = &retryAfterError{err: err, after: ra}
		}
		return nil, nil, true, false, err
	}
	return nil, nil, false, false, err
}

// blobReader is OpenBlob's verifying reader.
type blobReader struct {
	resp *http.Response
	wd   *watchdog
	h    hash.Hash
	d    Descriptor
	repo string
	n    int64
	err  error // sticky
}

func (b *blobReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	// Read at most one byte past the size, to notice a longer body.
	if rem := b.d.Size + 1 - b.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := b.resp.Body.Read(p)
	if n > 0 {
		b.wd.kick()
	}
	if b.n+int64(n) > b.d.Size {
		b.err = b.fail(ErrSizeMismatch, fmt.Sprintf("more than the %d bytes the descriptor says", b.d.Size))
		return 0, b.err
	}
	b.h.Write(p[:n])
	b.n += int64(n)
	if b.n == b.d.Size {
		// The last chunk goes out only if the whole blob is right.
		if got := b.sum(); got != b.d.Digest {
			b.err = b.fail(ErrDigestMismatch, "content is "+got)
			return 0, b.err
		}
		if err == nil {
			// Expect EOF next; the read past the size above catches more.
			return n, nil
		}
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		if b.n < b.d.Size {
			if b.n == 0 {
				b.err = &StatusError{Status: b.resp.StatusCode, Err: ErrEmptyBody}
				b.err = fmt.Errorf("getting blob %s@%s: %w", b.repo, b.d.Digest, b.err)
			} else {
				b.err = b.fail(ErrSizeMismatch, fmt.Sprintf("read %d bytes, descriptor says %d", b.n, b.d.Size))
			}
			return 0, b.err
		}
		b.err = io.EOF
		return n, io.EOF
	}
	if err != nil {
		if b.wd.timedOut() {
			err = fmt.Errorf("%w: no byte for %v", ErrRequestTimeout, b.wd.d)
		}
		b.err = fmt.Errorf("reading blob %s@%s: %w", b.repo, b.d.Digest, err)
		return 0, b.err
	}
	return n, nil
}

func (b *blobReader) sum() string {
	alg, _, _ := strings.Cut(b.d.Digest, ":")
	return alg + ":" + hex.EncodeToString(b.h.Sum(nil))
}

func (b *blobReader) fail(sentinel error, msg string) error {
	return fmt.Errorf("getting blob %s@%s: %w", b.repo, b.d.Digest,
		&StatusError{Status: b.resp.StatusCode, Err: fmt.Errorf("%w: %s", sentinel, msg)})
}

func (b *blobReader) Close() error {
	err := b.resp.Body.Close()
	b.wd.stop()
	return err
}

// BlobExists asks repo for blob d with a HEAD. A 404 is (false, nil). As
// doc.go says, a HEAD can be lied to by registry:2's descriptor cache; it
// is the right question before an upload (a wrong yes costs a missing blob
// that the deep check after a copy finds), not proof of data.
func (p *Pusher) BlobExists(ctx context.Context, repo string, d Descriptor) (bool, error) {
	err := p.c.HeadBlob(ctx, repo, d)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("asking %s for blob %s: %w", repo, d.Digest, err)
}

// MountBlob asks the registry to link blob d from fromRepo into repo
// without uploading it. It reports false when the registry answers 202
// (it started an upload instead: no mount support, or the blob is not
// there); that upload session is cancelled.
func (p *Pusher) MountBlob(ctx context.Context, repo, fromRepo string, d Descriptor) (bool, error) {
	mounted, location, err := p.mountOrStart(ctx, repo, fromRepo, d)
	if err != nil || mounted {
		return mounted, err
	}
	p.cancelUpload(ctx, repo, location)
	return false, nil
}

// mountOrStart tries a mount (fromRepo empty: none) and returns either
// mounted, or the Location of the upload session the registry opened.
func (p *Pusher) mountOrStart(ctx context.Context, repo, fromRepo string, d Descriptor) (mounted bool, location string, err error) {
	path := "/v2/" + repo + "/blobs/uploads/"
	scope := pushScope(repo)
	if fromRepo != "" {
		path += "?" + url.Values{"mount": {d.Digest}, "from": {fromRepo}}.Encode()
		scope += " " + pullScope(fromRepo)
	}
	err = p.c.do(ctx, request{method: http.MethodPost, path: path, body: []byte{}, scope: scope},
		func(resp *http.Response) error {
			switch resp.StatusCode {
			case http.StatusCreated:
				mounted = true
				return nil
			case http.StatusAccepted:
			default:
				return statusError(resp)
			}
			loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if err != nil || resp.Header.Get("Location") == "" {
				return fmt.Errorf("%w: upload Location %q", ErrMalformedResponse, resp.Header.Get("Location"))
			}
			location = p.c.relative(loc)
			return nil
		})
	if err != nil {
		if fromRepo != "" {
			return false, "", fmt.Errorf("mounting %s from %s into %s: %w", d.Digest, fromRepo, repo, err)
		}
		return false, "", fmt.Errorf("starting upload of %s to %s: %w", d.Digest, repo, err)
	}
	return mounted, location, nil
}

// cancelUpload deletes an upload session, best effort.
func (p *Pusher) cancelUpload(ctx context.Context, repo, location string) {
	_ = p.c.do(ctx, request{method: http.MethodDelete, path: location, scope: pushScope(repo)}, func(*http.Response) error { return nil })
}

// PushBlobFrom uploads blob d to repo, streaming its d.Size bytes from r:
// a POST, then one PUT whose body is r (never whole in memory). The
// registry checks the digest named in the PUT; when r fails (an OpenBlob
// reader that found corruption), the PUT is aborted before its last bytes
// and nothing is stored. The PUT is not retried (r cannot be rewound); a
// caller retries by opening its source again.
func (p *Pusher) PushBlobFrom(ctx context.Context, repo string, d Descriptor, r io.Reader) error {
	_, location, err := p.mountOrStart(ctx, repo, "", d)
	if err != nil {
		return err
	}
	return p.putUpload(ctx, repo, location, d, r)
}

// putUpload finishes the upload session at location with r's bytes.
func (p *Pusher) putUpload(ctx context.Context, repo, location string, d Descriptor, r io.Reader) error {
	c := p.c
	u, err := c.base.Parse(location)
	if err != nil {
		return fmt.Errorf("uploading %s to %s: %w: upload Location %q", d.Digest, repo, ErrMalformedResponse, location)
	}
	q := u.Query()
	q.Set("digest", d.Digest)
	u.RawQuery = q.Encode()
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("uploading %s to %s: %w", d.Digest, repo, ctx.Err())
	}
	released := false
	release := func() {
		if !released {
			released = true
			<-c.sem
		}
	}
	defer release()
	if err := c.lim.wait(ctx); err != nil {
		return fmt.Errorf("uploading %s to %s: %w", d.Digest, repo, err)
	}
	sctx, wd := newWatchdog(ctx, c.timeout)
	defer wd.stop()
	body := &progressReader{r: r, wd: wd}
	req, err := http.NewRequestWithContext(sctx, http.MethodPut, u.String(), body)
	if err != nil {
		return fmt.Errorf("uploading %s to %s: %w", d.Digest, repo, err)
	}
	req.ContentLength = d.Size
	if d.Size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("User-Agent", "labops")
	if u.Host == c.base.Host {
		c.auth.authorize(req, pushScope(repo))
	}
	c.requests.Add(1)
	// The slot bounds requests being started, not bytes in flight.
	release()
	resp, err := c.hc.Do(req)
	if err != nil {
		if body.err != nil {
			return fmt.Errorf("uploading %s to %s: %w", d.Digest, repo, body.err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("uploading %s to %s: %w", d.Digest, repo, ctx.Err())
		}
		if wd.timedOut() {
			return fmt.Errorf("uploading %s to %s: %w: no progress for %v", d.Digest, repo, ErrRequestTimeout, c.timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("uploading %s to %s: %w", d.Digest, repo, err)
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if body.err != nil {
		// The source failed but the registry answered anyway (it had
		// stopped reading): the source's error is the story.
		return fmt.Errorf("uploading %s to %s: %w", d.Digest, repo, body.err)
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("uploading %s to %s: %w", d.Digest, repo, statusError(resp))
	}
	return nil
}

// progressReader kicks a watchdog on every read and remembers the
// source's own error (the transport only says the body failed).
type progressReader struct {
	r   io.Reader
	wd  *watchdog
	err error
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.wd.kick()
	}
	if err != nil && err != io.EOF {
		p.err = err
	}
	return n, err
}
