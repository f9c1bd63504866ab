package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits for the Gitea backend.
const (
	// giteaPageSize is the largest page Gitea and Forgejo answer by
	// default (MAX_RESPONSE_ITEMS); a server set lower pages by its own
	// size, which the listing follows.
	giteaPageSize = 50
	// giteaMaxPages bounds one listing (100,000 versions at 50 a page), so
	// a server that always says "next" cannot keep us walking forever.
	giteaMaxPages = 2000
	// giteaMaxBody bounds one reply read into memory.
	giteaMaxBody = 8 << 20
	// giteaListAttempts is how often a listing that changed under us
	// (X-Total-Count moved, or entries went missing) is started again.
	giteaListAttempts = 3
)

// GiteaBackend is the RetentionBackend for the Forgejo/Gitea packages API:
// container packages of one owner, listed with
// GET /api/v1/packages/{owner}?type=container, deleted one version (a tag,
// or an untagged sha256: child) at a time. Repository names are the
// registry's: "owner/name", lower case. The token goes only into the
// Authorization header of requests to baseURL's host; it is never
// printed.
type GiteaBackend struct {
	c      *Client
	prefix string // the base URL's path, without a trailing slash
	owner  string // as given, for the API path
	lower  string // lower-case owner, the registry namespace
	token  string
	reg    Registry
}

var _ RetentionBackend = (*GiteaBackend)(nil)

// NewGiteaBackend returns a backend for the packages of owner (a user or
// an organization) on the Gitea or Forgejo at baseURL (http or https, an
// optional sub-path), authenticated with an access token that has the
// package read (listing) and write (deleting) scopes. opts are the
// registry client's: timeouts, retries, concurrency, rate, CA file and
// transport apply to the API requests; opts.Credentials must be empty (the
// token is the credential). It does no network I/O.
func NewGiteaBackend(baseURL, owner, token string, opts Options) (*GiteaBackend, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		// Not echoed: it could hold a password in its user info.
		return nil, errors.New("gitea URL: not a URL; want http(s)://host[:port][/path]")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gitea URL %q: want http(s)://host[:port][/path]", redactURL(baseURL))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("gitea URL %s://%s: no user info, query or fragment, please", u.Scheme, u.Host)
	}
	if owner == "" || strings.ContainsAny(owner, "/?#%\\ \t\r\n") || !ValidRepo(strings.ToLower(owner)) {
		return nil, fmt.Errorf("gitea owner %q: not a user or organization name", owner)
	}
	if token == "" || strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return nil, errors.New("gitea token is empty or contains spaces or control characters")
	}
	if !opts.Credentials.Empty() {
		return nil, errors.New("gitea backend: the token is the credential; leave Options.Credentials empty")
	}
	reg, err := ParseRegistry(u.Scheme+"://"+u.Host, false)
	if err != nil {
		return nil, err
	}
	c, err := NewClient(reg, opts)
	if err != nil {
		return nil, err
	}
	return &GiteaBackend{
		c:      c,
		prefix: strings.TrimSuffix(u.EscapedPath(), "/"),
		owner:  owner,
		lower:  strings.ToLower(owner),
		token:  token,
		reg:    reg,
	}, nil
}

// Name is "gitea".
func (b *GiteaBackend) Name() string { return "gitea" }

// String names the server and owner, never the token.
func (b *GiteaBackend) String() string {
	return "gitea " + b.reg.URL() + b.prefix + " owner " + b.owner
}

// GoString is String, so %#v cannot print the token either.
func (b *GiteaBackend) GoString() string { return b.String() }

// Registry is the container registry of the same server (Gitea serves
// /v2/ at its host's root), for reading manifests with a Client.
func (b *GiteaBackend) Registry() Registry { return b.reg }

// RegistryCredentials are what a Client needs for that registry: the
// owner's name and the token, exchanged for a bearer token at /v2/token.
// (Gitea and Forgejo ignore the user name when the password is a token,
// so this works for an organization owner too.)
func (b *GiteaBackend) RegistryCredentials() Credentials {
	return Credentials{Username: b.owner, Password: b.token}
}

// Requests is how many HTTP requests the backend has sent.
func (b *GiteaBackend) Requests() int64 { return b.c.Requests() }

// giteaVersion is one entry of the packages list: one version of one
// container package, a tag or an untagged "sha256:..." manifest.
type giteaVersion struct {
	Name    string    // the package name: the repository without the owner
	Version string    // a tag, or a sha256 digest
	Created time.Time // created_at
}

func (v giteaVersion) untagged() bool { return strings.HasPrefix(v.Version, "sha256:") }

