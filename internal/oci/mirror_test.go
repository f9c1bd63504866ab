package oci_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

// seedMirror pushes a population with the shapes a mirror must carry:
// OCI indexes with untagged children, a Docker manifest list, plain OCI
// and Docker images, a tag aliasing another, and a base layer shared by
// every repository. It returns repo -> tags.
func seedMirror(t *testing.T, p *oci.Pusher, prefix string) map[string][]string {
	t.Helper()
	tags := map[string][]string{}
	add := func(repo string, ts ...string) { tags[prefix+repo] = append(tags[prefix+repo], ts...) }
	for _, tag := range []string{"1.0", "1.1"} {
		pushMulti(t, p, prefix+"team/app", tag, false, false)
		add("team/app", tag)
	}
	if _, err := p.PushIndex(t.Context(), prefix+"team/app", "latest", nil, false); err != nil {
		t.Fatal(err)
	}
	add("team/app", "latest")
	// An alias: two tags on one digest, copied at the same time.
	_, kids := pushMulti(t, p, prefix+"team/app", "stable", false, false)
	if _, err := p.PushIndex(t.Context(), prefix+"team/app", "stable-alias", kids, false); err != nil {
		t.Fatal(err)
	}
	add("team/app", "stable", "stable-alias")
	pushMulti(t, p, prefix+"tool", "v1", false, true) // Docker manifest list
	add("tool", "v1")
	for i, tag := range []string{"a", "b", "c"} {
		img := image(prefix+"web:"+tag, "debian", 2+i, nil)
		img.Docker = i == 1
		pushImage(t, p, prefix+"web", tag, img)
		add("web", tag)
	}
	return tags
}

type mirrorEnv struct {
	src, dst *labtest.Registry
	sc, dc   *oci.Client
	tags     map[string][]string
	blobPuts atomic.Int64
	cancelAt int64 // cancel after this many blob PUTs (0: never)
	cancel   context.CancelFunc
}

// countPuts counts blob upload PUTs to the destination and cancels the
// run after cancelAt of them.
type countPuts struct {
	env *mirrorEnv
	rt  http.RoundTripper
}

func (c countPuts) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && err == nil && resp.StatusCode == http.StatusCreated {
		if n := c.env.blobPuts.Add(1); c.env.cancelAt > 0 && n == c.env.cancelAt && c.env.cancel != nil {
			c.env.cancel()
		}
	}
	return resp, err
}

func newMirrorEnv(t *testing.T) *mirrorEnv {
	t.Helper()
	e := &mirrorEnv{}
	var sp *oci.Pusher
	e.src, sp = startRegistry(t, labtest.RegistryOptions{})
	e.dst = labtest.StartRegistry(t, labtest.RegistryOptions{})
	e.sc = client(t, e.src.Host(), oci.Options{})
	e.dc = client(t, e.dst.Host(), oci.Options{Transport: countPuts{env: e, rt: http.DefaultTransport.(*http.Transport).Clone()}})
	e.tags = seedMirror(t, sp, "")
	return e
}

func (e *mirrorEnv) mirror(ctx context.Context, opts oci.MirrorOptions) *oci.MirrorResult {
	if opts.Source.Registry.Host == "" {
		opts.Source.Registry = e.sc.Registry()
	}
	if opts.Destination.Registry.Host == "" {
		opts.Destination.Registry = e.dc.Registry()
	}
	return oci.Mirror(ctx, e.sc, e.dc, opts)
}

// assertIdentical compares every source tag with the destination: the
// same manifest bytes all the way down, and a deep check that passes.
func assertIdentical(t *testing.T, sc, dc *oci.Client, tags map[string][]string, dstRepo func(string) string) {
	t.Helper()
	ctx := t.Context()
	for repo, ts := range tags {
		for _, tag := range ts {
			sg, err := oci.ReadImageGraph(ctx, sc, repo, tag)
			if err != nil {
				t.Fatal(err)
			}
			dg, err := oci.ReadImageGraph(ctx, dc, dstRepo(repo), tag)
			if err != nil {
				t.Errorf("%s:%s at the destination: %v", repo, tag, err)
				continue
			}
			if len(sg.Manifests) != len(dg.Manifests) {
				t.Errorf("%s:%s: %d manifests at the source, %d at the destination", repo, tag, len(sg.Manifests), len(dg.Manifests))
				continue
			}
			for i := range sg.Manifests {
				if !bytes.Equal(sg.Manifests[i].Body, dg.Manifests[i].Body) {
					t.Errorf("%s:%s: manifest %s differs", repo, tag, sg.Manifests[i].Digest)
				}
			}
			ref := oci.Reference{Registry: dc.Registry(), Repo: dstRepo(repo), Tag: tag}
			if rep := oci.CheckReference(ctx, dc, ref, oci.CheckOptions{VerifyDigests: true}); rep.Status != job.StatusOK {
				t.Errorf("%s:%s at the destination: check %s %+v", repo, tag, rep.Status, rep.Broken)
			}
		}
	}
}

