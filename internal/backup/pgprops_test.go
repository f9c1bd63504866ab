package backup_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/labops/labops/internal/backup"
	"github.com/labops/labops/internal/job"
)

// A database restored under another name keeps its own settings and
// comment (pg_restore replays them only with --create, under the old name).
func TestPostgresRestoreKeepsDatabaseSettings(t *testing.T) {
	t.Parallel()
	s := startPostgres(t)
	q := s.ident
	s.exec(t, "", "CREATE DATABASE "+q(weirdDB),
		"ALTER DATABASE "+q(weirdDB)+" SET search_path TO app, public",
		"ALTER DATABASE "+q(weirdDB)+" SET statement_timeout TO '5s'",
		"COMMENT ON DATABASE "+q(weirdDB)+" IS 'it''s the \"weird\" one;\nsecond line'")
	s.exec(t, weirdDB, "CREATE SCHEMA app", "CREATE TABLE app.t (id int primary key)", "INSERT INTO app.t VALUES (1), (2)")
	root := t.TempDir()
	spec := backup.Spec{Root: root, Servers: []ServerSpec{s.spec}}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := backup.Options{Spec: spec, Now: day(0)}
	if rep := backup.Run(t.Context(), opts); rep.Status != job.StatusOK {
		t.Fatalf("run: %+v", rep.Findings)
	}
	const to = `restored "db" it's`
	if _, err := backup.RestoreDB(t.Context(), opts, s.spec.Name, weirdDB, to); err != nil {
		t.Fatal(err)
	}
	settings, comment := dbSettings(t, s, to)
	if diff := cmp.Diff([]string{"search_path=app, public", "statement_timeout=5s"}, settings); diff != "" {
		t.Errorf("settings of the restored database (-want +got):\n%s", diff)
	}
	if want := "it's the \"weird\" one;\nsecond line"; comment != want {
		t.Errorf("comment %q, want %q", comment, want)
	}
	// The original keeps its own, untouched.
	if settings, _ := dbSettings(t, s, weirdDB); len(settings) != 2 {
		t.Errorf("the original's settings changed: %q", settings)
	}
	// Unqualified names resolve through the restored search_path.
	var n int
	connectAs(t, s, to, func(c *pgx.Conn) {
		if err := c.QueryRow(t.Context(), "SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
			t.Errorf("SELECT count(*) FROM t in the restored database: %d, %v", n, err)
		}
	})
	if vr := backup.Verify(t.Context(), opts); vr.Status != job.StatusOK {
		t.Errorf("verify: %+v", vr.Findings)
	}
}

func dbSettings(t *testing.T, s testServer, db string) (settings []string, comment string) {
	t.Helper()
	connectAs(t, s, "postgres", func(c *pgx.Conn) {
		err := c.QueryRow(t.Context(), `SELECT coalesce((SELECT setconfig FROM pg_db_role_setting WHERE setdatabase = d.oid AND setrole = 0), '{}'),
			coalesce(shobj_description(d.oid, 'pg_database'), '') FROM pg_database d WHERE datname = $1`, db).Scan(&settings, &comment)
		if err != nil {
			t.Fatalf("settings of %q: %v", db, err)
		}
	})
	return settings, comment
}

func connectAs(t *testing.T, s testServer, db string, f func(*pgx.Conn)) {
	t.Helper()
	c, err := pgx.Connect(t.Context(), s.dsn(dbURL(db)))
	if err != nil {
		t.Fatalf("connecting to %q: %v", db, err)
	}
	defer c.Close(context.Background())
	f(c)
}