// Repos lists the owner's container repositories as "owner/name", sorted.
func (b *GiteaBackend) Repos(ctx context.Context) ([]string, error) {
	vs, err := b.list(ctx, "")
	if err != nil {
		return nil, err
	}
	var repos []string
	for _, v := range vs {
		repos = append(repos, b.lower+"/"+v.Name)
	}
	slices.Sort(repos)
	return slices.Compact(repos), nil
}

// Tags lists repo's tags, newest first (then by name), each with the
// digest of its manifest, read from the version's manifest.json file.
// A tag deleted while it is being looked up is left out.
func (b *GiteaBackend) Tags(ctx context.Context, repo string) ([]TagRef, error) {
	name, err := b.packageName(repo)
	if err != nil {
		return nil, err
	}
	vs, err := b.versions(ctx, name)
	if err != nil {
		return nil, err
	}
	var tags []TagRef
	for _, v := range vs {
		if !v.untagged() {
			tags = append(tags, TagRef{Repo: b.lower + "/" + name, Tag: v.Version, Created: v.Created})
		}
	}
	// Digest look-ups in parallel; the client's semaphore bounds them.
	errs := make([]error, len(tags))
	gone := make([]bool, len(tags))
	var wg sync.WaitGroup
	work := make(chan int)
	for range min(len(tags), DefaultConcurrency) {
		wg.Go(func() {
			for i := range work {
				d, err := b.manifestDigest(ctx, name, tags[i].Tag)
				switch {
				case errors.Is(err, ErrNotFound):
					gone[i] = true
				case err != nil:
					errs[i] = err
				default:
					tags[i].Digest = d
				}
			}
		})
	}
	for i := range tags {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := tags[:0]
	for i, t := range tags {
		if !gone[i] {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b TagRef) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Tag, b.Tag)
	})
	return out, nil
}

// Untagged lists the digests of repo's untagged (sha256:) versions, sorted.
func (b *GiteaBackend) Untagged(ctx context.Context, repo string) ([]string, error) {
	name, err := b.packageName(repo)
	if err != nil {
		return nil, err
	}
	vs, err := b.versions(ctx, name)
	if err != nil {
		return nil, err
	}
	var ds []string
	for _, v := range vs {
		if v.untagged() {
			ds = append(ds, v.Version)
		}
	}
	slices.Sort(ds)
	return ds, nil
}

// DeleteTag deletes the version named t.Tag, and only it (other tags on
// the same digest stay). A tag already gone (404) is not an error.
func (b *GiteaBackend) DeleteTag(ctx context.Context, t TagRef) error {
	name, err := b.packageName(t.Repo)
	if err != nil {
		return err
	}
	if !ValidTag(t.Tag) {
		return fmt.Errorf("gitea: deleting %s: %q is not a tag", t.Repo, t.Tag)
	}
	return b.deleteVersion(ctx, name, t.Tag)
}

// DeleteUntagged deletes the untagged version named by digest. One already
// gone (404) is not an error.
func (b *GiteaBackend) DeleteUntagged(ctx context.Context, repo, digest string) error {
	name, err := b.packageName(repo)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(digest, "sha256:") || !ValidDigest(digest) {
		return fmt.Errorf("gitea: deleting from %s: %q is not a sha256 digest", repo, digest)
	}
	return b.deleteVersion(ctx, name, digest)
}

// packageName turns "owner/name" (owner in any case) into Gitea's package
// name.
func (b *GiteaBackend) packageName(repo string) (string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !strings.EqualFold(owner, b.owner) || name == "" || !ValidRepo(b.lower+"/"+name) {
		return "", fmt.Errorf("gitea: repository %q is not %s/NAME", repo, b.lower)
	}
	return name, nil
}

// versionPath is /api/v1/packages/{owner}/container/{name}/{version}; a
// name with slashes is escaped into one path segment.
func (b *GiteaBackend) versionPath(name, version string) string {
	return b.prefix + "/api/v1/packages/" + url.PathEscape(b.owner) + "/container/" +
		url.PathEscape(name) + "/" + url.PathEscape(version)
}

func (b *GiteaBackend) header() http.Header {
	return http.Header{"Authorization": {"token " + b.token}, "Accept": {"application/json"}}
}

func (b *GiteaBackend) deleteVersion(ctx context.Context, name, version string) error {
	p := b.versionPath(name, version)
	err := b.c.do(ctx, request{method: http.MethodDelete, path: p, header: b.header()}, func(resp *http.Response) error {
		switch resp.StatusCode {
		case http.StatusNoContent, http.StatusOK, http.StatusNotFound:
			return nil // 404: deleted meanwhile (or by our own retried request)
		}
		return statusError(resp)
	})
	if err != nil {
		return fmt.Errorf("gitea: deleting %s/%s version %s: %w", b.lower, name, version, err)
	}
	return nil
}

