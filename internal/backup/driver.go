package backup

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
)

// Driver is one server type: it lists databases, dumps one with the
// vendor's tool while counting its rows, and restores a dump.
type Driver interface {
	// Info connects and returns the server's flavor and version.
	Info(ctx context.Context) (ServerInfo, error)
	// Databases lists the databases to dump, after the spec's filters.
	Databases(ctx context.Context) ([]string, error)
	// Dump writes database db to w and returns the row count of each
	// table, taken in (or as close as the server allows to) the dump's
	// snapshot.
	Dump(ctx context.Context, db string, w io.Writer) (map[string]int64, error)
	// Tables counts the rows of every table of db.
	Tables(ctx context.Context, db string) (map[string]int64, error)
	// QueryInt runs query in db and returns its one integer.
	QueryInt(ctx context.Context, db, query string) (int64, error)
	// Create and Drop manage a (scratch or restore target) database.
	Create(ctx context.Context, db string) error
	Drop(ctx context.Context, db string) error
	// Restore loads the dump at file into the existing, empty database db.
	Restore(ctx context.Context, file, db string) error
	// Ext is the dump file's extension ("pgdump", "sql").
	Ext() string
	// Close removes the driver's credential files.
	Close() error
}

// ServerInfo is what a dump's manifest records about the server and tool.
type ServerInfo struct {
	Flavor        string `json:"flavor"` // postgres, mariadb, mysql
	ServerVersion string `json:"server_version"`
	Tool          string `json:"tool"`
	ToolVersion   string `json:"tool_version"`
}

// NewDriver returns the driver for sv.
func NewDriver(sv ServerSpec) (Driver, error) {
	pw, err := sv.password()
	if err != nil {
		return nil, err
	}
	switch sv.Type {
	case TypePostgres:
		return newPostgres(sv, pw)
	case TypeMySQL:
		return newMySQL(sv, pw)
	}
	return nil, fmt.Errorf("server %s: unknown type %q", sv.Name, sv.Type)
}

// findTool looks for the first of names in dirs, then on PATH.
func findTool(dirs []string, names ...string) (string, error) {
	for _, n := range names {
		for _, d := range dirs {
			if d == "" {
				continue
			}
			p := filepath.Join(d, n)
			if _, err := exec.LookPath(p); err == nil {
				return p, nil
			}
		}
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %s found (in %s or PATH)", strings.Join(names, ", "), strings.Join(dirs, ", "))
}

// toolError makes a failed tool run into an error carrying the last lines
// of its stderr.
func toolError(tool string, err error, stderr string) error {
	stderr = strings.TrimSpace(stderr)
	if len(stderr) > 2000 {
		stderr = "..." + stderr[len(stderr)-2000:]
	}
	if stderr == "" {
		return fmt.Errorf("%s: %w", filepath.Base(tool), err)
	}
	return fmt.Errorf("%s: %w: %s", filepath.Base(tool), err, stderr)
}
