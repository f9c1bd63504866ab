// Command oci-check benchmarks `labops oci check` against the loops a user would script with
// crane, regctl and skopeo, on one real registry:2 seeded with the same data, every tool's
// requests counted by one reverse proxy. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/labops/labops/bench/internal/benchreg"
)

type result struct {
	tool      tool
	skipped   string
	err       error
	note      string
	wall      time.Duration // median over runs
	cpu       float64       // registry CPU seconds, median
	toolCPU   float64       // CPU seconds of the tool's own processes, median
	proxyCPU  float64       // CPU seconds of this process (mostly the proxy), median
	walls     []time.Duration
	cpus      []float64
	toolCPUs  []float64
	proxyCPUs []float64
	t         *tally
	children  int
	blobs     int
	fullCover bool
}

func main() {
	var (
		repos       = flag.Int("repos", 50, "repositories to seed")
		tags        = flag.Int("tags", 20, "tags per repository (the last is \"latest\", an alias)")
		seed        = flag.Uint64("seed", 1, "seed of the generated population")
		indexShare  = flag.Float64("index-share", 0.4, "share of tags that are 2-3 platform indexes")
		dataDir     = flag.String("data", "", "registry dir to keep and reuse (default: a temp dir, removed)")
		registryBin = flag.String("registry-bin", "/usr/bin/docker-registry", "registry:2 binary")
		labopsBin   = flag.String("labops", "", "labops binary (default: go build ./cmd/labops)")
		labopsArgs  = flag.String("labops-args", "", "extra arguments for labops oci check, space separated")
		only        = flag.String("only", "", "run only tools whose name matches this regexp")
		par         = flag.Int("par", 8, "processes at a time for the parallel competitor loops")
		runs        = flag.Int("runs", 1, "runs per tool; the median wall time is reported")
		timeout     = flag.Duration("timeout", 20*time.Minute, "limit per tool run")
	)
	flag.Parse()
	if err := bench(*repos, *tags, *seed, *indexShare, *dataDir, *registryBin, *labopsBin, *labopsArgs, *only, *par, *runs, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "oci-check:", err)
		os.Exit(1)
	}
}

func bench(repos, tags int, seed uint64, indexShare float64, dataDir, registryBin, labopsBin, labopsArgs, only string, par, runs int, timeout time.Duration) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "oci-check-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if dataDir == "" {
		dataDir = filepath.Join(work, "registry")
	}
	var filter *regexp.Regexp
	if only != "" {
		if filter, err = regexp.Compile(only); err != nil {
			return err
		}
	}

	reg, err := benchreg.Start(registryBin, dataDir)
	if err != nil {
		return err
	}
	defer reg.Stop()
	fmt.Printf("registry:2 %s (pid %d), data in %s\n", reg.Addr, reg.Pid(), dataDir)

	m, err := seedOrReuse(ctx, reg.Addr, dataDir, repos, tags, seed, indexShare)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := warm(ctx, reg.Addr, m, 16); err != nil {
		return err
	}
	nRepos, nTags, nIdx, nChildren, nBlobs := m.counts()
	fmt.Printf("population: %d repositories, %d tags (%d indexes, %d untagged children), %d distinct blobs per repo summed; warm-up read in %.1fs\n",
		nRepos, nTags, nIdx, nChildren, nBlobs, time.Since(t0).Seconds())
	catalogPage, tagPage, err := pageSizes(ctx, reg.Addr, m)
	if err != nil {
		return err
	}
	minReq := m.minRequests(catalogPage, tagPage)
	fmt.Printf("minimum requests for a full check: %d (catalog page %d, tag page %d; /v2/ ping not counted)\n", minReq, catalogPage, tagPage)

	proxy, err := startProxy(reg.Addr)
	if err != nil {
		return err
	}
	defer proxy.close()
	fmt.Printf("counting proxy %s\n\n", proxy.addr)

	if l1, err := load(); err == nil {
		fmt.Printf("load average at the start: %.1f on %d CPUs\n", l1, runtime.NumCPU())
	}
	env := &benchEnv{proxy: proxy.addr, work: work, par: par, labArgs: strings.Fields(labopsArgs), model: m}
	var results []*result
	for _, tl := range tools() {
		if filter != nil && !filter.MatchString(tl.name) {
			continue
		}
		r := &result{tool: tl}
		results = append(results, r)
		if tl.labops {
			if env.labops == "" {
				env.labops, r.skipped = prepareLabops(ctx, labopsBin, work)
			}
			if env.labops == "" {
				fmt.Printf("%-48s skipped: %s\n", tl.name, r.skipped)
			}
		} else if tl.needs == "" {
			// the bench itself does it
		} else if _, err := exec.LookPath(tl.needs); err != nil {
			r.skipped = tl.needs + " not installed (bench/oci-check/run.sh installs it)"
			fmt.Printf("%-48s skipped: %s\n", tl.name, r.skipped)
		}
	}
	// Runs are interleaved (every tool once, then again) so that a change in the machine's load
	// during the bench spreads over all tools rather than landing on one.
	for i := range runs {
		for _, r := range results {
			if r.skipped != "" {
				continue
			}
			proxy.reset()
			toolCPU.Store(0)
			before, _ := benchreg.CPUSeconds(reg.Pid())
			selfBefore, _ := benchreg.CPUSeconds(os.Getpid())
			rctx, cancel := context.WithTimeout(ctx, timeout)
			start := time.Now()
			note, err := r.tool.run(rctx, env)
			wall := time.Since(start)
			cancel()
			after, _ := benchreg.CPUSeconds(reg.Pid())
			selfAfter, _ := benchreg.CPUSeconds(os.Getpid())
			r.t = proxy.reset()
			r.note, r.err = note, err
			r.walls = append(r.walls, wall)
			r.cpus = append(r.cpus, after-before)
			r.toolCPUs = append(r.toolCPUs, time.Duration(toolCPU.Load()).Seconds())
			r.proxyCPUs = append(r.proxyCPUs, selfAfter-selfBefore)
			fmt.Printf("%-48s run %d: %6.2fs %6d requests, registry CPU %.2fs, tool CPU %.2fs, proxy CPU %.2fs\n", r.tool.name, i+1,
				wall.Seconds(), r.t.total.Load(), after-before, r.toolCPUs[i], selfAfter-selfBefore)
			if err != nil {
				fmt.Printf("    error: %v\n", err)
			}
		}
	}
	for _, r := range results {
		if r.skipped != "" {
			continue
		}
		r.wall = median(r.walls)
		r.cpu = median(r.cpus)
		r.toolCPU = median(r.toolCPUs)
		r.proxyCPU = median(r.proxyCPUs)
		r.children, r.blobs = m.coverage(r.t)
		r.fullCover = r.err == nil && r.children == nChildren && r.blobs == nBlobs
	}
	report(results, m, minReq)
	return nil
}