// manifestDigest reads the digest of a version's manifest: the sha256 of
// its manifest.json file.
func (b *GiteaBackend) manifestDigest(ctx context.Context, name, version string) (string, error) {
	var d string
	p := b.versionPath(name, version) + "/files"
	err := b.c.do(ctx, request{method: http.MethodGet, path: p, header: b.header()}, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return statusError(resp)
		}
		body, err := readLimited(resp.Body, giteaMaxBody)
		if err != nil {
			return err
		}
		d, err = parseGiteaFiles(body)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("gitea: files of %s/%s:%s: %w", b.lower, name, version, err)
	}
	return d, nil
}

// versions lists the versions of one package.
func (b *GiteaBackend) versions(ctx context.Context, name string) ([]giteaVersion, error) {
	// q is a substring search; keep the exact name.
	vs, err := b.list(ctx, name)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(vs, func(v giteaVersion) bool { return v.Name != name }), nil
}

// list walks every page of the owner's container versions (matching q).
// The listing is newest first by offset, so a version pushed or deleted
// meanwhile shifts the pages: the walk is repeated when the total changed
// or entries went missing, and fails if that keeps happening, because a
// version the planner never saw could be an index whose children it
// would then take for orphans.
func (b *GiteaBackend) list(ctx context.Context, q string) ([]giteaVersion, error) {
	var lastErr error
	for range giteaListAttempts {
		vs, err := b.listOnce(ctx, q)
		if err == nil {
			return vs, nil
		}
		if !errors.Is(err, errGiteaListChanged) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("gitea: listing packages of %s: %w (%d attempts)", b.owner, lastErr, giteaListAttempts)
}

var errGiteaListChanged = errors.New("the package list changed while it was read")

func (b *GiteaBackend) listOnce(ctx context.Context, q string) ([]giteaVersion, error) {
	type key struct{ name, version string }
	seen := map[key]bool{}
	var all []giteaVersion
	counted := 0 // entries of other package types, which the total includes
	firstTotal := -1
	for page := 1; ; page++ {
		if page > giteaMaxPages {
			return nil, fmt.Errorf("gitea: listing packages of %s: %w: more than %d pages", b.owner, ErrMalformedResponse, giteaMaxPages)
		}
		vs, others, total, link, next, err := b.listPage(ctx, q, page)
		if err != nil {
			return nil, err
		}
		if page == 1 {
			firstTotal = total
		} else if total != firstTotal {
			return nil, fmt.Errorf("%w (X-Total-Count %d, then %d)", errGiteaListChanged, firstTotal, total)
		}
		for _, v := range vs {
			k := key{v.Name, v.Version}
			if !seen[k] {
				seen[k] = true
				all = append(all, v)
			}
		}
		counted += others
		// Go on while the page was not empty and the server says there is
		// more: Link rel="next", a total not reached yet, or (a server
		// that sends neither) a full page.
		n := len(vs) + others
		more := next || (total >= 0 && len(all)+counted < total) || (total < 0 && !link && n >= giteaPageSize)
		if n == 0 || !more {
			break
		}
	}
	if firstTotal >= 0 && len(all)+counted < firstTotal {
		return nil, fmt.Errorf("%w (%d of %d versions seen)", errGiteaListChanged, len(all)+counted, firstTotal)
	}
	return all, nil
}

// listPage reads one page. total is X-Total-Count (-1 when absent); link
// says whether there was a Link header, next whether it has rel="next".
// The Link URL itself is not
// followed: pages are asked for by number from our own base URL, so a
// reply cannot send the token elsewhere.
func (b *GiteaBackend) listPage(ctx context.Context, q string, page int) (vs []giteaVersion, others, total int, link, next bool, err error) {
	v := url.Values{"type": {"container"}, "page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(giteaPageSize)}}
	if q != "" {
		v.Set("q", q)
	}
	p := b.prefix + "/api/v1/packages/" + url.PathEscape(b.owner) + "?" + v.Encode()
	err = b.c.do(ctx, request{method: http.MethodGet, path: p, header: b.header()}, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return statusError(resp)
		}
		total = -1
		if s := resp.Header.Get("X-Total-Count"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return fmt.Errorf("%w: X-Total-Count %q", ErrMalformedResponse, truncate(s, 40))
			}
			total = n
		}
		link = len(resp.Header.Values("Link")) > 0
		next = linkHasNext(resp.Header.Values("Link"))
		body, err := readLimited(resp.Body, giteaMaxBody)
		if err != nil {
			return err
		}
		vs, others, err = parseGiteaPackages(body)
		return err
	})
	if err != nil {
		return nil, 0, 0, false, false, fmt.Errorf("gitea: listing packages of %s (page %d): %w", b.owner, page, err)
	}
	return vs, others, total, link, next, nil
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: reply larger than %d bytes", ErrMalformedResponse, limit)
	}
	return body, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// linkHasNext reports whether Link headers have a rel="next" entry.
