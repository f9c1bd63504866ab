package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/labops/labops/internal/labtest"
)

// benchPostgres races a shell loop of pg_dump -Fc against labops backup
// run on a throwaway PostgreSQL 15, stopped when it returns.
func benchPostgres(ctx context.Context, tb *commandTB, o options, work string) error {
	pg := labtest.StartPostgres(tb)
	defer pg.Stop()
	dbs, bytes, err := seedPostgres(ctx, pg, o)
	if err != nil {
		return err
	}
	fmt.Printf("PostgreSQL 15 on %s: %d databases, %d rows each, %.0f MB of table and index in all\n",
		pg.Addr(), len(dbs), o.rows, float64(bytes)/1e6)

	pwfile := filepath.Join(work, "pw")
	pgpass := filepath.Join(work, "pgpass")
	if err := os.WriteFile(pwfile, []byte(pg.Password+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(pgpass, []byte("*:*:*:*:"+pg.Password+"\n"), 0o600); err != nil {
		return err
	}
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
`, filepath.Join(work, "dumps"), parallel, pg.Host, pg.Port, pg.User, pwfile, pg.BinDir)), 0o600)
		return p
	}
	loop := fmt.Sprintf(`set -e; mkdir -p %[1]s; for db in %[2]s; do %[3]s/pg_dump -Fc -f %[1]s/$db.pgdump "dbname=$db"; done`,
		filepath.Join(work, "dumps"), strings.Join(dbs, " "), pg.BinDir)
	env := append(os.Environ(), "PGHOST="+pg.Host, "PGPORT="+strconv.Itoa(pg.Port), "PGUSER="+pg.User, "PGPASSFILE="+pgpass)

	return race(o, work, [3]contender{
		{"shell loop of pg_dump -Fc", func() *exec.Cmd { c := exec.Command("bash", "-c", loop); c.Env = env; return c }},
		labopsRun(o, config, 1),
		labopsRun(o, config, o.parallel),
	})
}

func seedPostgres(ctx context.Context, pg *labtest.Postgres, o options) ([]string, int64, error) {
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
