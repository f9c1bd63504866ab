package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// DefaultPageSize is the n= sent with catalog and tag list requests.
const DefaultPageSize = 1000

// maxPages bounds pagination so that a registry whose Link loops cannot
// keep a walk going forever.
const maxPages = 100000

// Catalog lists every repository, following Link rel="next" pages of n
// entries (n <= 0 means DefaultPageSize).
func (c *Client) Catalog(ctx context.Context, n int) ([]string, error) {
	var out []string
	err := c.paginate(ctx, "/v2/_catalog", n, "registry:catalog:*", func(body []byte) error {
		var page struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("%w: catalog page: %w", ErrMalformedResponse, err)
		}
		out = append(out, page.Repositories...)
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("listing the catalog: %w", err)
	}
	return out, nil
}

// Tags lists every tag of repo, following Link rel="next" pages.
func (c *Client) Tags(ctx context.Context, repo string, n int) ([]string, error) {
	var out []string
	err := c.paginate(ctx, "/v2/"+repo+"/tags/list", n, pullScope(repo), func(body []byte) error {
		var page struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("%w: tag list page: %w", ErrMalformedResponse, err)
		}
		out = append(out, page.Tags...)
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	return out, nil
}

func pullScope(repo string) string { return "repository:" + repo + ":pull" }

func (c *Client) paginate(ctx context.Context, path string, n int, scope string, page func([]byte) error) error {
	if n <= 0 {
		n = DefaultPageSize
	}
	next := path + "?n=" + strconv.Itoa(n)
	seen := map[string]bool{}
	for pages := 0; next != ""; pages++ {
		if pages >= maxPages || seen[next] {
			return fmt.Errorf("%w: pagination does not end (at %s)", ErrMalformedResponse, next)
		}
		seen[next] = true
		cur := next
		next = ""
		err := c.do(ctx, request{method: http.MethodGet, path: cur, scope: scope}, func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				return statusError(resp)
			}
			body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
			if err != nil {
				return fmt.Errorf("reading page: %w", err)
			}
			if err := page(body); err != nil {
				return err
			}
			link := resp.Header.Get("Link")
			if link == "" {
				return nil
			}
			target, ok, err := ParseLinkNext(link)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrMalformedResponse, err)
			}
			if ok {
				u, err := resp.Request.URL.Parse(target)
				if err != nil {
					return fmt.Errorf("%w: link %q: %w", ErrMalformedResponse, target, err)
				}
				next = c.relative(u)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// relative returns u as a path+query when it is on the registry's host,
// else as an absolute URL.
func (c *Client) relative(u *url.URL) string {
	if u.Host == c.base.Host {
		return u.RequestURI()
	}
	return u.String()
}
