package benchreg

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

// Media types of the population.
const (
	MediaOCIIndex    = "application/vnd.oci.image.index.v1+json"
	MediaOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaOCIConfig   = "application/vnd.oci.image.config.v1+json"
	MediaOCILayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaDockerList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaDockerMan   = "application/vnd.docker.distribution.manifest.v2+json"
	MediaDockerCfg   = "application/vnd.docker.container.image.v1+json"
	MediaDockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// Model is what was seeded.
type Model struct {
	Repos []RepoModel `json:"repos"`
}

// RepoModel is what was seeded in one repository.
type RepoModel struct {
	Name     string            `json:"name"`
	Tags     []string          `json:"tags"`
	TagRefs  map[string]string `json:"tag_refs"` // tag -> digest of the tagged manifest
	Indexes  int               `json:"indexes"`  // distinct tagged indexes
	Children []string          `json:"children"` // distinct untagged child manifests
	Blobs    []string          `json:"blobs"`    // distinct configs and layers
}

// Blob is a config or a layer.
type Blob struct {
	Digest    string
	DiffID    string
	MediaType string
	Data      []byte
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

func randomLayer(r *rand.Rand, mediaType string, layerMin, layerSpread int) Blob {
	raw := make([]byte, layerMin+r.IntN(layerSpread))
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	return Blob{Digest: sha(gz.Bytes()), DiffID: sha(raw), MediaType: mediaType, Data: gz.Bytes()}
}

// Plan is one repository's blobs and manifests in push order.
type Plan struct {
	Repo      RepoModel
	Blobs     []Blob
	Manifests []Manifest // children first, then tagged manifests
}

// Manifest is a manifest to push under Ref, a digest or a tag.
type Manifest struct {
	Ref       string
	MediaType string
	Body      []byte
}

// Default layer sizes: an uncompressed random layer is LayerMin + [0, LayerSpread) bytes.
const (
	DefaultLayerMin    = 1024
	DefaultLayerSpread = 3072
)

// Population describes what Plan generates.
type Population struct {
	Repos, Tags int     // repositories, tags per repository
	Seed        uint64  // of the generator
	IndexShare  float64 // share of tags that are 2-3 platform indexes
	// An uncompressed random layer is LayerMin + [0, LayerSpread) bytes; both must be > 0.
	LayerMin, LayerSpread int
}

// Plan builds the population deterministically from pop.Seed: base layer families shared by all
// repositories (per platform), unique app layers, unique configs; some repositories use Docker v2
// media types, the rest OCI. The last tag of each repository, "latest", aliases the one before it.
func (pop Population) Plan() []Plan {
	repos, tags, indexShare := pop.Repos, pop.Tags, pop.IndexShare
	layer := func(r *rand.Rand, mediaType string) Blob {
		return randomLayer(r, mediaType, pop.LayerMin, pop.LayerSpread)
	}
	r := rand.New(rand.NewPCG(pop.Seed, 0x1ab0b5))
	const families, perFamily = 4, 4
	type famKey struct{ fam, plat, docker int }
	base := map[famKey][]Blob{}
	for d := range 2 {
		mt := MediaOCILayer
		if d == 1 {
			mt = MediaDockerLayer
		}
		for f := range families {
			for p := range platforms {
				for range perFamily {
					base[famKey{f, p, d}] = append(base[famKey{f, p, d}], layer(r, mt))
				}
			}
		}
	}
	plans := make([]Plan, repos)
	for i := range repos {
		docker := 0
		if i%5 == 4 {
			docker = 1
		}
		mtMan, mtCfg, mtLayer, mtIdx := MediaOCIManifest, MediaOCIConfig, MediaOCILayer, MediaOCIIndex
		if docker == 1 {
			mtMan, mtCfg, mtLayer, mtIdx = MediaDockerMan, MediaDockerCfg, MediaDockerLayer, MediaDockerList
		}
		name := fmt.Sprintf("lab/team%02d/svc-%03d", i%7, i)
		rm := RepoModel{Name: name, TagRefs: map[string]string{}}
		pp := &plans[i]
		seenBlob := map[string]bool{}
		addBlob := func(b Blob) {
			if !seenBlob[b.Digest] {
				seenBlob[b.Digest] = true
				pp.Blobs = append(pp.Blobs, b)
				rm.Blobs = append(rm.Blobs, b.Digest)
			}
		}
		fam := r.IntN(families)
		image := func(tag string, p int) Manifest {
			nBase := 2 + r.IntN(3)      // 2..4 shared base layers
			nApp := 1 + r.IntN(8-nBase) // total 3..8
			var layers []Blob
			layers = append(layers, base[famKey{fam, p, docker}][:nBase]...)
			for range nApp {
				layers = append(layers, layer(r, mtLayer))
			}
			diffIDs := make([]string, len(layers))
			for j, l := range layers {
				diffIDs[j] = l.DiffID
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
			addBlob(Blob{Digest: sha(cfg), MediaType: mtCfg, Data: cfg})
			m := manifestDoc{SchemaVersion: 2, MediaType: mtMan,
				Config: &descriptor{MediaType: mtCfg, Digest: sha(cfg), Size: int64(len(cfg))}}
			for _, l := range layers {
				m.Layers = append(m.Layers, descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: int64(len(l.Data))})
			}
			body, _ := json.Marshal(m)
			return Manifest{Ref: sha(body), MediaType: mtMan, Body: body}
		}
		var tagged []Manifest
		for t := range tags - 1 {
			tag := fmt.Sprintf("v1.%d.%d", t/10, t%10)
			var top Manifest
			if r.Float64() < indexShare {
				n := 2 + r.IntN(2)
				idx := manifestDoc{SchemaVersion: 2, MediaType: mtIdx}
				for p := range n {
					c := image(tag, p)
					pp.Manifests = append(pp.Manifests, c)
					rm.Children = append(rm.Children, c.Ref)
					plat := platforms[p]
					idx.Manifests = append(idx.Manifests, descriptor{MediaType: mtMan, Digest: c.Ref, Size: int64(len(c.Body)), Platform: &plat})
				}
				body, _ := json.Marshal(idx)
				top = Manifest{Ref: sha(body), MediaType: mtIdx, Body: body}
				rm.Indexes++
			} else {
				top = image(tag, 0)
			}
			rm.Tags = append(rm.Tags, tag)
			rm.TagRefs[tag] = top.Ref
			tagged = append(tagged, Manifest{Ref: tag, MediaType: top.MediaType, Body: top.Body})
		}
		if tags > 1 {
			last := tagged[len(tagged)-1]
			rm.Tags = append(rm.Tags, "latest")
			rm.TagRefs["latest"] = rm.TagRefs[last.Ref]
			tagged = append(tagged, Manifest{Ref: "latest", MediaType: last.MediaType, Body: last.Body})
		}
		pp.Manifests = append(pp.Manifests, tagged...)
		sort.Strings(rm.Tags)
		pp.Repo = rm
	}
	return plans
}

// Push seeds the registry at addr with plans, workers repositories at a time, and returns the
// first error.
func Push(ctx context.Context, addr string, plans []Plan, workers int) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2}}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	work := make(chan *Plan)
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

func pushRepo(ctx context.Context, c *http.Client, addr string, p *Plan) error {
	base := "http://" + addr + "/v2/" + p.Repo.Name
	for _, b := range p.Blobs {
		resp, err := do(ctx, c, http.MethodPost, base+"/blobs/uploads/", "", nil, http.StatusAccepted)
		if err != nil {
			return err
		}
		loc, err := resp.Location()
		if err != nil {
			return fmt.Errorf("upload location: %w", err)
		}
		q := loc.Query()
		q.Set("digest", b.Digest)
		loc.RawQuery = q.Encode()
		if _, err := do(ctx, c, http.MethodPut, loc.String(), "application/octet-stream", b.Data, http.StatusCreated); err != nil {
			return err
		}
	}
	for _, m := range p.Manifests {
		if _, err := do(ctx, c, http.MethodPut, base+"/manifests/"+url.PathEscape(m.Ref), m.MediaType, m.Body, http.StatusCreated); err != nil {
			return err
		}
	}
	return nil
}
