package main

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// tally is what the proxy saw during one tool's run.
type tally struct {
	total, get, head, ranged, other, errors atomic.Int64

	mu sync.Mutex
	// touched holds "repo@digest" for every manifest or blob requested by digest, and
	// "repo:tag" for manifests requested by tag.
	touched map[string]struct{}
}

func newTally() *tally { return &tally{touched: map[string]struct{}{}} }

// countingProxy forwards every request to the registry and counts it in the current tally.
type countingProxy struct {
	addr string
	cur  atomic.Pointer[tally]
	srv  *http.Server
}

func startProxy(target string) (*countingProxy, error) {
	u := &url.URL{Scheme: "http", Host: target}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		DisableCompression:  true,
	}
	rp.ErrorLog = nil
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{addr: l.Addr().String()}
	p.cur.Store(newTally())
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.count(r)
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(l)
	return p, nil
}

// reset starts a new tally and returns the previous one.
func (p *countingProxy) reset() *tally { return p.cur.Swap(newTally()) }

func (p *countingProxy) count(r *http.Request) {
	t := p.cur.Load()
	t.total.Add(1)
	switch r.Method {
	case http.MethodGet:
		t.get.Add(1)
		if r.Header.Get("Range") != "" {
			t.ranged.Add(1)
		}
	case http.MethodHead:
		t.head.Add(1)
	default:
		t.other.Add(1)
	}
	// /v2/<name>/manifests/<ref> or /v2/<name>/blobs/<digest>
	path := strings.TrimPrefix(r.URL.Path, "/v2/")
	for _, kind := range []string{"/manifests/", "/blobs/"} {
		if i := strings.LastIndex(path, kind); i > 0 {
			name, ref := path[:i], path[i+len(kind):]
			if ref == "" || strings.HasPrefix(ref, "uploads") {
				return
			}
			key := name + "@" + ref
			if !strings.HasPrefix(ref, "sha256:") {
				key = name + ":" + ref
			}
			t.mu.Lock()
			t.touched[key] = struct{}{}
			t.mu.Unlock()
			return
		}
	}
}

func (p *countingProxy) close() { p.srv.Close() }
