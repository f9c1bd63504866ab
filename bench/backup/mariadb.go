package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/labops/labops/internal/labtest"
)

// mariadbDumpFlags are the flags labops' mysql driver passes mariadb-dump
// (internal/backup/mysql.go) after --defaults-extra-file, so that the loop
// dumps the same things the same way.
const mariadbDumpFlags = "--single-transaction --quick --routines --triggers --events --hex-blob --default-character-set=utf8mb4"

// benchMariaDB races a shell loop of mariadb-dump --single-transaction
// against labops backup run on a throwaway MariaDB 10.11, stopped when it
// returns. Both log in over TCP as a backup user with a password, which
// each reads from a 0600 --defaults-extra-file, never from argv.
func benchMariaDB(ctx context.Context, tb *commandTB, o options, work string) error {
	m := labtest.StartMariaDB(tb)
	defer m.Stop()
	pw := "bench-" + rand.Text()
	dbs, bytes, version, err := seedMariaDB(ctx, m, o, pw)
	if err != nil {
		return err
	}
	fmt.Printf("MariaDB %s on %s: %d databases, %d rows each, %.0f MB of table and index in all\n",
		version, m.Addr(), len(dbs), o.rows, float64(bytes)/1e6)

	pwfile := filepath.Join(work, "pw")
	if err := os.WriteFile(pwfile, []byte(pw+"\n"), 0o600); err != nil {
		return err
	}
	// The loop's option file, as a CronJob would mount it: what labops
	// writes to its own temp file from password_file.
	optfile := filepath.Join(work, "client.cnf")
	opt := fmt.Sprintf("[client]\nuser=\"labops\"\npassword=\"%s\"\nhost=%s\nport=%d\nprotocol=TCP\n", pw, m.Host, m.Port)
	if err := os.WriteFile(optfile, []byte(opt), 0o600); err != nil {
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
        - {name: maria, type: mysql, host: %s, port: %d, user: labops, password_file: %s}
`, filepath.Join(work, "dumps"), parallel, m.Host, m.Port, pwfile)), 0o600)
		return p
	}
	loop := fmt.Sprintf(`set -e; mkdir -p %[1]s; for db in %[2]s; do mariadb-dump --defaults-extra-file=%[3]s %[4]s -- "$db" >%[1]s/$db.sql; done`,
		filepath.Join(work, "dumps"), strings.Join(dbs, " "), optfile, mariadbDumpFlags)

	return race(o, work, [3]contender{
		{"shell loop of mariadb-dump --single-transaction", func() *exec.Cmd { return exec.Command("bash", "-c", loop) }},
		labopsRun(o, config, 1),
		labopsRun(o, config, o.parallel),
	})
}

// seedMariaDB creates the backup user (over the root socket, as
// internal/backup's tests do) and the databases, each with the same table
// and rows as seedPostgres, and returns their names, their size on disk
// as InnoDB reports it, and the server version.
func seedMariaDB(ctx context.Context, m *labtest.MariaDB, o options, pw string) ([]string, int64, string, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.InterpolateParams = "root", "unix", m.Socket, true
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, 0, "", err
	}
	root := sql.OpenDB(c)
	defer root.Close()
	run := func(q string, args ...any) error {
		if _, err := root.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		return nil
	}
	// What mariadb-dump needs for --single-transaction with routines,
	// triggers and events, and labops for counting rows: no write.
	if err := run("CREATE USER 'labops'@'127.0.0.1' IDENTIFIED BY ?", pw); err != nil {
		return nil, 0, "", err
	}
	if err := run("GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, PROCESS ON *.* TO 'labops'@'127.0.0.1'"); err != nil {
		return nil, 0, "", err
	}
	var dbs []string
	for i := 0; i < o.dbs; i++ {
		db := fmt.Sprintf("app%02d", i)
		for _, q := range []string{
			"CREATE DATABASE " + db,
			"CREATE TABLE " + db + ".t (id int PRIMARY KEY, a text, b text)",
			fmt.Sprintf("INSERT INTO %s.t SELECT seq, CONCAT(md5(seq), md5(seq+%d)), md5(seq*3) FROM %s.seq_1_to_%d", db, i, db, o.rows),
			"ANALYZE TABLE " + db + ".t", // for data_length below
		} {
			if err := run(q); err != nil {
				return nil, 0, "", err
			}
		}
		dbs = append(dbs, db)
	}
	var total int64
	var version string
	err = root.QueryRowContext(ctx, "SELECT SUM(data_length + index_length), VERSION() FROM information_schema.tables WHERE table_schema LIKE 'app%'").Scan(&total, &version)
	return dbs, total, version, err
}
