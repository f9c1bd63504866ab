// Command oci-mirror benchmarks `labops oci mirror --apply` (its deep check
// of every copied tag at the destination included) against the tools a
// user would otherwise script a registry migration with: `skopeo sync
// --all`, `regctl image copy` in a loop and `crane copy` in a loop (both 8
// tags at a time). One source registry:2 is seeded with a population of
// multi-arch indexes and plain images sharing base layers; every tool
// copies it into a fresh registry:2 of its own; after each run (untimed)
// every tag at the destination is compared with the source by digest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/labops/labops/bench/internal/benchreg"
)

func main() {
	repos := flag.Int("repos", 20, "repositories")
	tags := flag.Int("tags", 10, "tags per repository (the last, latest, aliases the one before)")
	indexShare := flag.Float64("index-share", 0.5, "share of tags that are multi-platform indexes")
	layerKiB := flag.Int("layer-kib", 4, "largest random layer size in KiB (the smallest is a quarter of it)")
	seed := flag.Uint64("seed", 1, "population seed")
	par := flag.Int("par", 8, "tags copied at once by the crane and regctl loops")
	runs := flag.Int("runs", 1, "runs per tool (each into a fresh destination); the median is reported")
	only := flag.String("only", "", "comma-separated tools to run (default all): labops,skopeo,regctl,crane")
	labopsBin := flag.String("labops", "", "labops binary (default: go build ./cmd/labops)")
	labopsArgs := flag.String("labops-args", "--concurrency 16", "extra arguments for labops oci mirror")
	registryBin := flag.String("registry", "docker-registry", "registry:2 binary")
	flag.Parse()
	pop := benchreg.Population{Repos: *repos, Tags: *tags, Seed: *seed, IndexShare: *indexShare,
		LayerMin: max(1, *layerKiB*1024/4), LayerSpread: max(1, *layerKiB*1024*3/4)}
	if err := bench(pop, *par, *runs, *only, *labopsBin, *labopsArgs, *registryBin); err != nil {
		fmt.Fprintln(os.Stderr, "oci-mirror:", err)
		os.Exit(1)
	}
}

// benchEnv is what a tool run gets: the source, a fresh destination, the
// population and a scratch dir.
type benchEnv struct {
	src, dst string // host:port
	model    *benchreg.Model
	work     string
	par      int
	labops   string
	args     []string
	note     string // what the tool said about its run
}

type tool struct {
	name, what string
	run        func(ctx context.Context, e *benchEnv) error
	// dstRepo maps a source repository to where the tool puts it.
	dstRepo func(string) string
}

type result struct {
	tool   tool
	times  []time.Duration
	cpu    []time.Duration // tool processes + both registries
	errors []string
	bad    int // tags not identical at the destination, last run
	note   string
}