func same(s string) string { return s }

func TestMirrorDryRunThenApply(t *testing.T) {
	t.Parallel()
	e := newMirrorEnv(t)
	ctx := t.Context()

	dry := e.mirror(ctx, oci.MirrorOptions{})
	if dry.Status != job.StatusOK || dry.Applied || dry.Summary.TagsToCopy != 9 || dry.Summary.TagsIdentical != 0 {
		t.Fatalf("dry run: %s %q, summary %+v", dry.Status, dry.Error, dry.Summary)
	}
	if dry.Summary.BytesToMove == 0 || dry.Summary.BlobsToUpload == 0 {
		t.Errorf("dry run plans no bytes: %+v", dry.Summary)
	}
	if repos, err := e.dc.Catalog(ctx, 0); err != nil || len(repos) != 0 || e.blobPuts.Load() != 0 {
		t.Fatalf("the dry run changed the destination: catalog %v (%v), %d blob PUTs", repos, err, e.blobPuts.Load())
	}

	res := e.mirror(ctx, oci.MirrorOptions{Apply: true})
	if res.Status != job.StatusOK {
		var b strings.Builder
		res.WriteText(&b)
		t.Fatalf("apply: %s\n%s", res.Status, b.String())
	}
	s := res.Summary
	if s.TagsCopied != 9 || s.TagsDiffering != 0 || s.BytesMoved != dry.Summary.BytesToMove || s.BlobsUploaded != dry.Summary.BlobsToUpload {
		t.Errorf("apply summary %+v, plan %+v", s, dry.Summary)
	}
	// The base layer every repository shares is uploaded once, mounted
	// into the others.
	if s.BlobsMounted == 0 || int64(s.BlobsUploaded) != e.blobPuts.Load() {
		t.Errorf("mounted %d, uploaded %d, PUTs %d", s.BlobsMounted, s.BlobsUploaded, e.blobPuts.Load())
	}
	if res.Check == nil || res.Check.Summary.Tags != 9 {
		t.Errorf("check after copy: %+v", res.Check)
	}
	assertIdentical(t, e.sc, e.dc, e.tags, same)

	again := e.mirror(ctx, oci.MirrorOptions{Apply: true})
	if again.Status != job.StatusOK || again.Summary.TagsIdentical != 9 || again.Summary.TagsToCopy != 0 || again.Summary.BytesMoved != 0 {
		t.Errorf("second run: %s, %+v", again.Status, again.Summary)
	}
}

// TestMirrorInterruptedAndResumed kills the copy after a few blob uploads
// and runs it again: no tag points at a partial image in between, and the
// second run uploads only what the first did not.
func TestMirrorInterruptedAndResumed(t *testing.T) {
	t.Parallel()
	e := newMirrorEnv(t)
	plan := e.mirror(t.Context(), oci.MirrorOptions{})
	total := int64(plan.Summary.BlobsToUpload)

	ctx, cancel := context.WithCancel(t.Context())
	e.cancel, e.cancelAt = cancel, 4
	first := e.mirror(ctx, oci.MirrorOptions{Apply: true, Streams: 2})
	cancel()
	if first.Status != job.StatusIncomplete {
		t.Fatalf("interrupted run: %s %q", first.Status, first.Error)
	}
	done := e.blobPuts.Load()
	if done < 4 || done >= total {
		t.Fatalf("%d of %d blobs uploaded before the interruption", done, total)
	}
	// Whatever tags made it are whole.
	if rep := oci.Check(t.Context(), e.dc, oci.CheckOptions{}); rep.Status != job.StatusOK {
		t.Errorf("after the interruption: %s %+v %s", rep.Status, rep.Broken, rep.Error)
	}

	e.cancelAt = 0
	// A PUT in flight at the cancel may have landed without its answer
	// reaching us: a new plan says what is really missing.
	replan := e.mirror(t.Context(), oci.MirrorOptions{})
	missing := int64(replan.Summary.BlobsToUpload)
	if missing+done > total || missing == 0 {
		t.Errorf("after %d of %d uploads the plan still uploads %d", done, total, missing)
	}
	second := e.mirror(t.Context(), oci.MirrorOptions{Apply: true})
	if second.Status != job.StatusOK {
		t.Fatalf("resumed run: %s %q", second.Status, second.Error)
	}
	if got := e.blobPuts.Load() - done; got != missing || int64(second.Summary.BlobsUploaded) != got {
		t.Errorf("resumed run uploaded %d blobs (summary %d), planned %d; first run %d of %d", got, second.Summary.BlobsUploaded, missing, done, total)
	}
	if second.Summary.TagsCopied+second.Summary.TagsIdentical != 9 {
		t.Errorf("resumed summary %+v", second.Summary)
	}
	assertIdentical(t, e.sc, e.dc, e.tags, same)
}

