package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/lab"
	"github.com/labops/labops/internal/schedule"
	"github.com/labops/labops/internal/store"
	"github.com/labops/labops/internal/web"
)

type serveOptions struct {
	configPath string
	listen     string
	dataDir    string
	grace      time.Duration
	jitter     time.Duration
	keepRuns   int
}

func newServeCommand(app *App) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve [--config FILE] [--listen ADDR] [--data DIR]",
		Short: "Schedule every configured job and serve metrics and a status page",
		Long: `Schedule every job of the config file on its cron schedule (never two runs of
one job at once), keep the run history in SQLite under --data, and serve
/metrics, /healthz and a status page with a "run now" button.

Without --config and without ./` + config.DefaultFile + `, serve starts the embedded lab:
an in-process container registry on loopback seeded with healthy and broken
images, and an oci-probe job against it every minute, so the status page
shows real findings within a minute.

On SIGTERM or Ctrl-C, serve stops scheduling, lets running jobs finish for
--shutdown-grace, then cancels them.`,
		Example: `  labops serve                                  # the embedded lab
  labops serve --config labops.yaml --listen 127.0.0.1:9840 --data /var/lib/labops`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return app.serve(cmd, o)
		},
	}
	cmd.Flags().StringVar(&o.configPath, "config", "", "config file (default ./"+config.DefaultFile+", else the embedded lab)")
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:9840", "address for the status page and /metrics")
	cmd.Flags().StringVar(&o.dataDir, "data", "labops-data", "directory for the run history")
	cmd.Flags().DurationVar(&o.grace, "shutdown-grace", 30*time.Second, "how long running jobs may finish at shutdown before they are cancelled")
	cmd.Flags().DurationVar(&o.jitter, "jitter", 5*time.Second, "most a scheduled run is delayed, so that jobs due together do not start together")
	cmd.Flags().IntVar(&o.keepRuns, "keep-runs", 200, "runs of history kept per job")
	return cmd
}

func (app *App) serve(cmd *cobra.Command, o serveOptions) error {
	ctx := cmd.Context()
	log := app.Logger
	if o.grace < 0 || o.jitter < 0 || o.keepRuns < 1 {
		return usageErrorf(cmd, "--shutdown-grace and --jitter must not be negative and --keep-runs must be at least 1")
	}
	f, path, err := app.loadConfig(cmd, o.configPath, false)
	labText := ""
	switch {
	case errors.Is(err, errNoConfig):
		l, err := lab.Start(ctx, log)
		if err != nil {
			return &ExitError{Code: ExitIncomplete, Err: fmt.Errorf("starting the embedded lab: %w", err)}
		}
		defer l.Close()
		f, labText = l.Config(), l.Describe()
		log.Info("no config file: running the embedded lab", "registry", l.RegistryURL())
	case err != nil:
		return err
	default:
		log.Info("config loaded", "path", path, "jobs", len(f.Jobs))
	}

	if err := os.MkdirAll(o.dataDir, 0o750); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--data %s: %w", o.dataDir, err)}
	}
	hist, err := store.Open(ctx, filepath.Join(o.dataDir, "history.db"))
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	defer hist.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(ServeCollectors()...)
	runners := map[string]*job.Runner{}
	var entries []schedule.Entry
	var views []web.JobView
	for i := range f.Jobs {
		j := &f.Jobs[i]
		jreg := prometheus.WrapRegistererWith(prometheus.Labels{"job": j.Name}, reg)
		r, err := newRunner(j, jreg, log)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		runners[j.Name] = r
		sched, _ := j.ParseSchedule() // validated
		entries = append(entries, schedule.Entry{Name: j.Name, Schedule: sched})
		views = append(views, web.JobView{Name: j.Name, Kind: j.Kind, Schedule: j.Schedule})
	}

	var sch *schedule.Scheduler
	runFn := func(ctx context.Context, name, trigger string) {
		res := app.serveRun(ctx, hist, runners[name], name, trigger, o.keepRuns)
		if !res.NextRunBy.IsZero() {
			sch.RunBy(name, res.NextRunBy)
		}
	}
	sch = schedule.New(entries, runFn, o.jitter, log)

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--listen %s: %w", o.listen, err)}
	}
	srv := &http.Server{
		Handler: web.New(web.Options{
			Jobs: views, Scheduler: sch, History: hist, Gatherer: reg,
			Lab: labText, Version: version(), Logger: log,
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	sch.Start()
	if labText != "" {
		// Show findings at once rather than at the first full minute.
		for _, e := range entries {
			_ = sch.Trigger(e.Name)
		}
	}
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(app.Stdout, "labops %s serving the status page at %s\n", version(), url)
	log.Info("serving", "url", url, "jobs", len(entries), "data", o.dataDir)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		log.Info("shutting down", "grace", o.grace)
	case err := <-errc:
		sch.Shutdown(o.grace)
		return &ExitError{Code: ExitIncomplete, Err: fmt.Errorf("status page server: %w", err)}
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	sch.Shutdown(o.grace)
	log.Info("stopped")
	return nil
}

// ServeCollectors are the collectors serve registers for itself, besides
// every job's runner and kind metrics (docs/ lists their metrics).
func ServeCollectors() []prometheus.Collector {
	return []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
}

// serveRun runs one job inside serve: a history row, a logger that also
// keeps the run's own log for the status page, the run, the result.
func (app *App) serveRun(ctx context.Context, hist *store.Store, r *job.Runner, name, trigger string, keep int) job.Result {
	// History writes must not be cut off by the run's cancellation.
	hctx := context.WithoutCancel(ctx)
	id, err := hist.Start(hctx, name, trigger, time.Now())
	if err != nil {
		app.Logger.Error("recording run start", "job", name, "err", err)
	}
	tail := &tailBuffer{max: 64 << 10}
	log := slog.New(slog.NewMultiHandler(
		app.Logger.Handler(),
		slog.NewTextHandler(tail, &slog.HandlerOptions{Level: slog.LevelDebug}),
	)).With("job", name, "run", id)
	log.Info("run started", "trigger", trigger)
	res := r.Run(ctx, log)
	log.Info("run finished", "result", res.Status, "duration", res.Duration.Round(time.Millisecond), "findings", len(res.Findings))
	if id != 0 {
		if err := hist.Finish(hctx, id, res, tail.String()); err != nil {
			app.Logger.Error("recording run result", "job", name, "err", err)
		}
		if err := hist.Prune(hctx, keep); err != nil {
			app.Logger.Error("pruning history", "err", err)
		}
	}
	return res
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
