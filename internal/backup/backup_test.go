package backup_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/labops/labops/internal/backup"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/labtest"
)

// weirdDB needs quoting in SQL and escaping as a directory name.
const weirdDB = `we'ird db-"1" ;x`

// testServer is a real server with a few databases of known content.
type testServer struct {
	spec ServerSpec
	// exec runs statements in db as the superuser.
	exec func(t *testing.T, db string, stmts ...string)
	kill func()
	// ident quotes an identifier for this server.
	ident func(string) string
	// dsn is a PostgreSQL connection URL for a (URL-escaped) database.
	dsn func(db string) string
}

type ServerSpec = backup.ServerSpec

func writePassword(t *testing.T, pw string) string {
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func startPostgres(t *testing.T) testServer {
	pg := labtest.StartPostgres(t)
	ts := testServer{
		spec: ServerSpec{Name: "pg", Type: backup.TypePostgres, Host: pg.Host, Port: pg.Port, User: pg.User,
			PasswordFile: writePassword(t, pg.Password), BinDir: pg.BinDir},
		kill:  pg.Kill,
		ident: func(s string) string { return pgx.Identifier{s}.Sanitize() },
		dsn:   pg.DSN,
	}
	ts.exec = func(t *testing.T, db string, stmts ...string) {
		t.Helper()
		c, err := pgx.Connect(t.Context(), pg.DSN(dbURL(db)))
		if err != nil {
			t.Fatalf("connecting to %q: %v", db, err)
		}
		defer c.Close(context.Background())
		for _, s := range stmts {
			if _, err := c.Exec(t.Context(), s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	return ts
}

func dbURL(db string) string {
	return strings.NewReplacer("%", "%25", "/", "%2F", "?", "%3F", "#", "%23", " ", "%20", `"`, "%22", "'", "%27", ";", "%3B").Replace(db)
}

func startMariaDB(t *testing.T) testServer {
	m := labtest.StartMariaDB(t)
	root := func(t *testing.T, db string) *sql.DB {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "root", "unix", m.Socket, db
		cfg.MultiStatements = true
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return sql.OpenDB(c)
	}
	pw := `pa"ss\word`
	ts := testServer{
		spec: ServerSpec{Name: "maria", Type: backup.TypeMySQL, Host: m.Host, Port: m.Port, User: "labops",
			PasswordFile: writePassword(t, pw)},
		kill:  m.Kill,
		ident: func(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" },
	}
	ts.exec = func(t *testing.T, db string, stmts ...string) {
		t.Helper()
		c := root(t, db)
		defer c.Close()
		for _, s := range stmts {
			if _, err := c.ExecContext(t.Context(), s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	ts.exec(t, "",
		"CREATE USER 'labops'@'127.0.0.1' IDENTIFIED BY 'pa\"ss\\\\word'",
		"GRANT ALL ON *.* TO 'labops'@'127.0.0.1' WITH GRANT OPTION")
	return ts
}

// seed creates app (two tables), shop (one) and weirdDB (one), with known
// row counts, and returns them as a manifest would record them.
func seed(t *testing.T, s testServer, pg bool) map[string]map[string]int64 {
	q := s.ident
	create := func(db string) {
		s.exec(t, "", "CREATE DATABASE "+q(db))
	}
	series := func(table string, n int) string {
		if pg {
			return fmt.Sprintf("INSERT INTO %s (id, name) SELECT i, md5(i::text) FROM generate_series(1, %d) i", q(table), n)
		}
		return fmt.Sprintf("INSERT INTO %s (id, name) SELECT seq, md5(seq) FROM seq_1_to_%d", q(table), n)
	}
	tbl := func(name string) string {
		return "CREATE TABLE " + q(name) + " (id int primary key, name text)"
	}
	for _, db := range []string{"app", "shop", weirdDB} {
		create(db)
	}
	s.exec(t, "app", tbl("users"), series("users", 100), tbl("orders"), series("orders", 50))
	s.exec(t, "shop", tbl("items"), series("items", 30))
	s.exec(t, weirdDB, tbl(`ta"b'le`), series(`ta"b'le`, 7))
	name := func(n string) string {
		if pg {
			return "public." + n
		}
		return n
	}
	return map[string]map[string]int64{
		"app":   {name("users"): 100, name("orders"): 50},
		"shop":  {name("items"): 30},
		weirdDB: {name(`ta"b'le`): 7},
	}
}

func TestBackupPostgres(t *testing.T) {
	t.Parallel()
	s := startPostgres(t)
	conformance(t, s, seed(t, s, true), true)
}

func TestBackupMariaDB(t *testing.T) {
	t.Parallel()
	s := startMariaDB(t)
	conformance(t, s, seed(t, s, false), false)
}

// day is the injected clock: noon UTC on the n-th day of the test.
func day(n int) func() time.Time {
	return func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, n) }
}

// conformance is the suite every driver passes, against a real server.
func conformance(t *testing.T, s testServer, want map[string]map[string]int64, pg bool) {
	root := t.TempDir()
	spec := backup.Spec{Root: root, Parallel: 2, Servers: []ServerSpec{s.spec}}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := backup.Options{Spec: spec, Now: day(0)}
	ctx := t.Context()

	rep := backup.Run(ctx, opts)
	if rep.Status != job.StatusOK {
		t.Fatalf("run: %s %+v", rep.Status, rep.Findings)
	}
	got := map[string]map[string]int64{}
	for _, d := range rep.Databases {
		m, err := backup.CheckDump(d.Path)
		if err != nil {
			t.Fatalf("%s: %v", d.Database, err)
		}
		got[d.Database] = m.Tables
		if m.ServerVersion == "" || m.ToolVersion == "" || m.Size == 0 {
			t.Errorf("%s: manifest lacks versions or size: %+v", d.Database, m)
		}
		if !strings.Contains(d.Path, backup.EscapeName(weirdDB)) && d.Database == weirdDB {
			t.Errorf("weird database dumped to %s", d.Path)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("databases and row counts dumped (-want +got):\n%s", diff)
	}
	dbs, err := backup.Databases(root, s.spec.Name)
	if err != nil || len(dbs) != 3 {
		t.Fatalf("databases under root: %q %v", dbs, err)
	}

	t.Run("verify", func(t *testing.T) {
		vr := backup.Verify(ctx, opts)
		if vr.Status != job.StatusOK || len(vr.Databases) != 3 {
			t.Fatalf("verify: %s %+v", vr.Status, vr)
		}
	})

	t.Run("sentinels", func(t *testing.T) {
		o := opts
		o.Spec.Verify.Sentinels = []backup.Sentinel{
			{Server: s.spec.Name, Database: "app", Query: "SELECT count(*) FROM users WHERE id > 90", Min: 10},
			{Server: s.spec.Name, Database: "shop", Query: "SELECT count(*) FROM items WHERE id > 90", Min: 1},
		}
		if err := o.Spec.Validate(); err != nil {
			t.Fatal(err)
		}
		vr := backup.Verify(ctx, o)
		assertOnlyShopFails(t, vr, "returned 0, want at least 1")
	})

	t.Run("restore", func(t *testing.T) {
		if _, err := backup.RestoreDB(ctx, opts, s.spec.Name, weirdDB, "restored "+weirdDB); err != nil {
			t.Fatal(err)
		}
		if _, err := backup.RestoreDB(ctx, opts, s.spec.Name, "app", "restored "+weirdDB); err == nil {
			t.Fatal("restore into an existing database: no error")
		}
	})

	// A second day's dumps, then damage the newest of shop two ways.
	opts.Now = day(1)
	if rep := backup.Run(ctx, opts); rep.Status != job.StatusOK {
		t.Fatalf("second run: %+v", rep.Findings)
	}
	shop, err := backup.Newest(root, s.spec.Name, "shop")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("corrupt byte caught by checksum", func(t *testing.T) {
		data, _ := os.ReadFile(shop.Path)
		orig := append([]byte(nil), data...)
		data[len(data)/2] ^= 0x20
		os.WriteFile(shop.Path, data, 0o600)
		defer os.WriteFile(shop.Path, orig, 0o600)
		if _, err := backup.CheckDump(shop.Path); !errors.Is(err, backup.ErrChecksum) {
			t.Fatalf("CheckDump of a flipped byte: %v", err)
		}
		vr := backup.Verify(ctx, opts)
		assertOnlyShopFails(t, vr, "checksum mismatch")
	})
	t.Run("truncated dump with a matching checksum caught by verify", func(t *testing.T) {
		orig, _ := os.ReadFile(shop.Path)
		origSum, _ := os.ReadFile(shop.Path + ".sha256")
		origMan, _ := os.ReadFile(shop.Path + ".json")
		defer func() {
			os.WriteFile(shop.Path, orig, 0o600)
			os.WriteFile(shop.Path+".sha256", origSum, 0o600)
			os.WriteFile(shop.Path+".json", origMan, 0o600)
		}()
		cut := orig[:len(orig)*2/3]
		if !pg {
			// Drop the INSERT: the SQL still runs, the rows are missing.
			var keep []string
			skipping := false
			for _, l := range strings.SplitAfter(string(orig), "\n") {
				if strings.HasPrefix(l, "INSERT INTO") {
					skipping = true
				}
				if !skipping {
					keep = append(keep, l)
				}
				if skipping && strings.HasSuffix(l, ";\n") {
					skipping = false
				}
			}
			cut = []byte(strings.Join(keep, ""))
		}
		forge(t, shop.Path, cut)
		vr := backup.Verify(ctx, opts)
		msg := "restoring"
		if !pg {
			msg = "rows after restore"
		}
		assertOnlyShopFails(t, vr, msg)
	})

	t.Run("retention over simulated days", func(t *testing.T) {
		o := opts
		o.Spec.Servers = []ServerSpec{s.spec}
		o.Spec.Servers[0].Include = []string{"app"}
		o.Spec.Retention = backup.RetentionSpec{Last: 2, Daily: 4, Weekly: 2}
		o.Prune = true
		for n := 2; n < 12; n++ {
			o.Now = day(n)
			if rep := backup.Run(ctx, o); rep.Status != job.StatusOK || len(rep.Databases) != 1 {
				t.Fatalf("day %d: %+v", n, rep)
			}
		}
		dumps, err := backup.ListDumps(filepath.Dir(shopDir(t, root, s, "app")))
		if err != nil {
			t.Fatal(err)
		}
		var days []string
		for _, d := range dumps {
			days = append(days, d.Time.Format("01-02"))
		}
		// Daily 4: 03-09..03-12 (last 2 among them). Weekly 2: the newest of
		// 2026-W11 (03-12, kept already) and of W10 (Sunday 03-08).
		if diff := cmp.Diff([]string{"03-08", "03-09", "03-10", "03-11", "03-12"}, days); diff != "" {
			t.Errorf("dumps kept (-want +got):\n%s", diff)
		}
		// shop was not in this job: untouched, both days still there.
		if sd, _ := backup.ListDumps(filepath.Dir(shopDir(t, root, s, "shop"))); len(sd) != 2 {
			t.Errorf("shop has %d dumps, want 2", len(sd))
		}
	})

	if !pg {
		t.Run("gzip", func(t *testing.T) {
			o := opts
			o.Spec.Servers = []ServerSpec{s.spec}
			o.Spec.Servers[0].Compress = "gzip"
			o.Now = day(15)
			if err := o.Spec.Validate(); err != nil {
				t.Fatal(err)
			}
			if rep := backup.Run(ctx, o); rep.Status != job.StatusOK {
				t.Fatalf("gzip run: %+v", rep.Findings)
			}
			n, err := backup.Newest(root, s.spec.Name, weirdDB)
			if err != nil || !strings.HasSuffix(n.Path, ".sql.gz") {
				t.Fatalf("newest of %q: %s %v", weirdDB, n.Path, err)
			}
			if vr := backup.Verify(ctx, o); vr.Status != job.StatusOK {
				t.Fatalf("verify of gzip dumps: %+v", vr)
			}
		})
	}

	t.Run("server killed mid-dump", func(t *testing.T) {
		s.exec(t, "", "CREATE DATABASE big")
		if pg {
			s.exec(t, "big", "CREATE TABLE t (id int, v text)",
				"INSERT INTO t SELECT i, md5(i::text) || md5((i*7)::text) FROM generate_series(1, 400000) i")
		} else {
			s.exec(t, "big", "CREATE TABLE t (id int, v text)",
				"INSERT INTO t SELECT seq, concat(md5(seq), md5(seq*7)) FROM seq_1_to_400000")
		}
		o := opts
		o.Spec.Servers = []ServerSpec{s.spec}
		o.Spec.Servers[0].Include = []string{"big"}
		o.Now = day(20)
		if rep := backup.Run(ctx, o); rep.Status != job.StatusOK {
			t.Fatalf("first dump of big: %+v", rep.Findings)
		}
		good, err := backup.Newest(root, s.spec.Name, "big")
		if err != nil {
			t.Fatal(err)
		}
		o.Now = day(21)
		o.Prune = true
		o.Spec.Retention = backup.RetentionSpec{Last: 1}
		o.NewDriver = func(sv ServerSpec) (backup.Driver, error) {
			d, err := backup.NewDriver(sv)
			return &killOnWrite{Driver: d, kill: s.kill}, err
		}
		rep := backup.Run(ctx, o)
		if rep.Status != job.StatusFailed || len(rep.Findings) != 1 || rep.Findings[0].Kind != "dump-failed" {
			t.Fatalf("run with the server killed mid-dump: %s %+v", rep.Status, rep.Findings)
		}
		t.Logf("the failure as reported: %s", rep.Findings[0].Message)
		if _, err := backup.CheckDump(good.Path); err != nil {
			t.Fatalf("the earlier good dump: %v", err)
		}
		ents, _ := os.ReadDir(filepath.Dir(good.Path))
		if len(ents) != 3 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Fatalf("left in the directory: %q, want the good dump, its sidecar and manifest only", names)
		}
	})
}

func shopDir(t *testing.T, root string, s testServer, db string) string {
	d, err := backup.Newest(root, s.spec.Name, db)
	if err != nil {
		t.Fatal(err)
	}
	return d.Path
}

// forge replaces a dump with data and rewrites its checksum and manifest
// to match: damage that only a restore can find.
func forge(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha(data)
	os.WriteFile(path+".sha256", []byte(sum+"  "+filepath.Base(path)+"\n"), 0o600)
	mb, _ := os.ReadFile(path + ".json")
	m, err := backup.ParseManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	m.SHA256, m.Size = sum, int64(len(data))
	mb, _ = m.Marshal()
	os.WriteFile(path+".json", mb, 0o600)
	if _, err := backup.CheckDump(path); err != nil {
		t.Fatalf("forged dump should pass its checksum: %v", err)
	}
}

func assertOnlyShopFails(t *testing.T, vr backup.VerifyReport, msg string) {
	t.Helper()
	if vr.Status != job.StatusFailed {
		t.Fatalf("verify status %s, want failed", vr.Status)
	}
	for _, d := range vr.Databases {
		if d.Database == "shop" {
			if d.Verified || !strings.Contains(strings.Join(d.Problems, "; "), msg) {
				t.Errorf("shop: verified=%v problems %q, want one containing %q", d.Verified, d.Problems, msg)
			}
			continue
		}
		if !d.Verified {
			t.Errorf("%s not verified: %q", d.Database, d.Problems)
		}
	}
}

// killOnWrite kills the server when the dump tool first writes: truly
// mid-dump. The table is large (about 30 MB) so that more of it is still
// on the server than loopback socket buffers can hold in flight.
type killOnWrite struct {
	backup.Driver
	kill func()
	once sync.Once
}

func (k *killOnWrite) Dump(ctx context.Context, db string, w io.Writer) (map[string]int64, error) {
	return k.Driver.Dump(ctx, db, writerFunc(func(p []byte) (int, error) {
		k.once.Do(k.kill)
		return w.Write(p)
	}))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
