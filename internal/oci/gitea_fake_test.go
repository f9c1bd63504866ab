package oci_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/oci"
)

const fakeToken = "s3cr3t-t0ken-do-not-print"

// fakeVersion is one container package version on fakeGitea.
type fakeVersion struct {
	name, version, digest string
	created               time.Time
	typ                   string // "" is container
}

// fakeGitea answers the packages API the way Gitea 1.22 does (newest
// first, page/limit, X-Total-Count, Link), for fault tests the real server
// cannot stage. Hooks may change its behaviour per request.
type fakeGitea struct {
	mu       sync.Mutex
	versions []fakeVersion // newest first
	deleted  []string      // "name/version"

	pageSize int // the server's MAX_RESPONSE_ITEMS; 50 when 0
	// onList runs before a list page is answered; it may change versions.
	onList func(f *fakeGitea, page int)
	// onDelete, when set, answers a DELETE instead (status).
	onDelete func(name, version string) int
	// linkBase replaces the base URL in Link headers.
	linkBase string
	noTotal  bool
	// ignoreType lists every package type whatever type= says.
	ignoreType bool
	requests   atomic.Int64
}

func (f *fakeGitea) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.Header.Get("Authorization") != "token "+fakeToken {
		http.Error(w, `{"message":"token is required"}`, http.StatusUnauthorized)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v1/packages/owner")
	if !ok {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if rest == "" || rest == "/" {
		f.list(w, r)
		return
	}
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	if len(parts) < 3 || parts[0] != "container" {
		http.NotFound(w, r)
		return
	}
	name, _ := url.PathUnescape(parts[1])
	version, _ := url.PathUnescape(parts[2])
	i := f.find(name, version)
	switch {
	case r.Method == http.MethodDelete && len(parts) == 3:
		if f.onDelete != nil {
			if st := f.onDelete(name, version); st != 0 {
				w.WriteHeader(st)
				return
			}
		}
		if i < 0 {
			http.Error(w, `{"message":"package does not exist"}`, http.StatusNotFound)
			return
		}
		f.versions = append(f.versions[:i], f.versions[i+1:]...)
		f.deleted = append(f.deleted, name+"/"+version)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && len(parts) == 4 && parts[3] == "files":
		if i < 0 {
			http.Error(w, `{"message":"package does not exist"}`, http.StatusNotFound)
			return
		}
		hex := strings.TrimPrefix(f.versions[i].digest, "sha256:")
		fmt.Fprintf(w, `[{"id":1,"Size":1,"name":"sha256_%s","sha256":"%s"},{"id":2,"Size":2,"name":"manifest.json","sha256":"%s"}]`,
			strings.Repeat("0", 64), strings.Repeat("0", 64), hex)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeGitea) find(name, version string) int {
	for i, v := range f.versions {
		if v.name == name && v.version == version {
			return i
		}
	}
	return -1
}

func (f *fakeGitea) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	page = max(page, 1)
	ps := f.pageSize
	if ps == 0 {
		ps = 50
	}
	if limit <= 0 || limit > ps {
		limit = ps
	}
	if f.onList != nil {
		f.onList(f, page)
	}
	var match []fakeVersion
	for _, v := range f.versions {
		if (f.ignoreType || v.typ == "" && q.Get("type") == "container") && strings.Contains(v.name, q.Get("q")) {
			match = append(match, v)
		}
	}
	type pkg struct {
		ID        int       `json:"id"`
		Type      string    `json:"type"`
		Name      string    `json:"name"`
		Version   string    `json:"version"`
		CreatedAt time.Time `json:"created_at"`
	}
	out := []pkg{}
	for i := (page - 1) * limit; i < len(match) && i < page*limit; i++ {
		typ := match[i].typ
		if typ == "" {
			typ = "container"
		}
		out = append(out, pkg{ID: i, Type: typ, Name: match[i].name, Version: match[i].version, CreatedAt: match[i].created})
	}
	if !f.noTotal {
		w.Header().Set("X-Total-Count", strconv.Itoa(len(match)))
	}
	base := f.linkBase
	if base == "" {
		base = "http://" + r.Host
	}
	if page*limit < len(match) {
		w.Header().Set("Link", fmt.Sprintf(`<%s/api/v1/packages/owner?limit=%d&page=%d&type=container>; rel="next"`, base, limit, page+1))
	}
	json.NewEncoder(w).Encode(out)
}

// fakeDigest is a valid, distinct digest per n.
func fakeDigest(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// fakePopulation is tags tags of name "app" (each with a digest) and
// children untagged versions, newest first.
func fakePopulation(tags, children int) []fakeVersion {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var vs []fakeVersion
	for i := range tags {
		vs = append(vs, fakeVersion{name: "app", version: fmt.Sprintf("v%03d", i), digest: fakeDigest(i), created: t0.Add(-time.Duration(i) * time.Minute)})
	}
	for i := range children {
		d := fakeDigest(10000 + i)
		vs = append(vs, fakeVersion{name: "app", version: d, digest: d, created: t0.Add(-time.Hour)})
	}
	return vs
}

func startFakeGitea(t *testing.T, f *fakeGitea) *oci.GiteaBackend {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	b, err := oci.NewGiteaBackend(srv.URL, "owner", fakeToken, oci.Options{RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGiteaFakePagination(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		f    *fakeGitea
	}{
		{"gitea", &fakeGitea{}},
		{"server pages of 7", &fakeGitea{pageSize: 7}},
		{"no X-Total-Count", &fakeGitea{noTotal: true}},
		{"type filter ignored", &fakeGitea{ignoreType: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pop := fakePopulation(73, 41)
			tc.f.versions = slices.Clone(pop)
			tc.f.versions = append(tc.f.versions, fakeVersion{name: "other", version: "latest", digest: fakeDigest(99999)})
			for i := range 30 { // npm packages of the same names, among the newest
				tc.f.versions = slices.Insert(tc.f.versions, 2*i, fakeVersion{name: "app", version: fmt.Sprintf("1.%d.0 beta", i), typ: "npm"})
			}
			b := startFakeGitea(t, tc.f)
			ctx := t.Context()
			repos, err := b.Repos(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"owner/app", "owner/other"}, repos); diff != "" {
				t.Errorf("Repos (-want +got)\n%s", diff)
			}
			tags, err := b.Tags(ctx, "owner/app")
			if err != nil {
				t.Fatal(err)
			}
			if len(tags) != 73 {
				t.Fatalf("%d tags, want 73", len(tags))
			}
			for i, tg := range tags {
				want := oci.TagRef{Repo: "owner/app", Tag: fmt.Sprintf("v%03d", i), Digest: fakeDigest(i), Created: pop[i].created}
				if diff := cmp.Diff(want, tg); diff != "" {
					t.Fatalf("tag %d (-want +got)\n%s", i, diff)
				}
			}
			un, err := b.Untagged(ctx, "owner/app")
			if err != nil {
				t.Fatal(err)
			}
			if len(un) != 41 || un[0] != fakeDigest(10000) || un[40] != fakeDigest(10040) {
				t.Errorf("Untagged = %d digests %v...", len(un), un[:min(2, len(un))])
			}
		})
	}
}

// A version deleted between two pages shifts the rest up by one: the walk
// would miss one, so it starts again (and succeeds once the list holds
// still).
func TestGiteaFakeListChangesWhileWalking(t *testing.T) {
	t.Parallel()
	var walks atomic.Int64
	f := &fakeGitea{versions: fakePopulation(120, 0)}
	f.onList = func(f *fakeGitea, page int) {
		if page == 2 && walks.Add(1) == 1 {
			f.versions = f.versions[1:] // someone else deletes the newest tag
		}
	}
	b := startFakeGitea(t, f)
	tags, err := b.Tags(t.Context(), "owner/app")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 119 || walks.Load() != 2 {
		t.Errorf("%d tags after %d walks, want 119 after 2", len(tags), walks.Load())
	}

	// A list that never holds still is an error, not a partial answer.
	f2 := &fakeGitea{versions: fakePopulation(120, 0)}
	n := 0
	f2.onList = func(f *fakeGitea, page int) {
		if page == 2 {
			n++
			f.versions = append([]fakeVersion{{name: "app", version: fmt.Sprintf("new%d", n), digest: fakeDigest(5000 + n)}}, f.versions...)
		}
	}
	b2 := startFakeGitea(t, f2)
	if _, err := b2.Tags(t.Context(), "owner/app"); err == nil || !strings.Contains(err.Error(), "changed while it was read") {
		t.Fatalf("err = %v, want the list-changed error", err)
	}
}

// The Link header says there is a next page, but its URL points elsewhere:
// pages are asked for by number from the backend's own URL, so the token
// never travels to the other host.
func TestGiteaFakeLinkElsewhereNotFollowed(t *testing.T) {
	t.Parallel()
	var evil atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { evil.Add(1) }))
	t.Cleanup(other.Close)
	f := &fakeGitea{versions: fakePopulation(60, 0), linkBase: other.URL}
	b := startFakeGitea(t, f)
	tags, err := b.Tags(t.Context(), "owner/app")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 60 || evil.Load() != 0 {
		t.Errorf("%d tags, %d requests to the Link host; want 60 and 0", len(tags), evil.Load())
	}
}

func TestGiteaFakeDelete(t *testing.T) {
	t.Parallel()
	f := &fakeGitea{versions: fakePopulation(3, 1)}
	var fails atomic.Int64
	f.onDelete = func(name, version string) int {
		switch version {
		case "v001":
			if fails.Add(1) <= 2 {
				return http.StatusBadGateway // retried
			}
		case "v002":
			return http.StatusForbidden
		}
		return 0
	}
	b := startFakeGitea(t, f)
	ctx := t.Context()
	if err := b.DeleteTag(ctx, oci.TagRef{Repo: "owner/app", Tag: "v000"}); err != nil {
		t.Fatal(err)
	}
	// Already gone: not an error.
	if err := b.DeleteTag(ctx, oci.TagRef{Repo: "owner/app", Tag: "v000"}); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if err := b.DeleteTag(ctx, oci.TagRef{Repo: "owner/app", Tag: "v001"}); err != nil {
		t.Fatalf("delete after two 502s: %v", err)
	}
	err := b.DeleteTag(ctx, oci.TagRef{Repo: "owner/app", Tag: "v002"})
	if !errors.Is(err, oci.ErrDenied) || oci.StatusOf(err) != http.StatusForbidden {
		t.Fatalf("403: err = %v, want ErrDenied", err)
	}
	if err := b.DeleteUntagged(ctx, "owner/app", fakeDigest(10000)); err != nil {
		t.Fatal(err)
	}
	want := []string{"app/v000", "app/v001", "app/" + fakeDigest(10000)}
	if diff := cmp.Diff(want, f.deleted); diff != "" {
		t.Errorf("deleted (-want +got)\n%s", diff)
	}
	// Refused before any request: another owner, a digest as a tag, a tag
	// as a digest, a path in disguise.
	n := f.requests.Load()
	for _, err := range []error{
		b.DeleteTag(ctx, oci.TagRef{Repo: "someone/app", Tag: "v1"}),
		b.DeleteTag(ctx, oci.TagRef{Repo: "owner/app", Tag: fakeDigest(1)}),
		b.DeleteTag(ctx, oci.TagRef{Repo: "owner/app/../../x", Tag: "v1"}),
		b.DeleteUntagged(ctx, "owner/app", "latest"),
		b.DeleteUntagged(ctx, "owner/app", "sha256:../../x"),
	} {
		if err == nil {
			t.Error("a bad delete was accepted")
		}
	}
	if f.requests.Load() != n {
		t.Errorf("bad deletes sent %d requests", f.requests.Load()-n)
	}
}

func TestGiteaFakeErrors(t *testing.T) {
	t.Parallel()
	// Wrong token: 401 maps to ErrUnauthorized, and the token is in no message.
	srv := httptest.NewServer(&fakeGitea{})
	t.Cleanup(srv.Close)
	b, err := oci.NewGiteaBackend(srv.URL, "owner", fakeToken+"x", oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Repos(t.Context())
	if !errors.Is(err, oci.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	for _, s := range []string{err.Error(), fmt.Sprint(b), fmt.Sprintf("%v %+v %#v %s", b, b, b, b)} {
		if strings.Contains(s, fakeToken) {
			t.Errorf("token printed: %s", s)
		}
	}

	// A malformed reply is ErrMalformedResponse; a 500 that persists is
	// retried, then reported as a server error.
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"html", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>login</html>") }, oci.ErrMalformedResponse},
		{"bad total", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Total-Count", "-3")
			fmt.Fprint(w, "[]")
		}, oci.ErrMalformedResponse},
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, oci.ErrServer},
		{"404 owner", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, oci.ErrNotFound},
		{"endless next", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", `<x>; rel="next"`)
			p := r.URL.Query().Get("page")
			fmt.Fprintf(w, `[{"type":"container","name":"app","version":"p%s"}]`, p)
		}, oci.ErrMalformedResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			b, err := oci.NewGiteaBackend(srv.URL, "owner", fakeToken, oci.Options{RetryBackoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Repos(t.Context()); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNewGiteaBackendValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, owner, token string }{
		{"ftp://h", "o", "t"},
		{"h:3000", "o", "t"},
		{"http://user:pw@h", "o", "t"},
		{"http://h?x=1", "o", "t"},
		{"http://h", "", "t"},
		{"http://h", "a/b", "t"},
		{"http://h", "o", ""},
		{"http://h", "o", "t t"},
		{"http://h", "o", "t\n"},
	} {
		if _, err := oci.NewGiteaBackend(tc.url, tc.owner, tc.token, oci.Options{}); err == nil {
			t.Errorf("NewGiteaBackend(%q, %q, token) accepted", tc.url, tc.owner)
		} else if strings.Contains(err.Error(), tc.token) && tc.token != "" && len(tc.token) > 1 {
			t.Errorf("error shows the token: %v", err)
		}
	}
	for _, u := range []string{"http://u:pass word@h", "ftp://u:password@h", "http://u:password@h"} {
		if _, err := oci.NewGiteaBackend(u, "o", "t", oci.Options{}); err == nil || strings.Contains(err.Error(), "password") {
			t.Errorf("NewGiteaBackend with a password in the URL: %v", err)
		}
	}
	if _, err := oci.NewGiteaBackend("http://h", "o", "t", oci.Options{Credentials: oci.Credentials{Username: "u"}}); err == nil {
		t.Error("credentials besides the token accepted")
	}
	b, err := oci.NewGiteaBackend("https://git.example/sub/", "Team", "t", oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Registry().URL(); got != "https://git.example" {
		t.Errorf("Registry() = %s", got)
	}
	if got := b.RegistryCredentials(); got.Username != "Team" || got.Password != "t" {
		t.Errorf("RegistryCredentials() = %v", got)
	}
}
