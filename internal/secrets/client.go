package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// transportErr drops the URL a *url.Error repeats: the caller already names
// the endpoint, and a URL may carry a token in its query.
func transportErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// do sends req and returns the reply's status and body (at most maxReply
// bytes). Errors name what, never the request's body.
func do(ctx context.Context, c *http.Client, req *http.Request, what string) (int, []byte, error) {
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", what, transportErr(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s: reading the reply: %w", what, err)
	}
	return resp.StatusCode, b, nil
}
