package oci_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/olareg/olareg"
	"github.com/olareg/olareg/config"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// proxy puts a handler in front of the registry: fault decides, per
// request number (from 1), whether to answer itself (true) or pass on.
type proxy struct {
	*httptest.Server
	n    atomic.Int64
	mu   sync.Mutex
	seen []string // method and request URI of every request
}

func startProxy(t *testing.T, target string, fault func(n int64, w http.ResponseWriter, r *http.Request) bool) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &proxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.n.Add(1)
		p.mu.Lock()
		p.seen = append(p.seen, r.Method+" "+r.URL.RequestURI())
		p.mu.Unlock()
		if fault != nil && fault(n, w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) host() string { return strings.TrimPrefix(p.URL, "http://") }

func (p *proxy) requests(prefix string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, s := range p.seen {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func seedSmall(t *testing.T) *labtest.Registry {
	t.Helper()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	for _, tag := range []string{"v1", "v2", "v3"} {
		pushImage(t, p, "app", tag, image("app:"+tag, "debian", 3, nil))
	}
	pushMulti(t, p, "app", "multi", false, false)
	pushImage(t, p, "base", "latest", image("base", "debian", 2, nil))
	return r
}

func TestCheckFaults(t *testing.T) {
	t.Parallel()
	r := seedSmall(t)
	for _, tc := range []struct {
		name       string
		fault      func(n int64, w http.ResponseWriter, r *http.Request) bool
		opts       oci.Options
		wantStatus job.Status
		wantErr    string
	}{
		{
			name: "a 500 on the third request is retried",
			fault: func(n int64, w http.ResponseWriter, _ *http.Request) bool {
				if n == 3 {
					http.Error(w, "boom", http.StatusInternalServerError)
					return true
				}
				return false
			},
			wantStatus: job.StatusOK,
		},
		{
			name: "a 429 with Retry-After is retried",
			fault: func(n int64, w http.ResponseWriter, _ *http.Request) bool {
				if n == 2 {
					w.Header().Set("Retry-After", "0")
					http.Error(w, "slow down", http.StatusTooManyRequests)
					return true
				}
				return false
			},
			wantStatus: job.StatusOK,
		},
		{
			name: "the catalog always answers 500",
			fault: func(_ int64, w http.ResponseWriter, r *http.Request) bool {
				if strings.HasPrefix(r.URL.Path, "/v2/_catalog") {
					http.Error(w, "boom", http.StatusInternalServerError)
					return true
				}
				return false
			},
			wantStatus: job.StatusIncomplete,
			wantErr:    "listing the catalog: retries exhausted after 4 attempts: GET /v2/_catalog: registry server error (HTTP 500)",
		},
		{
			name: "the catalog is refused",
			fault: func(_ int64, w http.ResponseWriter, r *http.Request) bool {
				if strings.HasPrefix(r.URL.Path, "/v2/_catalog") {
					http.Error(w, `{"errors":[{"code":"DENIED","message":"catalog disabled"}]}`, http.StatusForbidden)
					return true
				}
				return false
			},
			wantStatus: job.StatusIncomplete,
			wantErr:    "listing the catalog: access denied (HTTP 403 DENIED)",
		},
		{
			name: "blobs of one repository always answer 503",
			fault: func(_ int64, w http.ResponseWriter, r *http.Request) bool {
				if strings.HasPrefix(r.URL.Path, "/v2/base/blobs/") {
					http.Error(w, "unavailable", http.StatusServiceUnavailable)
					return true
				}
				return false
			},
			wantStatus: job.StatusIncomplete,
			wantErr:    "registry server error (HTTP 503)",
		},
		{
			name: "the registry stops answering mid-walk",
			fault: func(n int64, _ http.ResponseWriter, r *http.Request) bool {
				if n > 6 {
					<-r.Context().Done() // hang until the client gives up
					return true
				}
				return false
			},
			opts:       oci.Options{RequestTimeout: 200 * time.Millisecond, Retries: 1},
			wantStatus: job.StatusIncomplete,
			wantErr:    "request timed out after 200ms",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startProxy(t, r.URL(), tc.fault)
			rep := oci.Check(t.Context(), client(t, p.host(), tc.opts), oci.CheckOptions{})
			if rep.Status != tc.wantStatus || !strings.Contains(rep.Error, tc.wantErr) {
				t.Errorf("status %s, error %q; want %s with %q", rep.Status, rep.Error, tc.wantStatus, tc.wantErr)
			}
			if len(rep.Broken) != 0 {
				t.Errorf("a fault made images look broken: %+v", rep.Broken)
			}
		})
	}
}

// TestCheckVerifyDigests flips one byte of a layer on disk: the ranged
// GET still finds a byte, only --verify-digests sees the corruption.
func TestCheckVerifyDigests(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	img := image("app:v1", "debian", 3, nil)
	pushImage(t, p, "app", "v1", img)
	pushImage(t, p, "app", "v2", image("app:v2", "debian", 2, nil))
	layer := oci.Digest(img.Layers[1])
	path := r.BlobData(layer)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if rep := oci.Check(t.Context(), client(t, r.Host(), oci.Options{}), oci.CheckOptions{}); rep.Status != job.StatusOK {
		t.Errorf("without --verify-digests: status %s, broken %+v; a ranged GET cannot see a flipped byte", rep.Status, rep.Broken)
	}
	rep := oci.Check(t.Context(), client(t, r.Host(), oci.Options{}), oci.CheckOptions{VerifyDigests: true})
	if rep.Status != job.StatusFailed || len(rep.Broken) != 1 {
		t.Fatalf("with --verify-digests: status %s, broken %+v, errors %q", rep.Status, rep.Broken, rep.Errors)
	}
	b := rep.Broken[0]
	if b.Subject() != "app:v1" || len(b.Problems) != 1 || b.Problems[0].State != oci.StateCorrupt ||
		b.Problems[0].Digest != layer || !strings.Contains(b.Problems[0].Message, "digest mismatch: content is sha256:") {
		t.Errorf("broken %+v; want app:v1 with layer %s corrupt", b, layer)
	}
}

// TestCheckPagination walks a catalog and tag lists in pages of 2.
func TestCheckPagination(t *testing.T) {
	t.Parallel()
	r, p := startRegistry(t, labtest.RegistryOptions{})
	img := image("shared", "debian", 1, nil)
	var repos []string
	for i := range 7 {
		repo := "team/r" + string(rune('a'+i))
		repos = append(repos, repo)
		pushImage(t, p, repo, "latest", img)
	}
	for i := range 9 {
		pushImage(t, p, "many", "t"+string(rune('a'+i)), img)
	}
	px := startProxy(t, r.URL(), nil)
	rep := oci.Check(t.Context(), client(t, px.host(), oci.Options{}), oci.CheckOptions{PageSize: 2})
	if rep.Status != job.StatusOK || rep.Summary.Repositories != 8 || rep.Summary.Tags != 16 {
		t.Fatalf("status %s, summary %+v, errors %q; want ok, 8 repositories, 16 tags", rep.Status, rep.Summary, rep.Errors)
	}
	if got := px.requests("GET /v2/_catalog"); len(got) != 4 || got[0] != "GET /v2/_catalog?n=2" {
		t.Errorf("catalog requests %q: want 4 pages of n=2", got)
	}
	// distribution 2.8 ignores n= on tag lists (one page of 9 here); the
	// tag pages are tested against olareg in TestCheckTagPagination.
	// Each repository's blobs are checked once however many tags share them,
	// and each distinct blob's data is read (ranged GET) once per registry;
	// the other repositories that link it get a HEAD.
	if got := len(px.requests("GET /v2/many/blobs/")) + len(px.requests("HEAD /v2/many/blobs/")); got != 2 {
		t.Errorf("%d blob requests in many; want 2 (config and layer, once each)", got)
	}
	var gets, heads int
	for _, repo := range append(repos, "many") {
		gets += len(px.requests("GET /v2/" + repo + "/blobs/"))
		heads += len(px.requests("HEAD /v2/" + repo + "/blobs/"))
	}
	if gets != 2 || heads != 14 {
		t.Errorf("blob data read %d times and links checked by HEAD %d times; want 2 (each distinct blob once) and 14", gets, heads)
	}
}

// TestCheckTagPagination pages through a tag list with Link headers, on
// olareg (distribution 2.8 does not paginate tag lists). It also shows
// the pusher seeding olareg, as the embedded lab does.
func TestCheckTagPagination(t *testing.T) {
	t.Parallel()
	reg := olareg.New(config.Config{Storage: config.ConfigStorage{StoreType: config.StoreMem}})
	t.Cleanup(func() { reg.Close() })
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	p := oci.NewPusher(client(t, host, oci.Options{}))
	img := image("shared", "debian", 2, nil)
	for i := range 9 {
		pushImage(t, p, "many", "t"+string(rune('a'+i)), img)
	}
	pushMulti(t, p, "many", "multi", false, false)
	px := startProxy(t, srv.URL, nil)
	rep := oci.Check(t.Context(), client(t, px.host(), oci.Options{}), oci.CheckOptions{Repos: []string{"many"}, PageSize: 2})
	if rep.Status != job.StatusOK || rep.Summary.Tags != 10 || !rep.CatalogUp {
		t.Fatalf("status %s, summary %+v, errors %q; want ok and 10 tags", rep.Status, rep.Summary, rep.Errors)
	}
	if got := px.requests("GET /v2/many/tags/list"); len(got) != 5 || got[0] != "GET /v2/many/tags/list?n=2" {
		t.Errorf("tag list requests %q: want 5 pages of n=2", got)
	}
}
