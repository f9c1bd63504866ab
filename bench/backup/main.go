// Command backup benchmarks `labops backup run` against the same dumps run
// one after another by a shell loop of pg_dump -Fc, on one throwaway
// PostgreSQL 15 with 8 databases of about 100 MB in all, in the same run:
// labops' overhead over the dump tool's own time (labops with parallel 1
// against the loop) and its gain from parallelism (parallel N against the
// loop). See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/labops/labops/internal/labtest"
)

func main() {
	var o options
	flag.IntVar(&o.dbs, "dbs", 8, "databases")
	flag.IntVar(&o.rows, "rows", 75000, "rows per database (about 130 bytes each on disk)")
	flag.IntVar(&o.parallel, "parallel", 4, "labops backup run's parallelism for the parallel run")
	flag.IntVar(&o.runs, "runs", 2, "runs of each (at least 2): the first warms the caches, the median of the rest is reported")
	flag.StringVar(&o.labopsBin, "labops", "", "labops binary (default: go build ./cmd/labops)")
	flag.Parse()
	if o.runs < 2 {
		fmt.Fprintln(os.Stderr, "backup: -runs must be at least 2")
		os.Exit(2)
	}
	tb := &commandTB{}
	code := 0
	func() {
		defer tb.cleanup()
		if err := bench(context.Background(), tb, o); err != nil {
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

func bench(ctx context.Context, tb *commandTB, o options) error {
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
	pg := labtest.StartPostgres(tb)
	dbs, bytes, err := seed(ctx, pg, o)
	if err != nil {
		return err
	}
	fmt.Printf("PostgreSQL 15 on %s: %d databases, %d rows each, %.0f MB of table and index in all\n",
		pg.Addr(), len(dbs), o.rows, float64(bytes)/1e6)

	pwfile := filepath.Join(work, "pw")
	os.WriteFile(pwfile, []byte(pg.Password+"\n"), 0o600)
	pgpass := filepath.Join(work, "pgpass")
	os.WriteFile(pgpass, []byte("*:*:*:*:"+pg.Password+"\n"), 0o600)
	config := func(parallel int) string {
		p := filepath.Join(work, fmt.Sprintf("labops-%d.yaml", parallel))
		os.WriteFile(p, []byte(fmt.Sprintf(`jobs:
  - name: db-backup
    kind: backup
    spec:
      root: %s
      parallel: %d
      servers:
        - {name: pg, type: postgres, host: %s, port: %d, user: %s, password_file: %s, bin_dir: %s}
`, filepath.Join(work, "labops-dumps"), parallel, pg.Host, pg.Port, pg.User, pwfile, pg.BinDir)), 0o600)
		return p
	}
	loop := fmt.Sprintf(`set -e; mkdir -p %[1]s; for db in %[2]s; do %[3]s/pg_dump -Fc -f %[1]s/$db.pgdump "dbname=$db"; done`,
		filepath.Join(work, "loop-dumps"), strings.Join(dbs, " "), pg.BinDir)
	env := append(os.Environ(), "PGHOST="+pg.Host, "PGPORT="+strconv.Itoa(pg.Port), "PGUSER="+pg.User, "PGPASSFILE="+pgpass)

	type contender struct {
		name string
		cmd  func() *exec.Cmd
	}
	contenders := []contender{
		{"shell loop of pg_dump -Fc", func() *exec.Cmd { c := exec.Command("bash", "-c", loop); c.Env = env; return c }},
		{"labops backup run, parallel 1", func() *exec.Cmd {
			return exec.Command(o.labopsBin, "backup", "run", "--config", config(1), "--log-level", "warn")
		}},
		{fmt.Sprintf("labops backup run, parallel %d", o.parallel), func() *exec.Cmd {
			return exec.Command(o.labopsBin, "backup", "run", "--config", config(o.parallel), "--log-level", "warn")
		}},
	}
	times := make([][]time.Duration, len(contenders))
	for r := 0; r < o.runs; r++ {
		for i, c := range contenders { // alternating, so that drift hits all alike
			os.RemoveAll(filepath.Join(work, "labops-dumps"))
			os.RemoveAll(filepath.Join(work, "loop-dumps"))
			cmd := c.cmd()
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v\n%s", c.name, err, out)
			}
			times[i] = append(times[i], time.Since(start))
		}
	}
	med := make([]time.Duration, len(contenders))
	for i := range contenders {
		rest := slices.Clone(times[i][1:])
		slices.Sort(rest)
		med[i] = rest[len(rest)/2]
		fmt.Printf("%-34s %8.2fs   (runs: %v)\n", contenders[i].name, med[i].Seconds(), times[i])
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("labops overhead over the dump tool (parallel 1 / loop): %.2fx\n", med[1].Seconds()/med[0].Seconds())
	fmt.Printf("labops gain from parallelism (loop / parallel %d):     %.2fx  on %d CPUs, load %s",
		o.parallel, med[0].Seconds()/med[2].Seconds(), runtime.NumCPU(), load)
	return nil
}

func seed(ctx context.Context, pg *labtest.Postgres, o options) ([]string, int64, error) {
	c, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return nil, 0, err
	}
	defer c.Close(ctx)
	var dbs []string
	var total int64
	for i := 0; i < o.dbs; i++ {
		db := fmt.Sprintf("app%02d", i)
		if _, err := c.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			return nil, 0, err
		}
		d, err := pgx.Connect(ctx, pg.DSN(db))
		if err != nil {
			return nil, 0, err
		}
		_, err = d.Exec(ctx, fmt.Sprintf(`CREATE TABLE t (id int PRIMARY KEY, a text, b text);
INSERT INTO t SELECT i, md5(i::text) || md5((i+%d)::text), md5((i*3)::text) FROM generate_series(1, %d) i`, i, o.rows))
		if err != nil {
			d.Close(ctx)
			return nil, 0, err
		}
		var n int64
		err = d.QueryRow(ctx, "SELECT pg_total_relation_size('t')").Scan(&n)
		d.Close(ctx)
		if err != nil {
			return nil, 0, err
		}
		total += n
		dbs = append(dbs, db)
	}
	return dbs, total, nil
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
