// Command oci-scan benchmarks `labops oci scan` against the registry's own
// `docker-registry garbage-collect --dry-run` on the same registry:2
// storage tree of 100,000+ files, in the same run, and prints both times,
// the ratio and what each reports. See README.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/labops/labops/internal/oci"
)

func main() {
	var (
		p = population{}
		o options
	)
	flag.IntVar(&p.repos, "repos", 300, "repositories")
	flag.IntVar(&p.tags, "tags", 50, "tags per repository")
	flag.IntVar(&p.indexEvery, "index-every", 5, "every n-th tag is a 2-platform OCI index with untagged children")
	flag.IntVar(&p.deletedEvery, "deleted-every", 10, "every n-th tag was deleted through the API (its blobs are garbage)")
	flag.IntVar(&p.damaged, "damaged", 5, "repositories whose first image lost a layer blob and that keep a stale upload")
	flag.IntVar(&p.layerSize, "layer-size", 512, "average layer size in bytes")
	flag.Uint64Var(&p.seed, "seed", 1, "seed of the generated content")
	flag.StringVar(&o.data, "data", "", "storage root to write (default: a temp dir, removed)")
	flag.StringVar(&o.registryBin, "registry-bin", "docker-registry", "registry:2 binary")
	flag.StringVar(&o.labopsBin, "labops", "", "labops binary (default: go build ./cmd/labops)")
	flag.IntVar(&o.workers, "workers", 0, "labops oci scan --workers (default: its own)")
	flag.IntVar(&o.runs, "runs", 2, "runs of each command (at least 2); the first warms the page cache, the median of the rest is reported")
	flag.IntVar(&o.sample, "verify-sample", 20, "repositories the real registry serves and labops oci check walks, to prove the tree is the registry's format")
	flag.Parse()
	if o.runs < 2 {
		fmt.Fprintln(os.Stderr, "oci-scan: -runs must be at least 2")
		os.Exit(2)
	}
	if err := bench(context.Background(), p, o); err != nil {
		fmt.Fprintln(os.Stderr, "oci-scan:", err)
		os.Exit(1)
	}
}

type options struct {
	data, registryBin, labopsBin string
	workers, sample, runs        int
}