func seedOrReuse(ctx context.Context, addr, dir string, repos, tags int, seed uint64, indexShare float64) (*model, error) {
	mf := filepath.Join(dir, "seeded.json")
	if b, err := os.ReadFile(mf); err == nil {
		var m model
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", mf, err)
		}
		if len(m.Repos) == repos && len(m.Repos[0].Tags) == tags {
			fmt.Printf("reusing seeded data (%s)\n", mf)
			return &m, nil
		}
		return nil, fmt.Errorf("%s holds another population; use another -data dir", mf)
	}
	start := time.Now()
	pop := benchreg.Population{Repos: repos, Tags: tags, Seed: seed, IndexShare: indexShare,
		LayerMin: benchreg.DefaultLayerMin, LayerSpread: benchreg.DefaultLayerSpread}
	plans := pop.Plan()
	var m model
	uploads := 0
	for _, p := range plans {
		m.Repos = append(m.Repos, p.Repo)
		uploads += len(p.Blobs)
	}
	if err := benchreg.Push(ctx, addr, plans, 16); err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}
	fmt.Printf("seeded %d repositories x %d tags (%d blob uploads) in %.1fs\n", repos, tags, uploads, time.Since(start).Seconds())
	b, _ := json.Marshal(&m)
	return &m, os.WriteFile(mf, b, 0o644)
}

// pageSizes asks the registry for the largest catalog and tag list pages it will give in one
// request (registry:2 refuses n > 1000 on the catalog; 2.8 does not page tag lists), which is
// what the minimum request count assumes.
func pageSizes(ctx context.Context, addr string, m *model) (catalog, tags int, err error) {
	count := func(path, field string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var body map[string]json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return 0, err
		}
		var items []string
		if err := json.Unmarshal(body[field], &items); err != nil {
			return 0, err
		}
		return len(items), nil
	}
	if catalog, err = count("/v2/_catalog?n=1000", "repositories"); err != nil {
		return 0, 0, err
	}
	if tags, err = count("/v2/"+m.Repos[0].Name+"/tags/list", "tags"); err != nil {
		return 0, 0, err
	}
	if catalog == 0 || tags == 0 {
		return 0, 0, errors.New("registry returned empty catalog or tag list")
	}
	return catalog, tags, nil
}

