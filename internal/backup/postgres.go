package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgres dumps with pg_dump -Fc inside a snapshot exported by the
// connection that counts the rows, so the counts are exactly the dump's.
type postgres struct {
	sv       ServerSpec
	password string
	dir      string // holds the pgpass file
	passfile string
	pgDump   string
	pgRest   string
}

var _ Driver = (*postgres)(nil)

// Debian's postgresql-15 keeps its tools off PATH.
const debianPostgresBin = "/usr/lib/postgresql/15/bin"

func newPostgres(sv ServerSpec, pw string) (*postgres, error) {
	p := &postgres{sv: sv, password: pw}
	dirs := []string{sv.BinDir, debianPostgresBin}
	var err error
	if p.pgDump, err = findTool(dirs, "pg_dump"); err != nil {
		return nil, err
	}
	if p.pgRest, err = findTool(dirs, "pg_restore"); err != nil {
		return nil, err
	}
	if p.dir, err = os.MkdirTemp("", "labops-pgpass-"); err != nil {
		return nil, err
	}
	p.passfile = filepath.Join(p.dir, "pgpass")
	// *:*:*:*:password, with \ and : escaped as libpq expects.
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(pw)
	if err := os.WriteFile(p.passfile, []byte("*:*:*:*:"+esc+"\n"), 0o600); err != nil {
		os.RemoveAll(p.dir)
		return nil, err
	}
	return p, nil
}

func (p *postgres) Close() error { return os.RemoveAll(p.dir) }

func (p *postgres) Ext() string { return "pgdump" }

func (p *postgres) port() int {
	if p.sv.Port == 0 {
		return 5432
	}
	return p.sv.Port
}

func (p *postgres) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = p.sv.Host, uint16(p.port()), p.sv.User, p.password, db
	cfg.ConnectTimeout = 10 * time.Second
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s database %q: %w", p.sv.Name, db, err)
	}
	return c, nil
}

// conninfo is a libpq connection string naming only db, quoted so that
// any name (spaces, quotes, a leading dash, '=') stays one database name.
func conninfo(db string) string {
	return "dbname='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(db) + "'"
}

func (p *postgres) env() []string {
	return append(os.Environ(),
		"PGHOST="+p.sv.Host, "PGPORT="+strconv.Itoa(p.port()), "PGUSER="+p.sv.User,
		"PGPASSFILE="+p.passfile, "PGSSLMODE=prefer", "PGCONNECT_TIMEOUT=10", "PGAPPNAME=labops")
}

func (p *postgres) Info(ctx context.Context) (ServerInfo, error) {
	c, err := p.connect(ctx, "postgres")
	if err != nil {
		return ServerInfo{}, err
	}
	defer c.Close(ctx)
	var v string
	if err := c.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return ServerInfo{}, fmt.Errorf("server %s version: %w", p.sv.Name, err)
	}
	out, err := exec.CommandContext(ctx, p.pgDump, "--version").Output()
	if err != nil {
		return ServerInfo{}, fmt.Errorf("%s --version: %w", p.pgDump, err)
	}
	return ServerInfo{Flavor: "postgres", ServerVersion: v, Tool: "pg_dump", ToolVersion: strings.TrimSpace(string(out))}, nil
}

func (p *postgres) Databases(ctx context.Context) ([]string, error) {
	c, err := p.connect(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname")
	if err != nil {
		return nil, fmt.Errorf("listing databases of %s: %w", p.sv.Name, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing databases of %s: %w", p.sv.Name, err)
	}
	var out []string
	for _, n := range names {
		if p.sv.selected(n, n == "postgres") {
			out = append(out, n)
		}
	}
	return out, nil
}

const pgTablesQuery = `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1, 2`

func pgCount(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}) (map[string]int64, error) {
	rows, err := q.Query(ctx, pgTablesQuery)
	if err != nil {
		return nil, err
	}
	type tbl struct{ s, n string }
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tbl, error) {
		var t tbl
		return t, r.Scan(&t.s, &t.n)
	})
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range ts {
		var n int64
		if err := q.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t.s, t.n}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("counting %s.%s: %w", t.s, t.n, err)
		}
		out[t.s+"."+t.n] = n
	}
	return out, nil
}

func (p *postgres) Tables(ctx context.Context, db string) (map[string]int64, error) {
	c, err := p.connect(ctx, db)
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	return pgCount(ctx, c)
}

func (p *postgres) Dump(ctx context.Context, db string, w io.Writer) (map[string]int64, error) {
	c, err := p.connect(ctx, db)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("snapshot of %q: %w", db, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var snap string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snap); err != nil {
		return nil, fmt.Errorf("exporting snapshot of %q: %w", db, err)
	}
	counts, err := pgCount(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("counting rows of %q: %w", db, err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, p.pgDump, "--format=custom", "--snapshot="+snap, "--dbname="+conninfo(db))
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env(), w, &stderr
	if err := cmd.Run(); err != nil {
		return nil, toolError(p.pgDump, err, stderr.String())
	}
	return counts, nil
}

func (p *postgres) Create(ctx context.Context, db string) error {
	c, err := p.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return fmt.Errorf("creating database %q on %s: %w", db, p.sv.Name, err)
	}
	return nil
}

func (p *postgres) Drop(ctx context.Context, db string) error {
	c, err := p.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("dropping database %q on %s: %w", db, p.sv.Name, err)
	}
	return nil
}

func (p *postgres) Restore(ctx context.Context, file, db string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, p.pgRest, "--exit-on-error", "--no-owner", "--no-privileges", "--dbname="+conninfo(db), file)
	cmd.Env, cmd.Stderr = p.env(), &stderr
	if err := cmd.Run(); err != nil {
		return toolError(p.pgRest, err, stderr.String())
	}
	return p.restoreProperties(ctx, file, db)
}

func (p *postgres) QueryInt(ctx context.Context, db, query string) (int64, error) {
	c, err := p.connect(ctx, db)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int64
	err = c.QueryRow(ctx, query).Scan(&n)
	return n, err
}
