package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/labops/labops/internal/job"
)

// Kinds of differences a comparison names.
const (
	DiffMediaType    = "media-type"     // index vs image, OCI vs Docker
	DiffOnlyInA      = "only-in-a"      // a platform only A's index has
	DiffOnlyInB      = "only-in-b"      // a platform only B's index has
	DiffChild        = "child-manifest" // the same platform, another manifest
	DiffConfig       = "config"
	DiffLayer        = "layer"
	DiffLayerCount   = "layer-count"
	DiffManifestOnly = "manifest-bytes" // same pieces, other bytes (annotations, order)
)

// Difference is one way two images differ.
type Difference struct {
	Kind     string `json:"kind"`
	Platform string `json:"platform,omitempty"`
	A        string `json:"a,omitempty"` // A's side (a digest, a media type)
	B        string `json:"b,omitempty"`
	Message  string `json:"message"`
}

// CompareSide is one of the two references.
type CompareSide struct {
	Ref       string   `json:"reference"`
	Digest    string   `json:"digest,omitempty"`
	MediaType string   `json:"media_type,omitempty"`
	Platforms []string `json:"platforms,omitempty"`
	Missing   bool     `json:"missing,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// Comparison is what `oci compare` found.
type Comparison struct {
	A           CompareSide  `json:"a"`
	B           CompareSide  `json:"b"`
	Same        bool         `json:"same"`
	Differences []Difference `json:"differences"`
	Status      job.Status   `json:"status"`
	Error       string       `json:"error,omitempty"`
	Started     time.Time    `json:"started"`
}

// Compare resolves two references, each with its own client, and when
// their digests differ reads both images and says how: media type,
// platforms present in one only, per-platform child digests, configs, and
// which layers differ. The same digest is ok; any difference, or a
// reference that does not exist, is failed; one that cannot be reached is
// incomplete.
func Compare(ctx context.Context, ca, cb *Client, a, b Reference) *Comparison {
	cmp := &Comparison{A: CompareSide{Ref: a.String()}, B: CompareSide{Ref: b.String()}, Differences: []Difference{}, Started: time.Now()}
	var ga, gb *ImageGraph
	var errA, errB error
	done := make(chan struct{})
	go func() {
		defer close(done)
		ga, errA = ReadImageGraph(ctx, ca, a.Repo, a.Ref())
	}()
	gb, errB = ReadImageGraph(ctx, cb, b.Repo, b.Ref())
	<-done
	side := func(s *CompareSide, g *ImageGraph, err error) {
		if err != nil {
			s.Error = err.Error()
			s.Missing = rootMissing(err)
			return
		}
		s.Digest, s.MediaType, s.Platforms = g.Root.Digest, g.Root.MediaType, g.Platforms()
	}
	side(&cmp.A, ga, errA)
	side(&cmp.B, gb, errB)
	if errA != nil || errB != nil {
		var why []string
		status := job.StatusFailed
		for _, x := range []struct {
			name string
			s    CompareSide
			err  error
		}{{"A", cmp.A, errA}, {"B", cmp.B, errB}} {
			switch {
			case x.err == nil:
			case x.s.Missing:
				why = append(why, fmt.Sprintf("%s (%s) does not exist", x.name, x.s.Ref))
			case contentError(x.err):
				why = append(why, fmt.Sprintf("%s (%s) cannot be read whole: %v", x.name, x.s.Ref, x.err))
			default:
				status = job.StatusIncomplete
				why = append(why, fmt.Sprintf("%s (%s) could not be reached: %v", x.name, x.s.Ref, x.err))
			}
		}
		cmp.Status, cmp.Error = status, strings.Join(why, "; ")
		return cmp
	}
	if ga.Root.Digest == gb.Root.Digest {
		cmp.Same, cmp.Status = true, job.StatusOK
		return cmp
	}
	cmp.Differences = DiffGraphs(ga, gb)
	cmp.Status = job.StatusFailed
	cmp.Error = fmt.Sprintf("the references differ: A is %s, B is %s", ga.Root.Digest, gb.Root.Digest)
	return cmp
}

// DiffGraphs lists how two image graphs differ; a pure function.
func DiffGraphs(a, b *ImageGraph) []Difference {
	out := []Difference{}
	ra, rb := a.Manifests[len(a.Manifests)-1], b.Manifests[len(b.Manifests)-1]
	if ra.Manifest.MediaType != rb.Manifest.MediaType {
		out = append(out, Difference{Kind: DiffMediaType, A: ra.Manifest.MediaType, B: rb.Manifest.MediaType,
			Message: fmt.Sprintf("A is %s, B is %s", describeRoot(a), describeRoot(b))})
	}
	if ra.Manifest.IsIndex() != rb.Manifest.IsIndex() {
		return out
	}
	if !ra.Manifest.IsIndex() {
		d := diffImages("", ra.Manifest, rb.Manifest)
		if len(d) == 0 && len(out) == 0 {
			d = append(d, Difference{Kind: DiffManifestOnly, A: ra.Digest, B: rb.Digest,
				Message: "the same config and layers, but the manifests' bytes differ (annotations or formatting)"})
		}
		return append(out, d...)
	}
	byDigest := func(g *ImageGraph) map[string]*Manifest {
		m := map[string]*Manifest{}
		for _, gm := range g.Manifests {
			m[gm.Digest] = gm.Manifest
		}
		return m
	}
	ma, mb := byDigest(a), byDigest(b)
	ka, kb := platformKeys(ra.Manifest.Manifests), platformKeys(rb.Manifest.Manifests)
	inB := map[string]Descriptor{}
	for i, d := range rb.Manifest.Manifests {
		inB[kb[i]] = d
	}
	inA := map[string]bool{}
	before := len(out)
	for i, da := range ra.Manifest.Manifests {
		key := ka[i]
		inA[key] = true
		db, ok := inB[key]
		if !ok {
			out = append(out, Difference{Kind: DiffOnlyInA, Platform: key, A: da.Digest, Message: "only in A"})
			continue
		}
		if da.Digest == db.Digest {
			continue
		}
		out = append(out, Difference{Kind: DiffChild, Platform: key, A: da.Digest, B: db.Digest,
			Message: fmt.Sprintf("child manifest differs: A %s, B %s", da.Digest, db.Digest)})
		if ca, cb := ma[da.Digest], mb[db.Digest]; ca != nil && cb != nil && !ca.IsIndex() && !cb.IsIndex() {
			out = append(out, diffImages(key, ca, cb)...)
		}
	}
	for i, db := range rb.Manifest.Manifests {
		if !inA[kb[i]] {
			out = append(out, Difference{Kind: DiffOnlyInB, Platform: kb[i], B: db.Digest, Message: "only in B"})
		}
	}
	if len(out) == before && len(out) == 0 {
		out = append(out, Difference{Kind: DiffManifestOnly, A: ra.Digest, B: rb.Digest,
			Message: "the same children, but the indexes' bytes differ (order, annotations or formatting)"})
	}
	return out
}

func describeRoot(g *ImageGraph) string {
	s := mediaName(g.Root.MediaType)
	if ps := g.Platforms(); ps != nil {
		s += fmt.Sprintf(" of %d platforms", len(ps))
	}
	return s
}

// platformKeys names each index entry by its platform; an entry without
// one is "(no platform)", and repeats get " #2", " #3".
func platformKeys(ds []Descriptor) []string {
	seen := map[string]int{}
	out := make([]string, len(ds))
	for i, d := range ds {
		k := d.Platform.String()
		if k == "" {
			k = "(no platform)"
		}
		seen[k]++
		if n := seen[k]; n > 1 {
			k += fmt.Sprintf(" #%d", n)
		}
		out[i] = k
	}
	return out
}

// diffImages compares two image manifests' config and layers.
func diffImages(platform string, a, b *Manifest) []Difference {
	var out []Difference
	if a.MediaType != b.MediaType && platform != "" {
		out = append(out, Difference{Kind: DiffMediaType, Platform: platform, A: a.MediaType, B: b.MediaType,
			Message: fmt.Sprintf("A is %s, B is %s", mediaName(a.MediaType), mediaName(b.MediaType))})
	}
	if a.Config.Digest != b.Config.Digest {
		out = append(out, Difference{Kind: DiffConfig, Platform: platform, A: a.Config.Digest, B: b.Config.Digest,
			Message: fmt.Sprintf("config differs: A %s, B %s", a.Config.Digest, b.Config.Digest)})
	}
	na, nb := len(a.Layers), len(b.Layers)
	if na != nb {
		out = append(out, Difference{Kind: DiffLayerCount, Platform: platform, A: fmt.Sprint(na), B: fmt.Sprint(nb),
			Message: fmt.Sprintf("A has %d layers, B has %d", na, nb)})
	}
	for i := range max(na, nb) {
		var la, lb Descriptor
		if i < na {
			la = a.Layers[i]
		}
		if i < nb {
			lb = b.Layers[i]
		}
		if la.Digest == lb.Digest {
			continue
		}
		msg := fmt.Sprintf("layer %d differs: A %s, B %s", i+1, layerText(la), layerText(lb))
		out = append(out, Difference{Kind: DiffLayer, Platform: platform, A: la.Digest, B: lb.Digest, Message: msg})
	}
	return out
}

func layerText(d Descriptor) string {
	if d.Digest == "" {
		return "has none"
	}
	return fmt.Sprintf("%s (%s)", d.Digest, formatBytes(d.Size))
}

// WriteText writes both sides and every difference.
func (c *Comparison) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, s := range []struct {
		name string
		s    CompareSide
	}{{"A", c.A}, {"B", c.B}} {
		switch {
		case s.s.Missing:
			fmt.Fprintf(&b, "%s: %s  does not exist\n", s.name, s.s.Ref)
		case s.s.Error != "":
			fmt.Fprintf(&b, "%s: %s  %s\n", s.name, s.s.Ref, s.s.Error)
		default:
			what := mediaName(s.s.MediaType)
			if len(s.s.Platforms) > 0 {
				what += " " + strings.Join(s.s.Platforms, " ")
			}
			fmt.Fprintf(&b, "%s: %s  %s  (%s)\n", s.name, s.s.Ref, s.s.Digest, what)
		}
	}
	if c.Same {
		b.WriteString("same: both resolve to " + c.A.Digest + "\n")
	}
	for _, d := range c.Differences {
		if d.Platform != "" {
			fmt.Fprintf(&b, "  %s: %s\n", d.Platform, d.Message)
		} else {
			fmt.Fprintf(&b, "  %s\n", d.Message)
		}
	}
	switch c.Status {
	case job.StatusOK:
		b.WriteString("status: ok\n")
	case job.StatusFailed:
		fmt.Fprintf(&b, "status: failed: %s\n", c.Error)
	default:
		fmt.Fprintf(&b, "status: incomplete: %s\n", c.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the comparison as one indented JSON document.
func (c *Comparison) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}
