package config

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/push"
)

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Validate checks the whole file against the known kinds and returns every
// problem at once (as Problems), each with its path.
func (f *File) Validate(kinds map[string]job.Kind) error {
	var ps Problems
	seen := map[string]int{}
	for i, j := range f.Jobs {
		p := fmt.Sprintf("jobs[%d]", i)
		switch {
		case j.Name == "":
			ps.Add(p+".name", "required")
		case !validName.MatchString(j.Name):
			ps.Add(p+".name", "%q is not a valid name (lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63)", j.Name)
		default:
			if k, dup := seen[j.Name]; dup {
				ps.Add(p+".name", "%q is already the name of jobs[%d]", j.Name, k)
			}
			seen[j.Name] = i
		}
		if _, err := j.ParseSchedule(); err != nil {
			ps.Add(p+".schedule", "%v", err)
		}
		if j.Timeout < 0 {
			ps.Add(p+".timeout", "%s is negative", j.Timeout)
		}
		validateKuma(p+".uptime_kuma", j.UptimeKuma, &ps)
		k, ok := kinds[j.Kind]
		switch {
		case j.Kind == "":
			ps.Add(p+".kind", "required (valid: %s)", kindNames(kinds))
		case !ok:
			ps.Add(p+".kind", "unknown kind %q (valid: %s)", j.Kind, kindNames(kinds))
		default:
			_, err := j.Build(k, job.Deps{
				Name:       j.Name,
				Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
				Registerer: prometheus.NewRegistry(),
			})
			if err != nil {
				ps = append(ps, Prefixed(p+".spec", err)...)
			}
		}
	}
	validatePush(f.Push, &ps)
	return ps.Err()
}

// Build decodes the job's spec with its kind and constructs it.
func (j *Job) Build(k job.Kind, deps job.Deps) (job.Job, error) {
	return k.New(func(v any) error { return DecodeSpec(&j.Spec, v) }, deps)
}

// ParseSchedule parses the job's cron schedule. An empty schedule is valid
// and means the job runs only when asked (labops run, or "run now").
func (j *Job) ParseSchedule() (cron.Schedule, error) {
	if strings.TrimSpace(j.Schedule) == "" {
		return nil, nil
	}
	s, err := CronParser.Parse(j.Schedule)
	if err != nil {
		return nil, fmt.Errorf("bad cron expression %q: %v (want 5 fields, minute hour day-of-month month day-of-week, or @hourly, @daily, ...)", j.Schedule, err)
	}
	return s, nil
}

// Find returns the job named name.
func (f *File) Find(name string) (*Job, bool) {
	for i := range f.Jobs {
		if f.Jobs[i].Name == name {
			return &f.Jobs[i], true
		}
	}
	return nil, false
}

// Names lists the configured job names.
func (f *File) Names() []string {
	out := make([]string, len(f.Jobs))
	for i, j := range f.Jobs {
		out[i] = j.Name
	}
	return out
}

func kindNames(kinds map[string]job.Kind) string {
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func validatePush(c push.Config, ps *Problems) {
	pg := c.Pushgateway
	if pg.URL != "" && !isHTTPURL(pg.URL) {
		ps.Add("push.pushgateway.url", "%q is not an http(s) URL with a host", pg.URL)
	}
	if _, ok := pg.Grouping["job"]; ok {
		ps.Add("push.pushgateway.grouping.job", "the job label is each job's name; choose another label name")
	}
	if pg.Timeout < 0 {
		ps.Add("push.pushgateway.timeout", "%s is negative", pg.Timeout)
	}
	if pg.PasswordFile != "" && pg.Username == "" {
		ps.Add("push.pushgateway.username", "required with password_file")
	}
}

func validateKuma(path string, k push.Kuma, ps *Problems) {
	if k.URL != "" && k.URLFile != "" {
		ps.Add(path, "set url or url_file, not both")
	}
	// Never echo the value: the URL carries the monitor's token.
	if k.URL != "" && !isHTTPURL(k.URL) {
		ps.Add(path+".url", "not an http(s) URL with a host")
	}
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
