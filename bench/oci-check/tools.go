package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/labops/labops/bench/internal/benchreg"
)

// tool is one way of checking the whole registry; run must reach it only through proxy.
type tool struct {
	name   string
	what   string // what it does, in a few words
	needs  string // binary it needs ("" for none)
	run    func(ctx context.Context, env *benchEnv) (note string, err error)
	labops bool
	// primary: the labops run the headline ratio is computed for.
	primary bool
	// reference: not a tool a user would run; never used for the ratio.
	reference bool
}

type benchEnv struct {
	proxy   string // host:port of the counting proxy
	labops  string // path to the built labops binary
	work    string // scratch dir for tool output
	par     int
	labArgs []string
	model   *model
}

// failures counts images a tool called broken; on this healthy population it should be zero.
type failures struct {
	n     atomic.Int64
	mu    sync.Mutex
	first string
}

func (f *failures) add(msg string) {
	if f.n.Add(1) == 1 {
		f.mu.Lock()
		f.first = msg
		f.mu.Unlock()
	}
}

// result turns the failures into the tool's outcome: any failure means it did not do the work.
func (f *failures) result(done string) (string, error) {
	if f.n.Load() == 0 {
		return done, nil
	}
	return done, errors.New(f.note())
}

func (f *failures) note() string {
	if f.n.Load() == 0 {
		return ""
	}
	return fmt.Sprintf("%d failed, first: %s", f.n.Load(), f.first)
}

// toolCPU sums the user+system time of every process the tools ran, in nanoseconds.
var toolCPU atomic.Int64

func runCmd(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ps := cmd.ProcessState; ps != nil {
		toolCPU.Add(int64(ps.UserTime() + ps.SystemTime()))
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return out, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, msg)
	}
	return out, nil
}

func lines(b []byte) []string {
	var out []string
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if t := strings.TrimSpace(s.Text()); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// each runs f over items, par at a time.
func each[T any](par int, items []T, f func(T)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	for _, it := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(it)
		})
	}
	wg.Wait()
}

type repoTags struct {
	repo string
	tags []string
}

// enumerate lists repositories with list and, for each, its tags with tagsOf, par at a time.
func enumerate(ctx context.Context, par int, list func() ([]string, error), tagsOf func(string) ([]string, error)) ([]repoTags, error) {
	repos, err := list()
	if err != nil {
		return nil, err
	}
	out := make([]repoTags, len(repos))
	var mu sync.Mutex
	var first error
	idx := make([]int, len(repos))
	for i := range idx {
		idx[i] = i
	}
	each(par, idx, func(i int) {
		tags, err := tagsOf(repos[i])
		mu.Lock()
		defer mu.Unlock()
		if err != nil && first == nil {
			first = err
		}
		out[i] = repoTags{repos[i], tags}
	})
	return out, first
}

var linkNext = regexp.MustCompile(`<([^>]+)>;\s*rel="?next"?`)

// httpList follows a paginated registry list (catalog or tags) through the proxy, as a shell
// script with curl would; used where the tool itself has no catalog command.
func httpList(ctx context.Context, proxy, path, field string) ([]string, error) {
	var out []string
	u := "http://" + proxy + path
	for u != "" {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var body map[string]json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s %v", u, resp.Status, err)
		}
		var items []string
		json.Unmarshal(body[field], &items)
		out = append(out, items...)
		u = ""
		if m := linkNext.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
			u = "http://" + proxy + m[1]
		}
	}
	return out, nil
}

