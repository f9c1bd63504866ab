package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/labops/labops/internal/labtest"
)

func TestBackupCommandsPostgres(t *testing.T) {
	t.Parallel()
	pg := labtest.StartPostgres(t)
	c, err := pgx.Connect(t.Context(), pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"CREATE DATABASE app", "CREATE DATABASE scratch_tmp"} {
		if _, err := c.Exec(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	c.Close(context.Background())
	c, err = pgx.Connect(t.Context(), pg.DSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(t.Context(), "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 42)"); err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())

	pwDir := t.TempDir()
	pwFile := filepath.Join(pwDir, "pg.pw")
	os.WriteFile(pwFile, []byte(pg.Password+"\n"), 0o600)
	root := filepath.Join(t.TempDir(), "dumps")
	dir, cfg := writeConfig(t, fmt.Sprintf(`jobs:
  - name: db-backup
    kind: backup
    schedule: "15 2 * * *"
    spec:
      root: %s
      servers:
        - name: pg
          type: postgres
          host: %s
          port: %d
          user: %s
          password_file: %s
          bin_dir: %s
          exclude: ["scratch_*"]
      retention: {last: 2}
`, root, pg.Host, pg.Port, pg.User, pwFile, pg.BinDir))
	ctx := t.Context()

	code, out, errs := run(t, ctx, dir, nil, "backup", "run", "--config", cfg)
	if code != 0 || !strings.Contains(out, "ok      pg/app") || strings.Contains(out, "scratch_tmp") {
		t.Fatalf("backup run: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(t, ctx, dir, nil, "run", "db-backup", "--config", cfg)
	if code != 0 {
		t.Fatalf("run db-backup: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(t, ctx, dir, nil, "backup", "list", "--json", "--config", cfg)
	var list []struct {
		Database string
		Dumps    []json.RawMessage
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 1 || list[0].Database != "app" || len(list[0].Dumps) < 1 {
		t.Fatalf("backup list: exit %d %v\n%s\n%s", code, err, out, errs)
	}
	code, out, errs = run(t, ctx, dir, nil, "backup", "verify", "--config", cfg)
	if code != 0 || !strings.Contains(out, "verified  pg/app") {
		t.Fatalf("backup verify: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs = run(t, ctx, dir, nil, "backup", "restore", "app", "--config", cfg); code != ExitUsage {
		t.Fatalf("restore without --to: exit %d, want 2\n%s", code, errs)
	}
	code, out, errs = run(t, ctx, dir, nil, "backup", "restore", "app", "--to", "app copy", "--config", cfg)
	if code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("backup restore: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, _ = run(t, ctx, dir, nil, "backup", "restore", "app", "--to", "app", "--config", cfg); code != ExitFailed {
		t.Fatalf("restore over an existing database: exit %d, want 1", code)
	}
	c, err = pgx.Connect(t.Context(), pg.DSN("app%20copy"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 42 {
		t.Fatalf("restored rows: %d %v", n, err)
	}
}

func TestBackupConfigProblems(t *testing.T) {
	t.Parallel()
	dir, cfg := writeConfig(t, `jobs:
  - name: db-backup
    kind: backup
    schedule: "15 2 * * *"
    spec:
      servers:
        - {name: pg, type: oracle, user: x}
`)
	code, _, errs := run(t, t.Context(), dir, nil, "backup", "run", "--config", cfg)
	for _, want := range []string{"spec.root: required", "spec.servers[0].type: \"oracle\" is not a server type", "spec.servers[0].host: required"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if code != ExitUsage {
		t.Errorf("exit %d, want 2", code)
	}
}