func bench(pop benchreg.Population, par, runs int, only, labopsBin, labopsArgs, registryBin string) error {
	ctx := context.Background()
	bin, err := exec.LookPath(registryBin)
	if err != nil {
		return fmt.Errorf("registry:2 binary %q not found (Debian package docker-registry)", registryBin)
	}
	work, err := os.MkdirTemp("", "labops-bench-mirror-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if labopsBin == "" {
		labopsBin = filepath.Join(work, "labops")
		cmd := exec.Command("go", "build", "-o", labopsBin, "./cmd/labops")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/labops (run from the module root): %v\n%s", err, out)
		}
	}
	src, err := benchreg.Start(bin, filepath.Join(work, "src"))
	if err != nil {
		return err
	}
	defer src.Stop()
	plans := pop.Plan()
	m := &benchreg.Model{}
	for _, p := range plans {
		m.Repos = append(m.Repos, p.Repo)
	}
	if err := benchreg.Push(ctx, src.Addr, plans, 8); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	nRepos, nTags, nIdx, nKids, nBlobs, bytes := counts(plans)
	fmt.Printf("population: %d repositories, %d tags (%d indexes, %d untagged children), %d blob links, %.1f MiB of distinct blobs\n",
		nRepos, nTags, nIdx, nKids, nBlobs, float64(bytes)/(1<<20))
	fmt.Printf("machine: %d CPUs; each tool copies into its own fresh registry:2; %d run(s) each, median shown\n\n", numCPU(), runs)

	// Runs are interleaved (every tool once, then again), so that a busy
	// machine slows them alike.
	var results []*result
	for _, t := range allTools() {
		if only != "" && !slices.Contains(strings.Split(only, ","), t.name) {
			continue
		}
		if t.name != "labops" {
			if _, err := exec.LookPath(t.name); err != nil {
				fmt.Printf("%-8s skipped: %s not installed (bench/oci-mirror/run.sh installs it)\n", t.name, t.name)
				continue
			}
		}
		results = append(results, &result{tool: t})
	}
	for i := range runs {
		for _, r := range results {
			t := r.tool
			dir := filepath.Join(work, fmt.Sprintf("%s-%d", t.name, i))
			dst, err := benchreg.Start(bin, dir)
			if err != nil {
				return err
			}
			e := &benchEnv{src: src.Addr, dst: dst.Addr, model: m, work: dir, par: par, labops: labopsBin, args: strings.Fields(labopsArgs)}
			toolCPU.Lock()
			toolCPU.s = 0
			toolCPU.Unlock()
			cpu0 := src.CPUSeconds() + dst.CPUSeconds()
			start := time.Now()
			err = t.run(ctx, e)
			r.times = append(r.times, time.Since(start))
			toolCPU.Lock()
			cpu := toolCPU.s + src.CPUSeconds() + dst.CPUSeconds() - cpu0
			toolCPU.Unlock()
			r.cpu = append(r.cpu, time.Duration(cpu*float64(time.Second)))
			if err != nil {
				r.errors = append(r.errors, firstLine(err.Error()))
			}
			r.bad = max(r.bad, verify(ctx, src.Addr, dst.Addr, m, t.dstRepo))
			r.note = e.note
			dst.Stop()
			os.RemoveAll(dir)
			fmt.Fprintf(os.Stderr, "run %d: %-8s %.2fs wall, %.2fs CPU\n", i+1, t.name, r.times[i].Seconds(), r.cpu[i].Seconds())
		}
	}
	for _, r := range results {
		var all []string
		for _, d := range r.times {
			all = append(all, fmt.Sprintf("%.1f", d.Seconds()))
		}
		fmt.Printf("%-8s %7.2fs wall %7.2fs CPU  %s (wall runs: %s s)%s\n", r.tool.name, median(r.times).Seconds(), median(r.cpu).Seconds(), r.tool.what, strings.Join(all, " "), r.remarks())
	}
	report(results)
	return nil
}

func (r *result) remarks() string {
	var s []string
	if r.note != "" {
		s = append(s, r.note)
	}
	if r.bad > 0 {
		s = append(s, fmt.Sprintf("%d tags NOT identical at the destination", r.bad))
	}
	if len(r.errors) > 0 {
		s = append(s, "error: "+r.errors[0])
	}
	if len(s) == 0 {
		return ""
	}
	return "  [" + strings.Join(s, "; ") + "]"
}

func report(results []*result) {
	var lab *result
	fastest := (*result)(nil)
	for _, r := range results {
		if r.tool.name == "labops" {
			lab = r
			continue
		}
		if r.bad == 0 && len(r.errors) == 0 && (fastest == nil || median(r.times) < median(fastest.times)) {
			fastest = r
		}
	}
	if lab == nil {
		return
	}
	fmt.Println()
	for _, r := range results {
		if r == lab {
			continue
		}
		fmt.Printf("labops vs %-7s %.2fx faster (wall), %.2fx less CPU (tool + both registries)\n", r.tool.name+":",
			median(r.times).Seconds()/median(lab.times).Seconds(), median(r.cpu).Seconds()/median(lab.cpu).Seconds())
	}
	if fastest != nil {
		verdict := "labops is faster than the fastest competitor, verification included"
		if median(lab.times) >= median(fastest.times) {
			verdict = "labops is NOT faster than " + fastest.tool.name
		}
		fmt.Printf("%s (%s: %.2fs, labops: %.2fs)\n", verdict, fastest.tool.name, median(fastest.times).Seconds(), median(lab.times).Seconds())
	}
}

func median(xs []time.Duration) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}

func counts(plans []benchreg.Plan) (repos, tags, indexes, children, blobs int, bytes int64) {
	seen := map[string]bool{}
	for _, p := range plans {
		repos++
		tags += len(p.Repo.Tags)
		indexes += p.Repo.Indexes
		children += len(p.Repo.Children)
		blobs += len(p.Blobs)
		for _, b := range p.Blobs {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				bytes += int64(len(b.Data))
			}
		}
	}
	return
}