// TestMirrorCorruptSourceBlob flips a byte in a layer only web:c has: that
// tag fails and its bytes never reach the destination; the rest copy.
func TestMirrorCorruptSourceBlob(t *testing.T) {
	t.Parallel()
	e := newMirrorEnv(t)
	g, err := oci.ReadImageGraph(t.Context(), e.sc, "web", "c")
	if err != nil {
		t.Fatal(err)
	}
	bad := g.Blobs[len(g.Blobs)-1] // "layer 3 of web:c"
	flipByte(t, e.src.BlobData(bad.Digest))

	res := e.mirror(t.Context(), oci.MirrorOptions{Apply: true})
	if res.Status != job.StatusFailed {
		t.Fatalf("status %s %q, want failed", res.Status, res.Error)
	}
	var failed []string
	for _, tag := range res.Tags {
		if tag.State == oci.MirrorFailed {
			failed = append(failed, tag.Subject())
			if !strings.Contains(tag.Error, "digest mismatch") {
				t.Errorf("%s: %s", tag.Subject(), tag.Error)
			}
		}
	}
	if diff := cmp.Diff([]string{"web:c"}, failed); diff != "" {
		t.Errorf("failed tags (-want +got):\n%s", diff)
	}
	if ok, err := oci.NewPusher(e.dc).BlobExists(t.Context(), "web", bad); ok || err != nil {
		t.Errorf("the corrupt blob reached the destination (%v)", err)
	}
	if _, err := e.dc.ManifestDigest(t.Context(), "web", "c"); err == nil {
		t.Error("web:c is tagged at the destination")
	}
	delete(e.tags, "web")
	assertIdentical(t, e.sc, e.dc, e.tags, same)
	if res.Summary.TagsDiffering != 1 {
		t.Errorf("differing %d, want 1", res.Summary.TagsDiffering)
	}
}

// TestMirrorPrune: tags the source lacks are planned for deletion at the
// destination, the brake refuses a large share, --force releases it.
func TestMirrorPrune(t *testing.T) {
	t.Parallel()
	e := newMirrorEnv(t)
	ctx := t.Context()
	if res := e.mirror(ctx, oci.MirrorOptions{Apply: true}); res.Status != job.StatusOK {
		t.Fatalf("first copy: %s %q", res.Status, res.Error)
	}
	dp := oci.NewPusher(e.dc)
	pushImage(t, dp, "web", "gone", image("web:gone", "debian", 2, nil))
	pushMulti(t, dp, "tool", "old", false, true)
	for _, tag := range []string{"x1", "x2", "x3"} {
		pushImage(t, dp, "team/app", tag, image("team/app:"+tag, "debian", 1, nil))
	}
	// An unrelated repository at the destination is never touched.
	pushImage(t, dp, "elsewhere", "keep", image("elsewhere", "debian", 1, nil))

	dry := e.mirror(ctx, oci.MirrorOptions{Prune: true})
	var dt strings.Builder
	dry.WriteText(&dt)
	t.Log(dt.String())
	if dry.Prune == nil || dry.Prune.Plan == nil {
		t.Fatalf("no prune plan: %+v", dry)
	}
	// team/app would lose 3 of 8 tags (50%: allowed), tool 1 of 2 (50%),
	// web 1 of 4.
	if got := dry.Prune.Plan.Summary.TagsDeleted; got != 5 || dry.Prune.Plan.Refused || dry.Status != job.StatusOK {
		t.Fatalf("prune plan deletes %d tags (refused %v), status %s %q", got, dry.Prune.Plan.Refused, dry.Status, dry.Error)
	}
	tight := e.mirror(ctx, oci.MirrorOptions{Prune: true, Apply: true, MaxDeleteShare: 0.3})
	if tight.Status != job.StatusFailed || !tight.Prune.Plan.Refused || tight.Prune.DeletedTags != 0 {
		t.Fatalf("brake: status %s, refused %v, deleted %d", tight.Status, tight.Prune.Plan.Refused, tight.Prune.DeletedTags)
	}
	if _, err := e.dc.ManifestDigest(ctx, "web", "gone"); err != nil {
		t.Fatalf("the brake let web:gone go: %v", err)
	}
	forced := e.mirror(ctx, oci.MirrorOptions{Prune: true, Apply: true, MaxDeleteShare: 0.3, Force: true})
	if forced.Status != job.StatusOK || forced.Prune.DeletedTags != 5 {
		var b strings.Builder
		forced.WriteText(&b)
		t.Fatalf("forced prune: %s\n%s", forced.Status, b.String())
	}
	for repo, want := range map[string][]string{"web": {"a", "b", "c"}, "tool": {"v1"}, "team/app": {"1.0", "1.1", "latest", "stable", "stable-alias"}, "elsewhere": {"keep"}} {
		got, err := e.dc.Tags(ctx, repo, 0)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s after the prune (-want +got):\n%s", repo, diff)
		}
	}
	assertIdentical(t, e.sc, e.dc, e.tags, same)
}