func bench(ctx context.Context, p population, o options) error {
	work, err := os.MkdirTemp("", "oci-scan-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	root := o.data
	if root == "" {
		root = filepath.Join(work, "storage")
	}
	if o.labopsBin == "" {
		o.labopsBin = filepath.Join(work, "labops")
		if out, err := exec.Command("go", "build", "-o", o.labopsBin, "./cmd/labops").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/labops: %v\n%s", err, out)
		}
	}
	if o.registryBin, err = exec.LookPath(o.registryBin); err != nil {
		return fmt.Errorf("registry:2 binary: %w (install docker-registry)", err)
	}
	config := filepath.Join(work, "config.yml")
	port, err := freePort()
	if err != nil {
		return err
	}
	if err := os.WriteFile(config, fmt.Appendf(nil, "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:%d\n  secret: bench\nhealth:\n  storagedriver:\n    enabled: false\n", root, port), 0o644); err != nil {
		return err
	}

	start := time.Now()
	st, err := write(root, p)
	if err != nil {
		return fmt.Errorf("writing the tree: %w", err)
	}
	files, err := countFiles(root)
	if err != nil {
		return err
	}
	fmt.Printf("tree: %s: %d files; %d repositories, %d tags (every %d-th a 2-platform index), %d manifests, %d tags deleted through the API, %d images missing a layer; written in %s\n",
		root, files, p.repos, st.tags, p.indexEvery, st.manifests, st.deleted, len(st.damaged), time.Since(start).Round(time.Millisecond))
	if files < 100_000 {
		fmt.Printf("warning: fewer than 100,000 files; raise -repos or -tags\n")
	}

	if err := verify(ctx, o, config, port, p, st); err != nil {
		return fmt.Errorf("the real registry does not serve the tree as written: %w", err)
	}

	scanArgs := []string{"oci", "scan", root, "--json"}
	if o.workers > 0 {
		scanArgs = append(scanArgs, "--workers", fmt.Sprint(o.workers))
	}
	// Each command runs o.runs times, alternating, so that both see the
	// same machine; the first run of each only warms the page cache.
	var labopsTs, gcTs []timing
	var scanOut, gcOut []byte
	for range o.runs {
		t, out, err := timed(o.labopsBin, scanArgs...)
		if err != nil && !isExit(err, 1) {
			return fmt.Errorf("labops oci scan: %w", err)
		}
		labopsTs, scanOut = append(labopsTs, t), out
		t, out, err = timed(o.registryBin, "garbage-collect", "--dry-run", config)
		if err != nil {
			return fmt.Errorf("garbage-collect --dry-run: %w", err)
		}
		gcTs, gcOut = append(gcTs, t), out
	}
	labopsT, gcT := median(labopsTs[1:]), median(gcTs[1:])
	var rep struct {
		Status  string `json:"status"`
		Summary oci.ScanSummary
		Broken  []oci.BrokenImage     `json:"broken"`
		Unreach []oci.UnreachableBlob `json:"unreachable_blobs"`
	}
	if err := json.Unmarshal(scanOut, &rep); err != nil {
		return fmt.Errorf("labops oci scan --json: %w", err)
	}
	plan, err := oci.ParseGCOutput(gcOut)
	if err != nil {
		return err
	}
	var plainGC []string
	for _, u := range rep.Unreach {
		if u.PlainGC {
			plainGC = append(plainGC, u.Digest)
		}
	}
	slices.Sort(plainGC)
	gcBlobs := slices.Clone(plan.Blobs)
	slices.Sort(gcBlobs)
	agree := "the same blobs"
	if !slices.Equal(plainGC, gcBlobs) {
		agree = fmt.Sprintf("DIFFERENT blobs (labops %d, garbage-collect %d)", len(plainGC), len(gcBlobs))
	}
	var broken []string
	for _, b := range rep.Broken {
		broken = append(broken, b.Subject())
	}
	s := rep.Summary
	what := "the second run timed"
	if o.runs > 2 {
		what = fmt.Sprintf("the median of runs 2-%d", o.runs)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\nwarm times (each command run %d times on the same tree, alternating, %s; %d CPUs, load average %s):\n",
		o.runs, what, runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	fmt.Printf("                                         wall       CPU (user+sys)\n")
	fmt.Printf("  labops oci scan --json             %9s  %9s\n", labopsT.wall.Round(time.Millisecond), labopsT.cpu.Round(time.Millisecond))
	fmt.Printf("  garbage-collect --dry-run          %9s  %9s\n", gcT.wall.Round(time.Millisecond), gcT.cpu.Round(time.Millisecond))
	fmt.Printf("  ratio (garbage-collect / labops)   %8.1fx  %8.1fx\n", gcT.wall.Seconds()/labopsT.wall.Seconds(), gcT.cpu.Seconds()/labopsT.cpu.Seconds())
	fmt.Printf("\ngarbage-collect --dry-run reports: %d blobs marked, %d blobs and %d manifests eligible for deletion (no sizes, nothing about broken images, links or uploads)\n",
		plan.Marked, len(plan.Blobs), len(plan.Manifests))
	fmt.Printf("labops oci scan reports: status %s; %d repositories, %d tags, %d manifests, %d blobs;\n", rep.Status, s.Repositories, s.Tags, s.Manifests, s.Blobs)
	slices.Sort(st.damaged)
	fmt.Printf("  %d broken images, each with the layers it lost: %s (planted: %s)\n", s.BrokenImages, strings.Join(broken, ", "), strings.Join(st.damaged, ", "))
	fmt.Printf("  %d dangling links, %d invalid manifests, %d stale uploads (%d bytes)\n", s.DanglingLinks, s.InvalidManifests, s.StaleUploads, s.StaleUploadBytes)
	fmt.Printf("  %d unreachable blobs holding %d bytes; a plain garbage-collect frees %d blobs, %d bytes: %s as garbage-collect lists\n",
		s.UnreachableBlobs, s.ReclaimableBytes, s.PlainGCBlobs, s.PlainGCBytes, agree)
	return nil
}

// timing is one timed run: wall time and the CPU time (user + system)
// of the process.
type timing struct{ wall, cpu time.Duration }

// timed runs the command once and returns its times and standard output.
func timed(bin string, args ...string) (timing, []byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t := time.Now()
	err := cmd.Run()
	tm := timing{wall: time.Since(t)}
	if cmd.ProcessState != nil {
		tm.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil && !isExit(err, 1) {
		return tm, stdout.Bytes(), fmt.Errorf("%v: %s", err, tail(stderr.String()))
	}
	return tm, stdout.Bytes(), err
}

// median is the median wall time and the median CPU time.
func median(ts []timing) timing {
	walls := make([]time.Duration, len(ts))
	cpus := make([]time.Duration, len(ts))
	for i, t := range ts {
		walls[i], cpus[i] = t.wall, t.cpu
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	return timing{walls[len(ts)/2], cpus[len(ts)/2]}
}

func isExit(err error, code int) bool {
	ee, ok := err.(*exec.ExitError)
	return ok && ee.ExitCode() == code
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// verify serves the tree with the real registry and walks a sample of
// repositories (the damaged ones included) with labops' API check: every
// image whole except exactly the damaged ones, so the tree is in the
// registry's own format.
func verify(ctx context.Context, o options, config string, port int, p population, st stats) error {
	cmd := exec.Command(o.registryBin, "serve", config)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(url + "/v2/"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("registry did not start:\n%s", logs.String())
		}
	}
	reg, err := oci.ParseRegistry(url, true)
	if err != nil {
		return err
	}
	c, err := oci.NewClient(reg, oci.Options{})
	if err != nil {
		return err
	}
	var repos []string
	for r := range min(o.sample, p.repos) {
		repos = append(repos, fmt.Sprintf("bench/team%02d/app%03d", r%10, r))
	}
	rep := oci.Check(ctx, c, oci.CheckOptions{Repos: repos})
	var broken, want []string
	for _, b := range rep.Broken {
		broken = append(broken, b.Subject())
	}
	for _, d := range st.damaged {
		if slices.Contains(repos, strings.Split(d, ":")[0]) {
			want = append(want, d)
		}
	}
	slices.Sort(broken)
	slices.Sort(want)
	if rep.Error != "" || !slices.Equal(broken, want) {
		return fmt.Errorf("labops oci check of %d repositories: error %q, broken %v, want %v", len(repos), rep.Error, broken, want)
	}
	fmt.Printf("verified: the real registry serves %d repositories (%d tags) as written: labops oci check finds exactly the %d planted broken images among them\n",
		len(repos), rep.Summary.Tags, len(want))
	return nil
}
