package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Sentinel errors; callers test them with errors.Is.
var (
	ErrNotFound           = errors.New("not found")
	ErrUnauthorized       = errors.New("unauthorized")
	ErrDenied             = errors.New("access denied")
	ErrTooManyRequests    = errors.New("too many requests")
	ErrServer             = errors.New("registry server error")
	ErrUnexpectedStatus   = errors.New("unexpected HTTP status")
	ErrUnsupportedMedia   = errors.New("unsupported manifest type")
	ErrInvalidManifest    = errors.New("invalid manifest")
	ErrDigestMismatch     = errors.New("digest mismatch")
	ErrSizeMismatch       = errors.New("size mismatch")
	ErrEmptyBody          = errors.New("empty body")
	ErrUnsupportedDigest  = errors.New("unsupported digest algorithm")
	ErrRetriesExhausted   = errors.New("retries exhausted")
	ErrRequestTimeout     = errors.New("request timed out")
	ErrMalformedResponse  = errors.New("malformed registry response")
	ErrAuthChallengeFails = errors.New("authentication failed")
)

// StatusError is an HTTP answer that was not what we wanted. It wraps one
// of the sentinels above, chosen by statusError.
type StatusError struct {
	Status int
	Code   string // the registry's error code, e.g. MANIFEST_UNKNOWN
	Detail string // the registry's message, trimmed
	Err    error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s (HTTP %d", e.Err, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	return s + ")"
}

func (e *StatusError) Unwrap() error { return e.Err }

// StatusOf returns the HTTP status carried by err, or 0.
func StatusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// statusError maps an HTTP response to a sentinel error: the one place
// where statuses become errors. It reads (a little of) the body for the
// registry's error code.
func statusError(resp *http.Response) error {
	se := &StatusError{Status: resp.StatusCode}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		se.Err = ErrNotFound
	case resp.StatusCode == http.StatusUnauthorized:
		se.Err = ErrUnauthorized
	case resp.StatusCode == http.StatusForbidden:
		se.Err = ErrDenied
	case resp.StatusCode == http.StatusTooManyRequests:
		se.Err = ErrTooManyRequests
	case resp.StatusCode >= 500:
		se.Err = ErrServer
	default:
		se.Err = ErrUnexpectedStatus
	}
	if resp.Body != nil && resp.Request != nil && resp.Request.Method != http.MethodHead {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var er struct {
			Errors []struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		if json.Unmarshal(body, &er) == nil && len(er.Errors) > 0 {
			se.Code = er.Errors[0].Code
			se.Detail = strings.TrimSpace(er.Errors[0].Message)
		}
	}
	return se
}

// retryable reports whether an answer with this status is worth retrying.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}
