package config

import (
	"errors"
	"fmt"
	"strings"
)

// Problem is one thing wrong with the configuration, at a field path such
// as "jobs[2].schedule".
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Problems is every problem found in one configuration. It is an error so
// that validation can return all of them at once.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Add records a problem at path.
func (ps *Problems) Add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Err returns ps as an error, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Prefixed returns err's problems with prefix joined in front of each path.
// An error that is not a Problems becomes one problem at prefix.
func Prefixed(prefix string, err error) Problems {
	var ps Problems
	if !errors.As(err, &ps) {
		return Problems{{Path: prefix, Msg: err.Error()}}
	}
	out := make(Problems, len(ps))
	for i, p := range ps {
		switch {
		case p.Path == "":
			p.Path = prefix
		case prefix != "" && strings.HasPrefix(p.Path, "["):
			p.Path = prefix + p.Path
		case prefix != "":
			p.Path = prefix + "." + p.Path
		}
		out[i] = p
	}
	return out
}