func tools() []tool {
	return []tool{
		labopsTool("labops oci check", "catalog, tags, children, one ranged GET per distinct blob per repo", true),
		labopsTool("labops oci check --concurrency 16", "as above, 16 requests in flight", false, "--concurrency", "16"),
		labopsTool("labops oci check --verify-digests", "as above, downloading every distinct blob and checking its sha256", false, "--verify-digests"),
		labopsTool("labops oci check --depth manifests", "cheap tier: tags, indexes and child manifests, no blobs", false, "--depth", "manifests"),
		replayTool("floor: replay minimum set, ranged GET blobs", "not a walker: the known minimum request set, 16 in flight, each blob by 1-byte ranged GET", true),
		replayTool("floor: replay minimum set, HEAD blobs", "not a walker: the known minimum request set, 16 in flight, each blob by HEAD (fakeable by the blob cache)", false),
		{
			name: "crane validate --fast, 1 at a time", what: "crane catalog + ls, validate per tag", needs: "crane",
			run: func(ctx context.Context, e *benchEnv) (string, error) { return craneValidate(ctx, e, 1) },
		},
		{
			name: "crane validate --fast, 8 at a time", what: "crane catalog + ls, validate per tag (xargs -P8)", needs: "crane",
			run: func(ctx context.Context, e *benchEnv) (string, error) { return craneValidate(ctx, e, 8) },
		},
		{
			name: "regctl image copy -> ocidir, 8 repos at a time", what: "regctl repo/tag ls, copy every tag (all platforms, all blobs) to a local OCI layout per repo", needs: "regctl",
			run: regctlCopy,
		},
		{
			name: "skopeo copy --all -> oci:, 8 repos at a time", what: "catalog via HTTP, skopeo list-tags, copy every tag (all platforms, all blobs) to a local OCI layout per repo", needs: "skopeo",
			run: skopeoCopy,
		},
		{
			name: "skopeo inspect --raw, 8 at a time (shallow)", what: "catalog via HTTP, skopeo list-tags, tagged manifest only: no children, no blobs", needs: "skopeo",
			run: skopeoInspect,
		},
	}
}

// labopsTool runs the built labops; primary marks the plain invocation the ratio is about.
func labopsTool(name, what string, primary bool, extra ...string) tool {
	return tool{name: name, what: what, labops: true, primary: primary,
		run: func(ctx context.Context, e *benchEnv) (string, error) {
			args := append([]string{"oci", "check", "--plain-http"}, extra...)
			args = append(args, e.labArgs...)
			args = append(args, e.proxy)
			out, err := runCmd(ctx, nil, e.labops, args...)
			ls := lines(out)
			if len(ls) > 0 {
				return ls[len(ls)-1], err
			}
			return "", err
		}}
}

func craneValidate(ctx context.Context, e *benchEnv, par int) (string, error) {
	rts, err := enumerate(ctx, par, func() ([]string, error) {
		out, err := runCmd(ctx, nil, "crane", "catalog", "--insecure", e.proxy)
		return lines(out), err
	}, func(repo string) ([]string, error) {
		out, err := runCmd(ctx, nil, "crane", "ls", "--insecure", e.proxy+"/"+repo)
		return lines(out), err
	})
	if err != nil {
		return "", err
	}
	var refs []string
	for _, rt := range rts {
		for _, t := range rt.tags {
			refs = append(refs, e.proxy+"/"+rt.repo+":"+t)
		}
	}
	var f failures
	each(par, refs, func(ref string) {
		if _, err := runCmd(ctx, nil, "crane", "validate", "--insecure", "--fast", "--remote", ref); err != nil {
			f.add(err.Error())
		}
	})
	return f.result(fmt.Sprintf("%d tags validated", len(refs)))
}

func regctlCopy(ctx context.Context, e *benchEnv) (string, error) {
	home := filepath.Join(e.work, "regctl-home")
	os.MkdirAll(home, 0o755)
	env := []string{"HOME=" + home}
	host := "--host=reg=" + e.proxy + ",tls=disabled"
	rts, err := enumerate(ctx, e.par, func() ([]string, error) {
		out, err := runCmd(ctx, env, "regctl", "repo", "ls", host, e.proxy)
		return lines(out), err
	}, func(repo string) ([]string, error) {
		out, err := runCmd(ctx, env, "regctl", "tag", "ls", host, e.proxy+"/"+repo)
		return lines(out), err
	})
	if err != nil {
		return "", err
	}
	dst := filepath.Join(e.work, "regctl-oci")
	var f failures
	var n atomic.Int64
	each(e.par, rts, func(rt repoTags) {
		dir := filepath.Join(dst, strings.ReplaceAll(rt.repo, "/", "_"))
		for _, t := range rt.tags {
			n.Add(1)
			if _, err := runCmd(ctx, env, "regctl", "image", "copy", host, e.proxy+"/"+rt.repo+":"+t, "ocidir://"+dir+":"+t); err != nil {
				f.add(err.Error())
			}
		}
	})
	os.RemoveAll(dst)
	return f.result(fmt.Sprintf("%d tags copied", n.Load()))
}

