package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/kinds"
	"github.com/labops/labops/internal/push"
)

type runOptions struct {
	configPath string
	all        bool
	json       bool
}

func newRunCommand(app *App) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run JOB... [--config FILE]",
		Short: "Run configured jobs once, as a Kubernetes CronJob would",
		Long: `Run the named jobs from the config file once, one after another, print each
result, push the metrics to the Pushgateway and the result to the job's
Uptime Kuma monitor when configured, and exit with the worst status.

Metrics go to the Pushgateway group job="<job name>" (plus push.pushgateway.grouping)
with POST, so a failed run never erases the last success time. A run whose
result could not be pushed exits 3 even if the job itself was ok: a job whose
monitoring cannot see it is not healthy.`,
		Example: `  labops run registry-probe --config /etc/labops/labops.yaml
  labops run --all --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, _, err := app.loadConfig(cmd, o.configPath, true)
			if err != nil {
				return err
			}
			names := args
			switch {
			case o.all && len(args) > 0:
				return usageErrorf(cmd, "give job names or --all, not both")
			case o.all:
				names = f.Names()
			case len(args) == 0:
				return usageErrorf(cmd, "name the jobs to run (configured: %s), or pass --all", strings.Join(f.Names(), ", "))
			}
			for _, n := range names {
				if _, ok := f.Find(n); !ok {
					return usageErrorf(cmd, "no job named %q in the config (configured: %s)", n, strings.Join(f.Names(), ", "))
				}
			}
			worst := job.StatusOK
			var reports []runReport
			for _, n := range names {
				j, _ := f.Find(n)
				res, pushErr := app.runOnce(cmd, f, j)
				st := res.Status
				if pushErr != nil {
					app.Logger.Error("could not report the result", "job", n, "err", pushErr)
					st = job.Worst(st, job.StatusIncomplete)
				}
				worst = job.Worst(worst, st)
				if o.json {
					reports = append(reports, runReport{Job: n, Result: res})
				} else {
					printResult(app.Stdout, n, res)
				}
			}
			if o.json {
				enc := json.NewEncoder(app.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(reports); err != nil {
					return err
				}
			}
			return exitWith(job.ExitCode(worst))
		},
	}
	cmd.Flags().StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+")")
	cmd.Flags().BoolVar(&o.all, "all", false, "run every configured job")
	cmd.Flags().BoolVar(&o.json, "json", false, "print results as JSON")
	return cmd
}

type runReport struct {
	Job    string     `json:"job"`
	Result job.Result `json:"result"`
}

// runOnce runs one job with a fresh metrics registry, as blackbox_exporter
// does per probe, then pushes the outcome where the config says.
func (app *App) runOnce(cmd *cobra.Command, f *config.File, j *config.Job) (job.Result, error) {
	reg := prometheus.NewRegistry()
	r, err := newRunner(j, reg, app.Logger)
	if err != nil {
		// Validated already; a failure here is a bug or a race with the file.
		return job.Result{Status: job.StatusIncomplete, Error: err.Error()}, nil
	}
	log := app.Logger.With("job", j.Name, "run", runID())
	log.Info("run started", "kind", j.Kind)
	res := r.Run(cmd.Context(), log)
	log.Info("run finished", "result", res.Status, "duration", res.Duration.Round(1e6), "findings", len(res.Findings))
	var errs []error
	if err := push.Metrics(cmd.Context(), f.Push.Pushgateway, j.Name, reg); err != nil {
		errs = append(errs, err)
	}
	if err := push.KumaResult(cmd.Context(), j.UptimeKuma, res); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("%v", errs)
	}
	return res, nil
}

// newRunner builds the configured job and its runner with the runner's
// metrics and the kind's own metrics registered on reg.
func newRunner(j *config.Job, reg prometheus.Registerer, log *slog.Logger) (*job.Runner, error) {
	k, ok := kinds.All()[j.Kind]
	if !ok {
		return nil, fmt.Errorf("jobs %s: unknown kind %q", j.Name, j.Kind)
	}
	m, err := job.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	built, err := j.Build(k, job.Deps{Name: j.Name, Logger: log, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", j.Name, err)
	}
	return &job.Runner{Name: j.Name, Job: built, Timeout: j.Timeout, Metrics: m}, nil
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// printResult is the human form of one run's result.
func printResult(w io.Writer, name string, res job.Result) {
	fmt.Fprintf(w, "%s: %s in %s", name, res.Status, res.Duration.Round(1e6))
	if len(res.Findings) > 0 {
		fmt.Fprintf(w, ", %d finding(s)", len(res.Findings))
	}
	fmt.Fprintln(w)
	if res.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", res.Error)
	}
	for _, f := range res.Findings {
		fmt.Fprintf(w, "  %-16s %s: %s\n", f.Kind, f.Subject, f.Message)
	}
}
