package backup

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mysqlDriver dumps MySQL and MariaDB with the server's own dump tool
// (mariadb-dump for MariaDB, mysqldump for MySQL), passing only flags that
// tool accepts: MariaDB's rejects --set-gtid-purged.
type mysqlDriver struct {
	sv       ServerSpec
	password string
	dir      string
	optfile  string // 0600 [client] file for --defaults-extra-file
	db       *sql.DB
	flavor   string // mariadb or mysql, once Info ran
}

var _ Driver = (*mysqlDriver)(nil)

var mysqlSystem = map[string]bool{"information_schema": true, "performance_schema": true, "mysql": true, "sys": true}

func newMySQL(sv ServerSpec, pw string) (*mysqlDriver, error) {
	m := &mysqlDriver{sv: sv, password: pw}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = sv.User, pw, "tcp", net.JoinHostPort(sv.Host, strconv.Itoa(m.port()))
	cfg.Timeout, cfg.ParseTime = 10*time.Second, true
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	m.db = sql.OpenDB(c)
	if m.dir, err = os.MkdirTemp("", "labops-mycnf-"); err != nil {
		return nil, err
	}
	m.optfile = filepath.Join(m.dir, "client.cnf")
	q := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	opt := fmt.Sprintf("[client]\nuser=\"%s\"\npassword=\"%s\"\nhost=%s\nport=%d\nprotocol=TCP\n",
		q.Replace(sv.User), q.Replace(pw), sv.Host, m.port())
	if err := os.WriteFile(m.optfile, []byte(opt), 0o600); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *mysqlDriver) port() int {
	if m.sv.Port == 0 {
		return 3306
	}
	return m.sv.Port
}

func (m *mysqlDriver) Close() error {
	m.db.Close()
	return os.RemoveAll(m.dir)
}

func (m *mysqlDriver) Ext() string {
	if m.sv.Compress == "gzip" {
		return "sql.gz"
	}
	return "sql"
}

// quoteIdent quotes a MySQL identifier with backticks.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func (m *mysqlDriver) Info(ctx context.Context) (ServerInfo, error) {
	var v string
	if err := m.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return ServerInfo{}, fmt.Errorf("connecting to %s: %w", m.sv.Name, err)
	}
	m.flavor = "mysql"
	if strings.Contains(strings.ToLower(v), "mariadb") {
		m.flavor = "mariadb"
	}
	tool, err := m.tool("dump")
	if err != nil {
		return ServerInfo{}, err
	}
	out, err := exec.CommandContext(ctx, tool, "--version").Output()
	if err != nil {
		return ServerInfo{}, fmt.Errorf("%s --version: %w", tool, err)
	}
	tv := strings.TrimSpace(string(out))
	if m.flavor == "mysql" && strings.Contains(tv, "MariaDB") {
		return ServerInfo{}, fmt.Errorf("server %s is MySQL %s but the only dump tool found is MariaDB's (%s): install mysql-client", m.sv.Name, v, tv)
	}
	return ServerInfo{Flavor: m.flavor, ServerVersion: v, Tool: filepath.Base(tool), ToolVersion: tv}, nil
}

// tool finds the dump or client tool of the server's flavor.
func (m *mysqlDriver) tool(kind string) (string, error) {
	names := map[string][]string{"dump": {"mysqldump"}, "client": {"mysql"}}[kind]
	if m.flavor == "mariadb" {
		names = map[string][]string{"dump": {"mariadb-dump", "mysqldump"}, "client": {"mariadb", "mysql"}}[kind]
	}
	return findTool([]string{m.sv.BinDir}, names...)
}

func (m *mysqlDriver) Databases(ctx context.Context) ([]string, error) {
	rows, err := m.db.QueryContext(ctx, "SHOW DATABASES")
	if err != nil {
		return nil, fmt.Errorf("listing databases of %s: %w", m.sv.Name, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		if n == "information_schema" || n == "performance_schema" {
			continue // views of the server, not data
		}
		if m.sv.selected(n, mysqlSystem[n]) {
			out = append(out, n)
		}
	}
	return out, rows.Err()
}

func (m *mysqlDriver) count(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, db string) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY 1", db)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, n := range names {
		var c int64
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteIdent(db)+"."+quoteIdent(n)).Scan(&c); err != nil {
			return nil, fmt.Errorf("counting %s: %w", n, err)
		}
		out[n] = c
	}
	return out, nil
}

func (m *mysqlDriver) Tables(ctx context.Context, db string) (map[string]int64, error) {
	return m.count(ctx, m.db, db)
}

// Dump counts rows in a consistent snapshot, then runs the dump tool with
// --single-transaction (its own snapshot, taken just after: a write in
// between shows as a count mismatch at verify, never silently).
func (m *mysqlDriver) Dump(ctx context.Context, db string, w io.Writer) (map[string]int64, error) {
	if m.flavor == "" {
		if _, err := m.Info(ctx); err != nil {
			return nil, err
		}
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
		return nil, fmt.Errorf("snapshot of %q: %w", db, err)
	}
	counts, err := m.count(ctx, conn, db)
	conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	if err != nil {
		return nil, fmt.Errorf("counting rows of %q: %w", db, err)
	}
	tool, err := m.tool("dump")
	if err != nil {
		return nil, err
	}
	args := []string{"--defaults-extra-file=" + m.optfile, "--single-transaction", "--quick",
		"--routines", "--triggers", "--events", "--hex-blob", "--default-character-set=utf8mb4"}
	if m.flavor == "mysql" {
		args = append(args, "--set-gtid-purged=OFF") // Oracle's tool only
	}
	args = append(args, "--", db)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Stdout, cmd.Stderr = w, &stderr
	var gz *gzip.Writer
	if m.sv.Compress == "gzip" {
		gz = gzip.NewWriter(w)
		cmd.Stdout = gz
	}
	if err := cmd.Run(); err != nil {
		return nil, toolError(tool, err, stderr.String())
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return nil, err
		}
	}
	return counts, nil
}

func (m *mysqlDriver) Create(ctx context.Context, db string) error {
	if _, err := m.db.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(db)); err != nil {
		return fmt.Errorf("creating database %q on %s: %w", db, m.sv.Name, err)
	}
	return nil
}

func (m *mysqlDriver) Drop(ctx context.Context, db string) error {
	if _, err := m.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(db)); err != nil {
		return fmt.Errorf("dropping database %q on %s: %w", db, m.sv.Name, err)
	}
	return nil
}

func (m *mysqlDriver) Restore(ctx context.Context, file, db string) error {
	if m.flavor == "" {
		if _, err := m.Info(ctx); err != nil {
			return err
		}
	}
	tool, err := m.tool("client")
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var in io.Reader = f
	if strings.HasSuffix(file, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
		in = zr
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, "--defaults-extra-file="+m.optfile, "--batch", "--database="+db)
	cmd.Stdin, cmd.Stderr = in, &stderr
	if err := cmd.Run(); err != nil {
		return toolError(tool, err, stderr.String())
	}
	if zr, ok := in.(*gzip.Reader); ok {
		// The client read to the end: a truncated or corrupt stream shows here.
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
	}
	return nil
}

func (m *mysqlDriver) QueryInt(ctx context.Context, db, query string) (int64, error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "USE "+quoteIdent(db)); err != nil {
		return 0, err
	}
	var n int64
	err = conn.QueryRowContext(ctx, query).Scan(&n)
	return n, err
}
