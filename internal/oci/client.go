package oci

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// Defaults for Options.
const (
	DefaultConcurrency    = 8
	DefaultRequestTimeout = 30 * time.Second
	DefaultRetries        = 3
	// MaxUsefulConcurrency is where more requests in flight stopped
	// helping against registry:2 on two cores (FACTS.md); flags warn past it.
	MaxUsefulConcurrency = 16
)

// Options configure a Client. The zero value is usable: anonymous, 8
// requests in flight, no rate limit, 30 s per request, 3 retries.
type Options struct {
	// Concurrency caps the requests in flight (default 8).
	Concurrency int
	// Rate limits requests per second; 0 means unlimited.
	Rate float64
	// RequestTimeout bounds each HTTP request, body included (default 30 s).
	RequestTimeout time.Duration
	// Retries is how often a 429, 5xx or network error is retried
	// (default 3; negative means none).
	Retries int
	// RetryBackoff is the first backoff; it doubles per retry, with
	// jitter, up to 5 s (default 250 ms).
	RetryBackoff time.Duration
	// Credentials for basic auth and for the token server. Empty means
	// anonymous.
	Credentials Credentials
	// CAFile adds a PEM CA bundle to the system roots.
	CAFile string
	// Transport replaces the HTTP transport (tests); CAFile is then ignored.
	Transport http.RoundTripper
	// Logger gets debug lines per retry; nil discards. Secrets never reach it.
	Logger *slog.Logger
}

// Client talks to one registry. It is safe for concurrent use; every
// request goes through one semaphore, one rate limiter and one counter.
type Client struct {
	reg      Registry
	base     *url.URL
	hc       *http.Client
	sem      chan struct{}
	lim      *limiter
	timeout  time.Duration
	retries  int
	backoff  time.Duration
	requests atomic.Int64
	auth     *authenticator
	log      *slog.Logger
}

// NewClient builds a client for reg. It reads CAFile but does no network I/O.
func NewClient(reg Registry, opts Options) (*Client, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Retries == 0 {
		opts.Retries = DefaultRetries
	} else if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	rt := opts.Transport
	if rt == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableCompression = true // byte counts must be the blob's own
		tr.MaxIdleConnsPerHost = opts.Concurrency + 2
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("reading CA file: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("CA file %s: no PEM certificate in it", opts.CAFile)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		rt = tr
	}
	base, err := url.Parse(reg.URL())
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", reg, err)
	}
	c := &Client{
		reg:     reg,
		base:    base,
		hc:      &http.Client{Transport: rt},
		sem:     make(chan struct{}, opts.Concurrency),
		lim:     newLimiter(opts.Rate),
		timeout: opts.RequestTimeout,
		retries: opts.Retries,
		backoff: opts.RetryBackoff,
		log:     opts.Logger,
	}
	c.auth = &authenticator{creds: opts.Credentials, c: c, tokens: map[string]cachedToken{}}
	return c, nil
}

// Registry returns the registry the client talks to.
func (c *Client) Registry() Registry { return c.reg }

// Requests returns how many HTTP requests the client has sent, retries and
// token fetches included.
func (c *Client) Requests() int64 { return c.requests.Load() }

// request is one logical registry request; do may send it several times.
type request struct {
	method string
	path   string // path and query under the registry, or an absolute URL
	header http.Header
	body   []byte
	scope  string // auth scope, e.g. "repository:library/alpine:pull"
}

// do sends r, retrying 429, 5xx and network errors with backoff, answering
// one auth challenge, and calls handle with the final response while the
// request's own timeout still runs. Statuses handle does not want must be
// turned into errors by handle (with statusError).
func (c *Client) do(ctx context.Context, r request, handle func(*http.Response) error) error {
	u, err := c.base.Parse(r.path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	authTried := false
	var lastErr error
	for attempt := 0; attempt <= c.retries; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(ctx, c.backoffFor(attempt, lastErr)); err != nil {
				return fmt.Errorf("%s %s: %w (after %v)", r.method, u.Path, err, lastErr)
			}
		}
		retry, authRetry, err := c.attempt(ctx, r, u, handle)
		if authRetry && !authTried {
			authTried = true
			attempt-- // an auth round trip is not a retry
			continue
		}
		if err == nil {
			return nil
		}
		if !retry || ctx.Err() != nil {
			return err
		}
		lastErr = err
		c.log.Debug("retrying registry request", "method", r.method, "path", u.Path, "attempt", attempt+1, "err", err)
	}
	return fmt.Errorf("%w after %d attempts: %w", ErrRetriesExhausted, c.retries+1, lastErr)
}

// attempt sends r once. retry says whether the failure is transient;
// authRetry that credentials were just obtained and r should go again.
func (c *Client) attempt(ctx context.Context, r request, u *url.URL, handle func(*http.Response) error) (retry, authRetry bool, err error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return false, false, ctx.Err()
	}
	defer func() { <-c.sem }()
	if err := c.lim.wait(ctx); err != nil {
		return false, false, err
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u.String(), body)
	if err != nil {
		return false, false, err
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", "labops")
	if r.body != nil {
		req.ContentLength = int64(len(r.body))
	}
	sameHost := u.Host == c.base.Host
	if sameHost {
		c.auth.authorize(req, r.scope)
	}
	c.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, actx, r, u, err)
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode == http.StatusUnauthorized && sameHost {
		ok, aerr := c.auth.challenge(ctx, resp, r.scope)
		if aerr != nil {
			return false, false, fmt.Errorf("%s %s: %w", r.method, u.Path, aerr)
		}
		if ok {
			return false, true, statusError(resp)
		}
	}
	if retryable(resp.StatusCode) {
		err := fmt.Errorf("%s %s: %w", r.method, u.Path, statusError(resp))
		if ra := retryAfter(resp); ra > 0 {
			err = &retryAfterError{err: err, after: ra}
		}
		return true, false, err
	}
	if err := handle(resp); err != nil {
		if actx.Err() != nil && ctx.Err() == nil {
			return true, false, fmt.Errorf("%s %s: %w after %v: %w", r.method, u.Path, ErrRequestTimeout, c.timeout, err)
		}
		return false, false, err
	}
	return false, false, nil
}

func (c *Client) transportError(ctx, actx context.Context, r request, u *url.URL, err error) (bool, bool, error) {
	if ctx.Err() != nil {
		return false, false, fmt.Errorf("%s %s: %w", r.method, u.Path, ctx.Err())
	}
	if actx.Err() != nil {
		return true, false, fmt.Errorf("%s %s: %w after %v", r.method, u.Path, ErrRequestTimeout, c.timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return true, false, fmt.Errorf("%s %s: %w", r.method, u.Path, err)
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

func retryAfter(resp *http.Response) time.Duration {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return min(time.Duration(n)*time.Second, 10*time.Second)
	}
	return 0
}

func (c *Client) backoffFor(attempt int, lastErr error) time.Duration {
	var ra *retryAfterError
	if errors.As(lastErr, &ra) {
		return ra.after
	}
	d := c.backoff << (attempt - 1)
	d = min(d, 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Ping asks GET /v2/ and reports whether the registry answers the
// distribution API (auth challenges are answered on the way).
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodGet, path: "/v2/"}, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /v2/: %w", statusError(resp))
		}
		return nil
	})
}