func skopeoEnumerate(ctx context.Context, e *benchEnv) ([]repoTags, error) {
	return enumerate(ctx, e.par, func() ([]string, error) {
		return httpList(ctx, e.proxy, "/v2/_catalog", "repositories")
	}, func(repo string) ([]string, error) {
		out, err := runCmd(ctx, nil, "skopeo", "list-tags", "--tls-verify=false", "docker://"+e.proxy+"/"+repo)
		if err != nil {
			return nil, err
		}
		var v struct{ Tags []string }
		if err := json.Unmarshal(out, &v); err != nil {
			return nil, err
		}
		return v.Tags, nil
	})
}

func skopeoCopy(ctx context.Context, e *benchEnv) (string, error) {
	rts, err := skopeoEnumerate(ctx, e)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(e.work, "skopeo-oci")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	var f failures
	var n atomic.Int64
	each(e.par, rts, func(rt repoTags) {
		dir := filepath.Join(dst, strings.ReplaceAll(rt.repo, "/", "_"))
		for _, t := range rt.tags {
			n.Add(1)
			if _, err := runCmd(ctx, nil, "skopeo", "copy", "--quiet", "--all", "--src-tls-verify=false",
				"docker://"+e.proxy+"/"+rt.repo+":"+t, "oci:"+dir+":"+t); err != nil {
				f.add(err.Error())
			}
		}
	})
	os.RemoveAll(dst)
	return f.result(fmt.Sprintf("%d tags copied", n.Load()))
}

func skopeoInspect(ctx context.Context, e *benchEnv) (string, error) {
	rts, err := skopeoEnumerate(ctx, e)
	if err != nil {
		return "", err
	}
	var refs []string
	for _, rt := range rts {
		for _, t := range rt.tags {
			refs = append(refs, "docker://"+e.proxy+"/"+rt.repo+":"+t)
		}
	}
	var f failures
	each(e.par, refs, func(ref string) {
		if _, err := runCmd(ctx, nil, "skopeo", "inspect", "--raw", "--tls-verify=false", ref); err != nil {
			f.add(err.Error())
		}
	})
	return f.result(fmt.Sprintf("%d tags inspected", len(refs)))
}

// replayTool sends the minimum request set of a full check, known from the seeded model, 16 at a
// time and without discovering anything: the floor any walker can reach for one way of proving
// blobs. It is a reference, never a competitor.
func replayTool(name, what string, ranged bool) tool {
	return tool{name: name, what: what, reference: true, run: func(ctx context.Context, e *benchEnv) (string, error) {
		type req struct{ method, path string }
		reqs := []req{{http.MethodGet, "/v2/_catalog?n=1000"}}
		blobMethod := http.MethodHead
		if ranged {
			blobMethod = http.MethodGet
		}
		for _, r := range e.model.Repos {
			reqs = append(reqs, req{http.MethodGet, "/v2/" + r.Name + "/tags/list"})
			for _, t := range r.Tags {
				reqs = append(reqs, req{http.MethodGet, "/v2/" + r.Name + "/manifests/" + t})
			}
			for _, d := range r.Children {
				reqs = append(reqs, req{http.MethodGet, "/v2/" + r.Name + "/manifests/" + d})
			}
			for _, d := range r.Blobs {
				reqs = append(reqs, req{blobMethod, "/v2/" + r.Name + "/blobs/" + d})
			}
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
		accept := strings.Join([]string{benchreg.MediaOCIIndex, benchreg.MediaOCIManifest, benchreg.MediaDockerList, benchreg.MediaDockerMan}, ",")
		var f failures
		each(16, reqs, func(q req) {
			hr, _ := http.NewRequestWithContext(ctx, q.method, "http://"+e.proxy+q.path, nil)
			hr.Header.Set("Accept", accept)
			if ranged && strings.Contains(q.path, "/blobs/") {
				hr.Header.Set("Range", "bytes=0-0")
			}
			resp, err := client.Do(hr)
			if err != nil {
				f.add(err.Error())
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 || (q.method == http.MethodGet && n == 0) {
				f.add(fmt.Sprintf("%s %s: %s, %d bytes", q.method, q.path, resp.Status, n))
			}
		})
		return f.result(fmt.Sprintf("%d requests", len(reqs)))
	}}
}
