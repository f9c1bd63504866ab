package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL keeps a database's own settings (ALTER DATABASE ... SET, its
// comment) in the dump's "DATABASE PROPERTIES" entry, which pg_restore
// replays only with --create, and --create restores under the original
// name. labops restores under any name, so it asks pg_restore for that one
// entry as SQL, points each statement at the target and runs it: a
// database restored elsewhere keeps its search_path, timezone or
// statement_timeout, which its application relies on.

// Statements of the DATABASE PROPERTIES entry that labops replays; owners
// and grants stay out, as with pg_restore's --no-owner --no-privileges.
var pgPropertyPrefixes = []string{"ALTER DATABASE ", "COMMENT ON DATABASE "}

// restoreProperties replays the dump's database-level settings on db.
func (p *postgres) restoreProperties(ctx context.Context, file, db string) error {
	var list, stderr bytes.Buffer
	// Database-level entries are listed only with --create.
	cmd := exec.CommandContext(ctx, p.pgRest, "--create", "--list", file)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env(), &list, &stderr
	if err := cmd.Run(); err != nil {
		return toolError(p.pgRest, err, stderr.String())
	}
	var keep []string
	for _, l := range strings.Split(list.String(), "\n") {
		if !strings.HasPrefix(l, ";") && (strings.Contains(l, " DATABASE PROPERTIES ") || strings.Contains(l, " COMMENT - DATABASE ")) {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	lf, err := os.CreateTemp(p.dir, "toc-*")
	if err != nil {
		return err
	}
	defer os.Remove(lf.Name())
	_, err = lf.WriteString(strings.Join(keep, "\n") + "\n")
	if cerr := lf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	var sql bytes.Buffer
	stderr.Reset()
	cmd = exec.CommandContext(ctx, p.pgRest, "--create", "--no-owner", "--no-privileges", "--use-list="+lf.Name(), "--file=-", file)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env(), &sql, &stderr
	if err := cmd.Run(); err != nil {
		return toolError(p.pgRest, err, stderr.String())
	}
	stmts, err := retargetProperties(sql.String(), db)
	if err != nil || len(stmts) == 0 {
		return err
	}
	c, err := p.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s); err != nil {
			return fmt.Errorf("database settings of %q: %w", db, err)
		}
	}
	return nil
}

// retargetProperties picks the ALTER DATABASE and COMMENT ON DATABASE
// statements out of pg_restore's SQL and names db in each instead of the
// dumped database. A statement starts a line and ends at the first ";"
// outside quotes (a comment may hold ";" and newlines).
func retargetProperties(sql, db string) ([]string, error) {
	target := pgx.Identifier{db}.Sanitize()
	var out []string
	// i is always at the start of a line.
	for i := 0; i < len(sql); i = nextLine(sql, i) {
		prefix := ""
		for _, p := range pgPropertyPrefixes {
			if strings.HasPrefix(sql[i:], p) {
				prefix = p
			}
		}
		if prefix == "" {
			continue
		}
		end, ok := statementEnd(sql[i:])
		if !ok {
			return nil, fmt.Errorf("pg_restore wrote a statement labops cannot read: %.60q", sql[i:])
		}
		stmt := sql[i : i+end]
		rest, ok := skipIdent(stmt[len(prefix):])
		if !ok {
			return nil, fmt.Errorf("pg_restore wrote a statement labops cannot read: %.60q", stmt)
		}
		out = append(out, prefix+target+rest)
		i += end - 1 // nextLine goes on from the statement's last byte
	}
	return out, nil
}

// nextLine is the start of the line after the one holding s[i], or len(s).
func nextLine(s string, i int) int {
	n := strings.IndexByte(s[i:], '\n')
	if n < 0 {
		return len(s)
	}
	return i + n + 1
}

// statementEnd is the length of the statement at the start of s, through
// its ";": single-quoted strings (” inside) and double-quoted identifiers
// ("" inside) are skipped whole.
func statementEnd(s string) (int, bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ';':
			return i + 1, true
		case '\'', '"':
			q := s[i]
			for i++; i < len(s); i++ {
				if s[i] == q {
					if i+1 < len(s) && s[i+1] == q {
						i++
						continue
					}
					break
				}
			}
			if i >= len(s) {
				return 0, false
			}
		}
	}
	return 0, false
}

// skipIdent drops the SQL identifier at the start of s (quoted with ""
// doubled inside, or bare) and returns what follows, which must start with
// a space: the rest of the statement.
func skipIdent(s string) (string, bool) {
	rest := ""
	if strings.HasPrefix(s, `"`) {
		for i := 1; i < len(s); i++ {
			if s[i] != '"' {
				continue
			}
			if i+1 < len(s) && s[i+1] == '"' {
				i++
				continue
			}
			rest = s[i+1:]
			break
		}
	} else if i := strings.IndexByte(s, ' '); i > 0 {
		rest = s[i:]
	}
	return rest, strings.HasPrefix(rest, " ")
}