func linkHasNext(links []string) bool {
	for _, h := range links {
		for part := range strings.SplitSeq(h, ",") {
			_, params, ok := strings.Cut(part, ">")
			if !ok {
				continue
			}
			for param := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(param), "=")
				if strings.EqualFold(strings.TrimSpace(k), "rel") {
					for rel := range strings.FieldsSeq(strings.Trim(strings.TrimSpace(v), `"`)) {
						if strings.EqualFold(rel, "next") {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

// parseGiteaPackages parses one page of GET /api/v1/packages/{owner}: a
// JSON array of packages, one per version. It is untrusted input: entries
// of another type are skipped and counted in others (they are not ours to
// delete, but X-Total-Count includes them if the type filter was
// ignored), and an entry
// whose name or version is not a valid repository name, tag or sha256
// digest fails the whole page, because a version the planner cannot see
// could be an index keeping children alive.
func parseGiteaPackages(body []byte) (vs []giteaVersion, others int, err error) {
	var raw []*struct {
		Type      string          `json:"type"`
		Name      string          `json:"name"`
		Version   string          `json:"version"`
		CreatedAt json.RawMessage `json:"created_at"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, 0, fmt.Errorf("%w: package list: %w", ErrMalformedResponse, err)
	}
	if raw == nil {
		return nil, 0, fmt.Errorf("%w: package list is not a JSON array", ErrMalformedResponse)
	}
	out := make([]giteaVersion, 0, len(raw))
	for i, p := range raw {
		if p == nil {
			return nil, 0, fmt.Errorf("%w: package list entry %d is null", ErrMalformedResponse, i)
		}
		if p.Type != "container" {
			others++
			continue
		}
		// The owner's own name is at most 40 characters on Gitea; keep the
		// whole registry name within its 255.
		if p.Name == "" || len(p.Name) > 200 || !ValidRepo(p.Name) {
			return nil, 0, fmt.Errorf("%w: package list entry %d: name %q is not a repository name", ErrMalformedResponse, i, truncate(p.Name, 80))
		}
		switch {
		case strings.HasPrefix(p.Version, "sha256:"):
			if !ValidDigest(p.Version) {
				return nil, 0, fmt.Errorf("%w: package list entry %d (%s): version %q is not a sha256 digest", ErrMalformedResponse, i, p.Name, truncate(p.Version, 80))
			}
		case !ValidTag(p.Version):
			return nil, 0, fmt.Errorf("%w: package list entry %d (%s): version %q is not a tag", ErrMalformedResponse, i, p.Name, truncate(p.Version, 80))
		}
		var created time.Time
		if len(p.CreatedAt) > 0 && string(p.CreatedAt) != "null" {
			if err := json.Unmarshal(p.CreatedAt, &created); err != nil {
				return nil, 0, fmt.Errorf("%w: package list entry %d (%s:%s): created_at: %w", ErrMalformedResponse, i, p.Name, p.Version, err)
			}
		}
		out = append(out, giteaVersion{Name: p.Name, Version: p.Version, Created: created})
	}
	return out, others, nil
}

// parseGiteaFiles finds the digest of a container version in the reply to
// GET .../{version}/files: the sha256 of its one manifest.json.
func parseGiteaFiles(body []byte) (string, error) {
	var files []*struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(body, &files); err != nil {
		return "", fmt.Errorf("%w: package files: %w", ErrMalformedResponse, err)
	}
	var digest string
	for _, f := range files {
		if f == nil || f.Name != "manifest.json" {
			continue
		}
		if digest != "" {
			return "", fmt.Errorf("%w: package files: two manifest.json", ErrMalformedResponse)
		}
		d := "sha256:" + f.SHA256
		if !ValidDigest(d) {
			return "", fmt.Errorf("%w: package files: manifest.json sha256 %q", ErrMalformedResponse, truncate(f.SHA256, 80))
		}
		digest = d
	}
	if digest == "" {
		return "", fmt.Errorf("%w: package files: no manifest.json", ErrMalformedResponse)
	}
	return digest, nil
}
