package backup

import (
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/labops/labops/internal/config"
)

// Server types.
const (
	TypePostgres = "postgres"
	TypeMySQL    = "mysql" // MySQL or MariaDB: the flavor is detected
)

// Spec is the backup (and backup-verify) job's section of the config.
type Spec struct {
	// Root is the directory dumps are written under.
	Root string `yaml:"root" json:"root"`
	// Parallel bounds how many databases are dumped at once (default 2).
	Parallel  int           `yaml:"parallel" json:"parallel,omitempty"`
	Servers   []ServerSpec  `yaml:"servers" json:"servers"`
	Retention RetentionSpec `yaml:"retention" json:"retention"`
	Verify    VerifySpec    `yaml:"verify" json:"verify"`
}

// ServerSpec is one database server.
type ServerSpec struct {
	Name string `yaml:"name" json:"name"`
	Type string `yaml:"type" json:"type"`
	Host string `yaml:"host" json:"host"`
	Port int    `yaml:"port" json:"port,omitempty"`
	User string `yaml:"user" json:"user"`
	// PasswordFile holds the password (one line); never the password itself.
	PasswordFile string `yaml:"password_file" json:"password_file,omitempty"`
	// Include and Exclude are glob patterns (path.Match) on database
	// names; empty Include means every database.
	Include []string `yaml:"include" json:"include,omitempty"`
	Exclude []string `yaml:"exclude" json:"exclude,omitempty"`
	// IncludeSystem also dumps the system databases (postgres; mysql, sys).
	IncludeSystem bool `yaml:"include_system" json:"include_system,omitempty"`
	// Compress is "" or "gzip" (MySQL/MariaDB only: PostgreSQL's custom
	// format is compressed already, and PostgreSQL 15's pg_dump has no zstd).
	Compress string `yaml:"compress" json:"compress,omitempty"`
	// BinDir is where the dump and restore tools are; empty means PATH
	// (and, for PostgreSQL, Debian's /usr/lib/postgresql/15/bin first).
	BinDir string `yaml:"bin_dir" json:"bin_dir,omitempty"`
}

// RetentionSpec keeps the newest Last dumps plus the newest dump of each of
// the last Daily days, Weekly ISO weeks and Monthly months. All zero keeps
// every dump. Prune applies the plan (the default prints it only).
type RetentionSpec struct {
	Last    int  `yaml:"last" json:"last"`
	Daily   int  `yaml:"daily" json:"daily"`
	Weekly  int  `yaml:"weekly" json:"weekly"`
	Monthly int  `yaml:"monthly" json:"monthly"`
	Prune   bool `yaml:"prune" json:"prune"`
}

// VerifySpec is what backup verify does beyond restoring and counting rows.
type VerifySpec struct {
	// ScratchPrefix names scratch databases (default "labops_verify_").
	ScratchPrefix string `yaml:"scratch_prefix" json:"scratch_prefix,omitempty"`
	// Sentinels are queries run in the restored scratch database.
	Sentinels []Sentinel `yaml:"sentinels" json:"sentinels,omitempty"`
}

// Sentinel is a query returning one integer, run in the restored copy of
// Database on Server, that must be at least Min (e.g. the orders of the
// last day: a dump of an emptied table restores clean and counts right).
type Sentinel struct {
	Server   string `yaml:"server" json:"server"`
	Database string `yaml:"database" json:"database"`
	Query    string `yaml:"query" json:"query"`
	Min      int64  `yaml:"min" json:"min"`
}

// Policy is the parsed retention.
func (r RetentionSpec) Policy() Policy {
	return Policy{Last: r.Last, Daily: r.Daily, Weekly: r.Weekly, Monthly: r.Monthly}
}

// Validate returns every problem, with paths relative to the spec.
func (s Spec) Validate() error {
	var ps config.Problems
	if s.Root == "" {
		ps.Add("root", "required: the directory dumps are written under")
	}
	if s.Parallel < 0 {
		ps.Add("parallel", "must not be negative")
	}
	if len(s.Servers) == 0 {
		ps.Add("servers", "at least one server")
	}
	names := map[string]bool{}
	for i, sv := range s.Servers {
		p := fmt.Sprintf("servers[%d]", i)
		switch {
		case sv.Name == "":
			ps.Add(p+".name", "required")
		case names[sv.Name]:
			ps.Add(p+".name", "%q is used twice", sv.Name)
		}
		names[sv.Name] = true
		if sv.Type != TypePostgres && sv.Type != TypeMySQL {
			ps.Add(p+".type", "%q is not a server type (valid: postgres, mysql)", sv.Type)
		}
		switch {
		case sv.Compress != "" && sv.Compress != "gzip":
			ps.Add(p+".compress", "%q is not a compression (valid: gzip)", sv.Compress)
		case sv.Compress != "" && sv.Type == TypePostgres:
			ps.Add(p+".compress", "postgres dumps are in pg_dump's compressed custom format already")
		}
		if sv.Host == "" {
			ps.Add(p+".host", "required")
		}
		if sv.Port < 0 || sv.Port > 65535 {
			ps.Add(p+".port", "%d is not a port", sv.Port)
		}
		if sv.User == "" {
			ps.Add(p+".user", "required")
		}
		for j, g := range append(append([]string{}, sv.Include...), sv.Exclude...) {
			if _, err := path.Match(g, ""); err != nil {
				ps.Add(fmt.Sprintf("%s.include/exclude[%d]", p, j), "bad pattern %q", g)
			}
		}
	}
	for i, sn := range s.Verify.Sentinels {
		p := fmt.Sprintf("verify.sentinels[%d]", i)
		if !names[sn.Server] {
			ps.Add(p+".server", "%q is not a configured server", sn.Server)
		}
		if sn.Database == "" {
			ps.Add(p+".database", "required")
		}
		if strings.TrimSpace(sn.Query) == "" {
			ps.Add(p+".query", "required: a query returning one integer")
		}
	}
	r := s.Retention
	for _, f := range []struct {
		n string
		v int
	}{{"last", r.Last}, {"daily", r.Daily}, {"weekly", r.Weekly}, {"monthly", r.Monthly}} {
		if f.v < 0 {
			ps.Add("retention."+f.n, "must not be negative")
		}
	}
	return ps.Err()
}

func (s Spec) parallel() int {
	if s.Parallel <= 0 {
		return 2
	}
	return s.Parallel
}

func (s Spec) scratchPrefix() string {
	if s.Verify.ScratchPrefix == "" {
		return "labops_verify_"
	}
	return s.Verify.ScratchPrefix
}

// password reads the server's password file.
func (sv ServerSpec) password() (string, error) {
	if sv.PasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(sv.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("reading password of server %s: %w", sv.Name, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// selected reports whether database db of this server is to be dumped.
func (sv ServerSpec) selected(db string, system bool) bool {
	if system && !sv.IncludeSystem {
		return false
	}
	in := len(sv.Include) == 0
	for _, g := range sv.Include {
		if ok, _ := path.Match(g, db); ok {
			in = true
		}
	}
	for _, g := range sv.Exclude {
		if ok, _ := path.Match(g, db); ok {
			return false
		}
	}
	return in
}
