// Command backup benchmarks `labops backup run` against the same dumps run
// one after another by a shell loop of the server's own dump tool, on a
// throwaway PostgreSQL 15 (pg_dump -Fc), a throwaway MariaDB 10.11
// (mariadb-dump --single-transaction) or both, each with 8 databases of
// about 100 MB in all: labops' overhead over the dump tool's own time
// (labops with parallel 1 against the loop) and its gain from parallelism
// (parallel N against the loop). See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

func main() {
	var o options
	flag.IntVar(&o.dbs, "dbs", 8, "databases")
	flag.IntVar(&o.rows, "rows", 75000, "rows per database (about 130 bytes each on disk)")
	flag.IntVar(&o.parallel, "parallel", 4, "labops backup run's parallelism for the parallel run")
	flag.IntVar(&o.runs, "runs", 2, "runs of each (at least 2): the first warms the caches, the median of the rest is reported")
	flag.StringVar(&o.labopsBin, "labops", "", "labops binary (default: go build ./cmd/labops)")
	engine := flag.String("engine", "both", "servers to benchmark: postgres, mariadb or both (one after the other)")
	flag.Parse()
	if o.runs < 2 {
		fmt.Fprintln(os.Stderr, "backup: -runs must be at least 2")
		os.Exit(2)
	}
	engines := map[string][]string{"postgres": {"postgres"}, "mariadb": {"mariadb"}, "both": {"postgres", "mariadb"}}[*engine]
	if engines == nil {
		fmt.Fprintf(os.Stderr, "backup: -engine %q: want postgres, mariadb or both\n", *engine)
		os.Exit(2)
	}
	tb := &commandTB{}
	code := 0
	func() {
		defer tb.cleanup()
		if err := bench(context.Background(), tb, o, engines); err != nil {
			fmt.Fprintln(os.Stderr, "backup:", err)
			code = 1
		}
	}()
	os.Exit(code)
}

type options struct {
	dbs, rows, parallel, runs int
	labopsBin                 string
}

// benchers run one engine's half: start the server, seed it, race.
var benchers = map[string]func(context.Context, *commandTB, options, string) error{
	"postgres": benchPostgres,
	"mariadb":  benchMariaDB,
}

func bench(ctx context.Context, tb *commandTB, o options, engines []string) error {
	work, err := os.MkdirTemp("", "backup-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.labopsBin == "" {
		o.labopsBin = filepath.Join(work, "labops")
		if out, err := exec.Command("go", "build", "-o", o.labopsBin, "./cmd/labops").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/labops: %v\n%s", err, out)
		}
	}
	for i, e := range engines {
		if i > 0 {
			fmt.Println()
		}
		dir := filepath.Join(work, e)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		if err := benchers[e](ctx, tb, o, dir); err != nil {
			return fmt.Errorf("%s: %w", e, err)
		}
	}
	return nil
}

// contender is one way of dumping every database into work/dumps.
type contender struct {
	name string
	cmd  func() *exec.Cmd
}

// labopsRun runs labops backup run with the config written for parallel.
func labopsRun(o options, config func(parallel int) string, parallel int) contender {
	return contender{fmt.Sprintf("labops backup run, parallel %d", parallel), func() *exec.Cmd {
		return exec.Command(o.labopsBin, "backup", "run", "--config", config(parallel), "--log-level", "warn")
	}}
}

// race runs the contenders (the loop, labops parallel 1, labops parallel
// N) o.runs times each, alternating so that drift hits all alike, each
// into an empty work/dumps, and prints the medians of all runs but the
// first (which warms the caches), the two ratios and the load average.
func race(o options, work string, cs [3]contender) error {
	dumps := filepath.Join(work, "dumps")
	times := make([][]time.Duration, len(cs))
	sizes := make([]int64, len(cs))
	for r := 0; r < o.runs; r++ {
		for i, c := range cs {
			if err := os.RemoveAll(dumps); err != nil {
				return err
			}
			cmd := c.cmd()
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v\n%s", c.name, err, out)
			}
			times[i] = append(times[i], time.Since(start))
			if sizes[i], err = dirSize(dumps); err != nil {
				return err
			}
		}
	}
	width := 0
	for _, c := range cs {
		width = max(width, len(c.name))
	}
	med := make([]time.Duration, len(cs))
	for i := range cs {
		rest := slices.Clone(times[i][1:])
		slices.Sort(rest)
		med[i] = rest[len(rest)/2]
		fmt.Printf("%-*s %8.2fs   %5.1f MB of dumps  (runs: %v)\n", width, cs[i].name, med[i].Seconds(), float64(sizes[i])/1e6, roundAll(times[i]))
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("labops overhead over the dump tool (parallel 1 / loop): %.2fx\n", med[1].Seconds()/med[0].Seconds())
	fmt.Printf("labops gain from parallelism (loop / parallel %d):     %.2fx  on %d CPUs, load %s",
		o.parallel, med[0].Seconds()/med[2].Seconds(), runtime.NumCPU(), load)
	return nil
}

// dirSize is the bytes of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		n += fi.Size()
		return err
	})
	return n, err
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// commandTB lets labtest start servers for a command rather than a test:
// a failure ends the command, cleanups run when it returns. labtest calls
// only the methods defined here; the embedded nil TB satisfies the rest.
type commandTB struct {
	testing.TB
	cleanups []func()
}

func (t *commandTB) Helper()                      {}
func (t *commandTB) Cleanup(f func())             { t.cleanups = append(t.cleanups, f) }
func (t *commandTB) Logf(string, ...any)          {}
func (t *commandTB) Fatal(args ...any)            { t.fail(fmt.Sprint(args...)) }
func (t *commandTB) Fatalf(f string, args ...any) { t.fail(fmt.Sprintf(f, args...)) }
func (t *commandTB) Skip(args ...any)             { t.fail(fmt.Sprint(args...)) }
func (t *commandTB) fail(msg string) {
	fmt.Fprintln(os.Stderr, "backup:", msg)
	t.cleanup()
	os.Exit(1)
}

func (t *commandTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}
