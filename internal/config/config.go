// Package config loads labops' one YAML file: a jobs list whose entries
// carry their kind's own spec, and a push section. Decoding is strict,
// ${ENV} references are expanded in values, and Validate reports every
// problem at once, each with its path.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/labops/labops/internal/push"
)

// DefaultFile is the file labops looks for in the working directory when
// --config is not given.
const DefaultFile = "labops.yaml"

// File is the whole configuration.
type File struct {
	Jobs []Job       `yaml:"jobs"`
	Push push.Config `yaml:"push"`
}

// Job is one entry of the jobs list. Spec is the kind's own section; the
// kind decodes it strictly.
type Job struct {
	Name     string        `yaml:"name"`
	Kind     string        `yaml:"kind"`
	Schedule string        `yaml:"schedule"`
	Timeout  time.Duration `yaml:"timeout"`
	// UptimeKuma is an optional Uptime Kuma push monitor for this job.
	UptimeKuma push.Kuma `yaml:"uptime_kuma"`
	Spec       yaml.Node `yaml:"spec"`
}

// DefaultTimeout bounds a job whose timeout is not set.
const DefaultTimeout = 10 * time.Minute

// Parse decodes data strictly, expanding ${ENV} references in scalar values
// with getenv. Every problem is returned as Problems.
func Parse(data []byte, getenv func(string) string) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{{Msg: cleanYAMLError(err)}}
	}
	var ps Problems
	expandEnv(&root, getenv, &ps)
	if len(ps) > 0 {
		return nil, ps
	}
	f := &File{}
	if len(root.Content) == 0 {
		return f, nil
	}
	if err := decodeStrict(&root, f); err != nil {
		return nil, Problems{{Msg: err.Error()}}
	}
	for i := range f.Jobs {
		if f.Jobs[i].Timeout == 0 {
			f.Jobs[i].Timeout = DefaultTimeout
		}
	}
	return f, nil
}

// Load reads and parses path.
func Load(path string, getenv func(string) string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	f, err := Parse(data, getenv)
	if err != nil {
		var ps Problems
		if errors.As(err, &ps) {
			for i := range ps {
				if ps[i].Path == "" {
					ps[i].Path = path
				}
			}
		}
		return nil, err
	}
	return f, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} in every scalar value. An unset variable is a
// problem (a silently empty password is how consumers break).
func expandEnv(n *yaml.Node, getenv func(string) string, ps *Problems) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			v := getenv(name)
			if v == "" {
				ps.Add("", "line %d: environment variable %s is not set", n.Line, name)
			}
			return v
		})
	}
	for _, c := range n.Content {
		expandEnv(c, getenv, ps)
	}
}

// decodeStrict decodes n into v, rejecting unknown fields.
func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return errors.New(cleanYAMLError(err))
	}
	return nil
}

// DecodeSpec decodes a job's spec strictly into v. An absent spec leaves v
// as it is (its defaults).
func DecodeSpec(spec *yaml.Node, v any) error {
	if spec == nil || spec.Kind == 0 {
		return nil
	}
	if err := decodeStrict(spec, v); err != nil {
		// Line numbers of the re-encoded spec would not match the file.
		return Problems{{Msg: lineRef.ReplaceAllString(err.Error(), "")}}
	}
	return nil
}

var lineRef = regexp.MustCompile(`line \d+: `)
var yamlNoise = regexp.MustCompile(`^yaml: (unmarshal errors:\n\s*)?`)
var notFound = regexp.MustCompile(`field (\S+) not found in type \S+`)

func cleanYAMLError(err error) string {
	s := yamlNoise.ReplaceAllString(err.Error(), "")
	s = notFound.ReplaceAllString(s, `unknown field "$1"`)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// CronParser is the parser for job schedules: the five standard fields and
// the @hourly-style descriptors, as Kubernetes CronJobs accept (Kubernetes
// uses the same library).
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
