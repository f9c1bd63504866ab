package secrets

import (
	"errors"
	"fmt"
	"strings"
)

// connPair is one key=value of an ADO.NET connection string, the format
// Technitium's MySQL, SQL Server and PostgreSQL apps take
// ("Server=db; Port=3306; Uid=dns; Pwd=...;").
type connPair struct{ Key, Value string }

// Aliases of the keys labops reads or writes (compared case-insensitively,
// inner spaces ignored), as MySqlConnector accepts them.
var (
	connPasswordKeys = []string{"password", "pwd"}
	connUserKeys     = []string{"userid", "uid", "username", "user", "userid"}
	connServerKeys   = []string{"server", "host", "datasource", "address", "addr", "networkaddress"}
	connPortKeys     = []string{"port"}
)

// parseConnString splits s into its pairs. Its errors quote keys and
// positions, never values: the string holds a password. Values may be quoted with ' or
// ", the quote doubled inside; whitespace around keys and unquoted values
// is not part of them.
func parseConnString(s string) ([]connPair, error) {
	var out []connPair
	i := 0
	for i < len(s) {
		// key, up to '='
		j := strings.IndexAny(s[i:], "=;")
		if j < 0 {
			if strings.TrimSpace(s[i:]) != "" {
				return nil, fmt.Errorf("connection string: the text at byte %d has no '='", i)
			}
			break
		}
		if s[i+j] == ';' {
			if strings.TrimSpace(s[i:i+j]) != "" {
				return nil, fmt.Errorf("connection string: the text at byte %d has no '='", i)
			}
			i += j + 1
			continue
		}
		key := strings.TrimSpace(s[i : i+j])
		if key == "" {
			return nil, errors.New("connection string: a value has no key")
		}
		i += j + 1
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		var val string
		if i < len(s) && (s[i] == '"' || s[i] == '\'') {
			q := s[i]
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				if s[i] == q {
					if i+1 < len(s) && s[i+1] == q {
						b.WriteByte(q)
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("connection string: the value of %q has no closing quote", key)
			}
			val = b.String()
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
				i++
			}
			if i < len(s) && s[i] != ';' {
				return nil, fmt.Errorf("connection string: text after the quoted value of %q", key)
			}
		} else {
			k := strings.IndexByte(s[i:], ';')
			if k < 0 {
				k = len(s) - i
			}
			val = strings.TrimSpace(s[i : i+k])
			i += k
		}
		out = append(out, connPair{Key: key, Value: val})
		if i < len(s) && s[i] == ';' {
			i++
		}
	}
	return out, nil
}

// formatConnString writes pairs back, quoting a value only when it needs it.
func formatConnString(pairs []connPair) string {
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(p.Key)
		b.WriteByte('=')
		b.WriteString(quoteConnValue(p.Value))
		b.WriteByte(';')
	}
	return b.String()
}

func quoteConnValue(v string) string {
	if v == "" || strings.ContainsAny(v, `;"'`) || strings.TrimSpace(v) != v {
		return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	}
	return v
}

func normKey(k string) string {
	return strings.ToLower(strings.Join(strings.Fields(k), ""))
}

func isKey(k string, aliases []string) bool {
	n := normKey(k)
	for _, a := range aliases {
		if n == a {
			return true
		}
	}
	return false
}

// connGet returns the last value of any alias (later pairs win, as in
// ADO.NET).
func connGet(pairs []connPair, aliases []string) (string, bool) {
	v, ok := "", false
	for _, p := range pairs {
		if isKey(p.Key, aliases) {
			v, ok = p.Value, true
		}
	}
	return v, ok
}

// connSet sets the value of every alias present, or appends key=value.
func connSet(pairs []connPair, aliases []string, key, value string) []connPair {
	out := make([]connPair, len(pairs))
	copy(out, pairs)
	found := false
	for i := range out {
		if isKey(out[i].Key, aliases) {
			out[i].Value = value
			found = true
		}
	}
	if !found {
		out = append(out, connPair{Key: key, Value: value})
	}
	return out
}
