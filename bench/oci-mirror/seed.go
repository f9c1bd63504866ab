package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"sync"
)

const (
	mtOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mtOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mtOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mtOCILayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtDockerList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerMan   = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerCfg   = "application/vnd.docker.container.image.v1+json"
	mtDockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// model is what was seeded at the source.
type model struct {
	Repos []repoModel `json:"repos"`
}

type repoModel struct {
	Name     string            `json:"name"`
	Tags     []string          `json:"tags"`
	TagRefs  map[string]string `json:"tag_refs"` // tag -> digest of the tagged manifest
	Indexes  int               `json:"indexes"`  // distinct tagged indexes
	Children []string          `json:"children"` // distinct untagged child manifests
	Blobs    []string          `json:"blobs"`    // distinct configs and layers
}

type blob struct {
	digest    string
	diffID    string
	mediaType string
	data      []byte
}

type descriptor struct {
	MediaType string    `json:"mediaType"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	Platform  *platform `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

type manifestDoc struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        *descriptor  `json:"config,omitempty"`
	Layers        []descriptor `json:"layers,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
}

var platforms = []platform{{"amd64", "linux", ""}, {"arm64", "linux", "v8"}, {"arm", "linux", "v7"}}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func randomLayer(r *rand.Rand, mediaType string) blob {
	raw := make([]byte, layerMin+r.IntN(layerSpread))
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	return blob{digest: sha(gz.Bytes()), diffID: sha(raw), mediaType: mediaType, data: gz.Bytes()}
}

// pushPlan is one repository's blobs and manifests in push order.
type pushPlan struct {
	repo      repoModel
	blobs     []blob
	manifests []pushManifest // children first, then tagged manifests
}

type pushManifest struct {
	ref       string
	mediaType string
	body      []byte
}

// plan builds the population deterministically from seed: base layer families shared by all
// repositories (per platform), unique app layers, unique configs; some repositories use Docker v2
// media types, the rest OCI. The last tag of each repository, "latest", aliases the one before it.
func plan(repos, tags int, seed uint64, indexShare float64) []pushPlan {
	r := rand.New(rand.NewPCG(seed, 0x1ab0b5))
	const families, perFamily = 4, 4
	type famKey struct{ fam, plat, docker int }
	base := map[famKey][]blob{}
	for d := range 2 {
		mt := mtOCILayer
		if d == 1 {
			mt = mtDockerLayer
		}
		for f := range families {
			for p := range platforms {
				for range perFamily {
					base[famKey{f, p, d}] = append(base[famKey{f, p, d}], randomLayer(r, mt))
				}
			}
		}
	}
	plans := make([]pushPlan, repos)
	for i := range repos {
		docker := 0
		if i%5 == 4 {
			docker = 1
		}
		mtMan, mtCfg, mtLayer, mtIdx := mtOCIManifest, mtOCIConfig, mtOCILayer, mtOCIIndex
		if docker == 1 {
			mtMan, mtCfg, mtLayer, mtIdx = mtDockerMan, mtDockerCfg, mtDockerLayer, mtDockerList
		}
		name := fmt.Sprintf("lab/team%02d/svc-%03d", i%7, i)
		rm := repoModel{Name: name, TagRefs: map[string]string{}}
		pp := &plans[i]
		seenBlob := map[string]bool{}
		addBlob := func(b blob) {
			if !seenBlob[b.digest] {
				seenBlob[b.digest] = true
				pp.blobs = append(pp.blobs, b)
				rm.Blobs = append(rm.Blobs, b.digest)
			}
		}
		fam := r.IntN(families)
		image := func(tag string, p int) pushManifest {
			nBase := 2 + r.IntN(3)      // 2..4 shared base layers
			nApp := 1 + r.IntN(8-nBase) // total 3..8
			var layers []blob
			layers = append(layers, base[famKey{fam, p, docker}][:nBase]...)
			for range nApp {
				layers = append(layers, randomLayer(r, mtLayer))
			}
			diffIDs := make([]string, len(layers))
			for j, l := range layers {
				diffIDs[j] = l.diffID
				addBlob(l)
			}
			cfg, _ := json.Marshal(map[string]any{
				"architecture": platforms[p].Architecture,
				"os":           platforms[p].OS,
				"variant":      platforms[p].Variant,
				"config":       map[string]any{"Labels": map[string]string{"repo": name, "tag": tag}},
				"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
				"history":      []any{},
			})
			addBlob(blob{digest: sha(cfg), mediaType: mtCfg, data: cfg})
			m := manifestDoc{SchemaVersion: 2, MediaType: mtMan,
				Config: &descriptor{MediaType: mtCfg, Digest: sha(cfg), Size: int64(len(cfg))}}
			for _, l := range layers {
				m.Layers = append(m.Layers, descriptor{MediaType: l.mediaType, Digest: l.digest, Size: int64(len(l.data))})
			}
			body, _ := json.Marshal(m)
			return pushManifest{ref: sha(body), mediaType: mtMan, body: body}
		}
		var tagged []pushManifest
		for t := range tags - 1 {
			tag := fmt.Sprintf("v1.%d.%d", t/10, t%10)
			var top pushManifest
			if r.Float64() < indexShare {
				n := 2 + r.IntN(2)
				idx := manifestDoc{SchemaVersion: 2, MediaType: mtIdx}
				for p := range n {
					c := image(tag, p)
					pp.manifests = append(pp.manifests, c)
					rm.Children = append(rm.Children, c.ref)
					plat := platforms[p]
					idx.Manifests = append(idx.Manifests, descriptor{MediaType: mtMan, Digest: c.ref, Size: int64(len(c.body)), Platform: &plat})
				}
				body, _ := json.Marshal(idx)
				top = pushManifest{ref: sha(body), mediaType: mtIdx, body: body}
				rm.Indexes++
			} else {
				top = image(tag, 0)
			}
			rm.Tags = append(rm.Tags, tag)
			rm.TagRefs[tag] = top.ref
			tagged = append(tagged, pushManifest{ref: tag, mediaType: top.mediaType, body: top.body})
		}
		if tags > 1 {
			last := tagged[len(tagged)-1]
			rm.Tags = append(rm.Tags, "latest")
			rm.TagRefs["latest"] = rm.TagRefs[last.ref]
			tagged = append(tagged, pushManifest{ref: "latest", mediaType: last.mediaType, body: last.body})
		}
		pp.manifests = append(pp.manifests, tagged...)
		sort.Strings(rm.Tags)
		pp.repo = rm
	}
	return plans
}

// push seeds the registry at addr with plans, workers repositories at a time.
func push(ctx context.Context, addr string, plans []pushPlan, workers int) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2}}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	work := make(chan *pushPlan)
	for range workers {
		wg.Go(func() {
			for p := range work {
				if err := pushRepo(ctx, client, addr, p); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range plans {
		work <- &plans[i]
	}
	close(work)
	wg.Wait()
	return first
}

func do(ctx context.Context, c *http.Client, method, u, ctype string, body []byte, want int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	return resp, nil
}

func pushRepo(ctx context.Context, c *http.Client, addr string, p *pushPlan) error {
	base := "http://" + addr + "/v2/" + p.repo.Name
	for _, b := range p.blobs {
		resp, err := do(ctx, c, http.MethodPost, base+"/blobs/uploads/", "", nil, http.StatusAccepted)
		if err != nil {
			return err
		}
		loc, err := resp.Location()
		if err != nil {
			return fmt.Errorf("upload location: %w", err)
		}
		q := loc.Query()
		q.Set("digest", b.digest)
		loc.RawQuery = q.Encode()
		if _, err := do(ctx, c, http.MethodPut, loc.String(), "application/octet-stream", b.data, http.StatusCreated); err != nil {
			return err
		}
	}
	for _, m := range p.manifests {
		if _, err := do(ctx, c, http.MethodPut, base+"/manifests/"+url.PathEscape(m.ref), m.mediaType, m.body, http.StatusCreated); err != nil {
			return err
		}
	}
	return nil
}
