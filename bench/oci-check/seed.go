package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/labops/labops/bench/internal/benchreg"
)

// model is what was seeded; it is saved next to the data so a reused data dir needs no seeding.
type model struct {
	benchreg.Model
}

// warm reads every manifest and every blob once, directly at the registry and untimed, so
// that no tool pays for a cold in-memory blob descriptor cache or a cold page cache.
func warm(ctx context.Context, addr string, m *model, workers int) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2}}
	type req struct{ method, url string }
	var reqs []req
	for _, r := range m.Repos {
		base := "http://" + addr + "/v2/" + r.Name
		for _, t := range r.Tags {
			reqs = append(reqs, req{http.MethodGet, base + "/manifests/" + t})
		}
		for _, d := range r.Children {
			reqs = append(reqs, req{http.MethodGet, base + "/manifests/" + d})
		}
		for _, d := range r.Blobs {
			reqs = append(reqs, req{http.MethodGet, base + "/blobs/" + d})
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(reqs))
	ch := make(chan req)
	for range workers {
		wg.Go(func() {
			for q := range ch {
				hr, _ := http.NewRequestWithContext(ctx, q.method, q.url, nil)
				hr.Header.Set("Accept", strings.Join([]string{benchreg.MediaOCIIndex, benchreg.MediaOCIManifest, benchreg.MediaDockerList, benchreg.MediaDockerMan}, ","))
				resp, err := client.Do(hr)
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("warm-up %s %s: %s", q.method, q.url, resp.Status)
				}
			}
		})
	}
	for _, q := range reqs {
		ch <- q
	}
	close(ch)
	wg.Wait()
	close(errs)
	return <-errs
}

// minRequests is the fewest requests a full check needs: catalog pages, tag list pages, one
// manifest per tag, one per distinct child manifest and one per distinct blob per repository.
func (m *model) minRequests(catalogPage, tagPage int) (n int) {
	n = ceilDiv(len(m.Repos), catalogPage)
	for _, r := range m.Repos {
		n += ceilDiv(len(r.Tags), tagPage) + len(r.Tags) + len(r.Children) + len(r.Blobs)
	}
	return n
}

func ceilDiv(a, b int) int { return max(1, (a+b-1)/b) }

func (m *model) counts() (repos, tags, indexes, children, blobs int) {
	for _, r := range m.Repos {
		repos++
		tags += len(r.Tags)
		indexes += r.Indexes
		children += len(r.Children)
		blobs += len(r.Blobs)
	}
	return
}

// coverage reports how many of the distinct child manifests and blobs a tool requested.
func (m *model) coverage(t *tally) (children, blobs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range m.Repos {
		for _, d := range r.Children {
			if _, ok := t.touched[r.Name+"@"+d]; ok {
				children++
			}
		}
		for _, d := range r.Blobs {
			if _, ok := t.touched[r.Name+"@"+d]; ok {
				blobs++
			}
		}
	}
	return
}

func (m *model) repoNames() []string {
	var out []string
	for _, r := range m.Repos {
		out = append(out, r.Name)
	}
	return slices.Sorted(slices.Values(out))
}