func TestMirrorRepoPatternsAndPrefix(t *testing.T) {
	t.Parallel()
	e := newMirrorEnv(t)
	dst, err := oci.ParseMirrorEndpoint(e.dst.Host()+"/backup", true)
	if err != nil {
		t.Fatal(err)
	}
	res := e.mirror(t.Context(), oci.MirrorOptions{Destination: dst, Repos: []string{"team/*", "tool"}, Apply: true})
	if res.Status != job.StatusOK || res.Summary.TagsCopied != 6 {
		t.Fatalf("status %s %q, summary %+v", res.Status, res.Error, res.Summary)
	}
	repos, err := e.dc.Catalog(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"backup/team/app", "backup/tool"}, repos); diff != "" {
		t.Errorf("destination repositories (-want +got):\n%s", diff)
	}
	delete(e.tags, "web")
	assertIdentical(t, e.sc, e.dc, e.tags, func(r string) string { return "backup/" + r })
}

// TestMirrorToGitea mirrors into the real Gitea's container registry (the
// stand-in for Forgejo): under its owner, with basic auth owner/token
// exchanged for bearer tokens, then interrupted-free reruns are identical.
func TestMirrorToGitea(t *testing.T) {
	t.Parallel()
	g := labtest.StartGitea(t)
	e := &mirrorEnv{}
	var sp *oci.Pusher
	e.src, sp = startRegistry(t, labtest.RegistryOptions{})
	e.sc = client(t, e.src.Host(), oci.Options{})
	e.dc = client(t, g.RegistryHost, oci.Options{Credentials: oci.Credentials{Username: g.Owner, Password: g.Token},
		Transport: countPuts{env: e, rt: http.DefaultTransport.(*http.Transport).Clone()}})
	e.tags = seedMirror(t, sp, "")
	dst, err := oci.ParseMirrorEndpoint(g.RegistryHost+"/"+g.Owner, true)
	if err != nil {
		t.Fatal(err)
	}
	res := e.mirror(t.Context(), oci.MirrorOptions{Destination: dst, Apply: true})
	if res.Status != job.StatusOK || res.Summary.TagsCopied != 9 {
		var b strings.Builder
		res.WriteText(&b)
		t.Fatalf("mirror to gitea: %s\n%s", res.Status, b.String())
	}
	t.Logf("gitea: %d uploaded, %d mounted, %d requests", res.Summary.BlobsUploaded, res.Summary.BlobsMounted, res.Summary.Requests)
	assertIdentical(t, e.sc, e.dc, e.tags, func(r string) string { return g.Owner + "/" + r })
	again := e.mirror(t.Context(), oci.MirrorOptions{Destination: dst, Apply: true})
	if again.Status != job.StatusOK || again.Summary.TagsIdentical != 9 || again.Summary.BlobsUploaded != 0 {
		t.Errorf("second run: %s %q %+v", again.Status, again.Error, again.Summary)
	}
}

// TestMirrorCheckCatchesBrokenDestination: a destination that takes a
// blob but cannot serve it back (its reads of one blob answer 404) fails
// the tags using it in the check after copying.
func TestMirrorCheckCatchesBrokenDestination(t *testing.T) {
	t.Parallel()
	e := newMirrorEnv(t)
	g, err := oci.ReadImageGraph(t.Context(), e.sc, "web", "a")
	if err != nil {
		t.Fatal(err)
	}
	lost := g.Blobs[len(g.Blobs)-1].Digest // web:a's own last layer
	px := startProxy(t, e.dst.URL(), func(_ int64, w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+lost) {
			http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN"}]}`, http.StatusNotFound)
			return true
		}
		return false
	})
	dc := client(t, px.host(), oci.Options{})
	res := oci.Mirror(t.Context(), e.sc, dc, oci.MirrorOptions{Apply: true,
		Source: oci.MirrorEndpoint{Registry: e.sc.Registry()}, Destination: oci.MirrorEndpoint{Registry: dc.Registry()}})
	if res.Status != job.StatusFailed || res.Check == nil || res.Check.Summary.BrokenImages != 1 {
		t.Fatalf("status %s %q, check %+v", res.Status, res.Error, res.Check)
	}
	for _, tag := range res.Tags {
		if (tag.State == oci.MirrorFailed) != (tag.Subject() == "web:a") {
			t.Errorf("%s: %s %s", tag.Subject(), tag.State, tag.Error)
		}
	}
}
