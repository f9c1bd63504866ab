// Package push sends one-shot results where a scheduler-less run can be
// seen: a Prometheus Pushgateway (metrics) and an Uptime Kuma push monitor
// (up/down with a message and the duration).
package push

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/labops/labops/internal/job"
)

// Config is the push section of the config file.
type Config struct {
	Pushgateway Pushgateway `yaml:"pushgateway"`
}

// Pushgateway says where one-shot runs push their metrics. Each job's
// metrics go to the group job="<job name>" plus Grouping.
type Pushgateway struct {
	URL      string            `yaml:"url"`
	Grouping map[string]string `yaml:"grouping"`
	Username string            `yaml:"username"`
	// PasswordFile holds the basic-auth password; it is read at push time.
	PasswordFile string        `yaml:"password_file"`
	Timeout      time.Duration `yaml:"timeout"`
}

// Kuma is an Uptime Kuma push monitor. Its URL carries the monitor's token,
// so it is a secret: give it through URLFile or ${ENV}.
type Kuma struct {
	URL     string `yaml:"url"`
	URLFile string `yaml:"url_file"`
}

// Enabled reports whether a Kuma monitor is configured.
func (k Kuma) Enabled() bool { return k.URL != "" || k.URLFile != "" }

// Metrics adds the gathered metrics of one job's run to the Pushgateway
// with POST, which replaces only the pushed metric names in the group: the
// last success timestamp of an earlier run survives a failed run, and the
// Pushgateway's push_time_seconds shows when the job last reported at all.
func Metrics(ctx context.Context, c Pushgateway, jobName string, g prometheus.Gatherer) error {
	if c.URL == "" {
		return nil
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p := push.New(c.URL, jobName).Gatherer(g).Client(&http.Client{Timeout: timeout})
	for k, v := range c.Grouping {
		p = p.Grouping(k, v)
	}
	if c.Username != "" || c.PasswordFile != "" {
		pw, err := ReadSecret(c.PasswordFile)
		if err != nil {
			return fmt.Errorf("pushgateway password: %w", err)
		}
		p = p.BasicAuth(c.Username, pw)
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("pushing metrics to the pushgateway: %w", redact(err, c.URL))
	}
	return nil
}

// KumaResult reports one run to an Uptime Kuma push monitor:
// GET <url>?status=up|down&msg=<message>&ping=<milliseconds>.
func KumaResult(ctx context.Context, k Kuma, res job.Result) error {
	if !k.Enabled() {
		return nil
	}
	raw := k.URL
	if k.URLFile != "" {
		s, err := ReadSecret(k.URLFile)
		if err != nil {
			return fmt.Errorf("uptime kuma url: %w", err)
		}
		raw = s
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("uptime kuma url: not a URL")
	}
	q := u.Query()
	status := "down"
	if res.Status == job.StatusOK {
		status = "up"
	}
	q.Set("status", status)
	q.Set("msg", Summary(res))
	q.Set("ping", fmt.Sprintf("%d", res.Duration.Milliseconds()))
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("uptime kuma push: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("uptime kuma push to %s: %w", u.Host, redact(err, u.String()))
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("uptime kuma push to %s: HTTP %d", u.Host, resp.StatusCode)
	}
	return nil
}

// Summary is the one-line message for a result.
func Summary(res job.Result) string {
	switch {
	case res.Status == job.StatusOK:
		return fmt.Sprintf("ok in %s", res.Duration.Round(time.Millisecond))
	case res.Error != "":
		return fmt.Sprintf("%s: %s", res.Status, res.Error)
	default:
		return fmt.Sprintf("%s: %d finding(s)", res.Status, len(res.Findings))
	}
}

// ReadSecret reads a *_file secret, without its trailing newline.
func ReadSecret(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// redact removes a URL (which may carry a token) from an error's text.
func redact(err error, secretURL string) error {
	s := err.Error()
	if secretURL != "" && strings.Contains(s, secretURL) {
		if u, perr := url.Parse(secretURL); perr == nil {
			s = strings.ReplaceAll(s, secretURL, u.Scheme+"://"+u.Host+"/…")
		}
		return fmt.Errorf("%s", s)
	}
	return err
}