// prepareLabops builds ./cmd/labops and checks that it has `oci check`.
func prepareLabops(ctx context.Context, bin, work string) (path, why string) {
	if bin == "" {
		gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
			return "", "not inside the labops module (go env GOMOD)"
		}
		bin = filepath.Join(work, "labops")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/labops")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "go build ./cmd/labops failed: " + firstLine(string(out))
		}
	}
	if out, err := exec.CommandContext(ctx, bin, "oci", "check", "--help").CombinedOutput(); err != nil {
		return "", "labops has no `oci check` yet: " + firstLine(string(out))
	}
	return bin, ""
}

func load() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	var l float64
	_, err = fmt.Sscan(string(b), &l)
	return l, err
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

func report(results []*result, m *model, minReq int) {
	_, _, _, nChildren, nBlobs := m.counts()
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\twall s\trequests\tGET\tranged\tHEAD\tvs min\treg CPU s\ttool CPU s\tproxy CPU s\tchildren\tblobs\t")
	for _, r := range results {
		if r.skipped != "" {
			fmt.Fprintf(tw, "%s\tskipped\t\t\t\t\t\t\t\t\t\t\t\n", r.tool.name)
			continue
		}
		t := r.t
		fmt.Fprintf(tw, "%s\t%.2f\t%d\t%d\t%d\t%d\t%.2fx\t%.2f\t%.2f\t%.2f\t%d/%d\t%d/%d\t\n", r.tool.name, r.wall.Seconds(),
			t.total.Load(), t.get.Load(), t.ranged.Load(), t.head.Load(), float64(t.total.Load())/float64(minReq),
			r.cpu, r.toolCPU, r.proxyCPU, r.children, nChildren, r.blobs, nBlobs)
	}
	tw.Flush()
	fmt.Println()
	for _, r := range results {
		switch {
		case r.skipped != "":
			fmt.Printf("- %s: skipped: %s\n", r.tool.name, r.skipped)
		case r.err != nil:
			fmt.Printf("- %s: ERROR %v\n", r.tool.name, r.err)
		default:
			fmt.Printf("- %s: %s; %s\n", r.tool.name, r.tool.what, r.note)
		}
	}
	var lab *result
	var best *result
	for _, r := range results {
		if r.skipped != "" || r.t == nil {
			continue
		}
		if r.tool.labops {
			if r.tool.primary {
				lab = r
			}
			continue
		}
		if r.fullCover && !r.tool.reference && (best == nil || r.wall < best.wall) {
			best = r
		}
	}
	fmt.Println()
	for _, r := range results {
		if r.skipped == "" && r.t != nil && !r.tool.labops && !r.tool.reference && !r.fullCover {
			fmt.Printf("not the same work: %s requested %d/%d child manifests and %d/%d blobs\n", r.tool.name, r.children, nChildren, r.blobs, nBlobs)
		}
	}
	if lab == nil {
		fmt.Println("labops oci check was not run; no ratio")
		return
	}
	fmt.Printf("labops covered every child manifest: %v (%d/%d); every config and layer of every manifest, index children included: %v (%d/%d); exit: %v\n",
		lab.children == nChildren, lab.children, nChildren, lab.blobs == nBlobs, lab.blobs, nBlobs, errOK(lab.err))
	fmt.Printf("labops requests: %d = %.2fx the minimum %d (target <= 1.3x)\n", lab.t.total.Load(), float64(lab.t.total.Load())/float64(minReq), minReq)
	if best == nil {
		fmt.Println("no competitor covered the same work; no speed ratio")
		return
	}
	fmt.Printf("labops is %.1fx faster than %s (%.2fs vs %.2fs; target >= 2.5x); registry CPU %.2fs vs %.2fs; all CPU (registry+tool+proxy) %.2fs vs %.2fs\n",
		best.wall.Seconds()/lab.wall.Seconds(), best.tool.name, lab.wall.Seconds(), best.wall.Seconds(), lab.cpu, best.cpu,
		lab.cpu+lab.toolCPU+lab.proxyCPU, best.cpu+best.toolCPU+best.proxyCPU)
	for _, r := range results {
		if r.tool.labops && !r.tool.primary && r.fullCover {
			fmt.Printf("  variant %s: %.1fx faster than %s\n", r.tool.name, best.wall.Seconds()/r.wall.Seconds(), best.tool.name)
		}
	}
	if l1, _ := load(); l1 > 0 {
		fmt.Printf("load average at the end: %.1f on %d CPUs (other work on the machine slows every tool)\n", l1, runtime.NumCPU())
	}
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func errOK(err error) string {
	if err == nil {
		return "0 (all whole)"
	}
	return err.Error()
}
