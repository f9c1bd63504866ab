// Package web serves labops serve's status page: every job with its last
// result, next run and recent history, each run's findings and log tail, and
// a "run now" button; plus /healthz and /metrics. Pages are html/template
// files embedded in the binary; the one POST is behind
// http.CrossOriginProtection.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/labops/labops/internal/schedule"
	"github.com/labops/labops/internal/store"
)

// JobView is what the page knows of one configured job.
type JobView struct {
	Name, Kind string
	Schedule   string // cron expression; "" means manual only
}

// Scheduler is the part of schedule.Scheduler the page uses.
type Scheduler interface {
	State(name string) schedule.State
	Trigger(name string) error
}

// History is the part of store.Store the page reads.
type History interface {
	Recent(ctx context.Context, job string, limit int) ([]store.Run, error)
	Get(ctx context.Context, id int64) (store.Run, error)
}

var (
	_ Scheduler = (*schedule.Scheduler)(nil)
	_ History   = (*store.Store)(nil)
)

// Options configures the handler New returns.
type Options struct {
	Jobs      []JobView
	Scheduler Scheduler
	History   History
	Gatherer  prometheus.Gatherer // served at /metrics; nil serves no /metrics
	// Lab is non-empty when serve runs the embedded lab: a sentence that
	// describes it, shown under an "Embedded lab" banner on every page.
	Lab     string
	Version string
	Logger  *slog.Logger
	// Now is the clock for "2m ago"; nil means time.Now.
	Now func() time.Time
}

// How much history the pages show.
const (
	stripRuns   = 20 // coloured squares per job on the index
	jobPageRuns = 50 // rows on a job's page
	indexFinds  = 10 // findings per job on the index before "and N more"
	refreshSecs = 5  // auto-refresh of the index and job pages
)

// contentSecurityPolicy allows only the embedded stylesheet: the pages
// need no script, no inline style and no third-party anything.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

//go:embed templates/*.html static/*
var files embed.FS

type server struct {
	opts  Options
	jobs  map[string]JobView
	log   *slog.Logger
	now   func() time.Time
	pages map[string]*template.Template
}

// New returns the status page handler with every route, wrapped in
// cross-origin protection and security headers.
func New(o Options) http.Handler {
	s := &server{
		opts:  o,
		jobs:  make(map[string]JobView, len(o.Jobs)),
		log:   o.Logger,
		now:   o.Now,
		pages: parsePages(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, j := range o.Jobs {
		s.jobs[j.Name] = j
	}

	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /jobs/{name}", s.jobPage)
	mux.HandleFunc("POST /jobs/{name}/run", s.runNow)
	mux.HandleFunc("GET /runs/{id}", s.runPage)
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	if o.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	}
	return securityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

func parsePages() map[string]*template.Template {
	pages := map[string]*template.Template{}
	for _, name := range []string{"index", "job", "run", "message"} {
		pages[name] = template.Must(template.New(name).ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// render executes page into a buffer first, so that a template error
// becomes a clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("rendering status page", "page", page, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// message renders a short page that explains an error or refusal.
func (s *server) message(w http.ResponseWriter, status int, title, text, backHref, backText string) {
	s.render(w, status, "message", messagePage{
		layout:   s.layout(title, 0),
		Text:     text,
		BackHref: backHref,
		BackText: backText,
	})
}

func (s *server) failed(w http.ResponseWriter, what string, err error) {
	s.log.Error("status page: reading history", "what", what, "err", err)
	s.message(w, http.StatusInternalServerError, "Something went wrong",
		"labops could not read "+what+" from its run history. The server log has the details.", "/", "Back to all jobs")
}

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	p := indexPage{layout: s.layout("labops", refreshSecs)}
	for _, j := range s.opts.Jobs {
		runs, err := s.opts.History.Recent(r.Context(), j.Name, stripRuns)
		if err != nil {
			s.failed(w, "the history of "+j.Name, err)
			return
		}
		row := s.jobRow(j, runs, now)
		p.Jobs = append(p.Jobs, row)
		if done, ok := lastDone(runs); ok && len(done.Findings) > 0 {
			f := findingsBlock{Job: j.Name, RunID: done.ID, Started: timeAt(done.Started, now), Total: len(done.Findings)}
			f.Findings = done.Findings
			if len(f.Findings) > indexFinds {
				f.Findings, f.More = f.Findings[:indexFinds], len(done.Findings)-indexFinds
			}
			p.Findings = append(p.Findings, f)
		}
	}
	s.render(w, http.StatusOK, "index", p)
}

func (s *server) jobPage(w http.ResponseWriter, r *http.Request) {
	j, ok := s.jobs[r.PathValue("name")]
	if !ok {
		s.message(w, http.StatusNotFound, "No such job",
			"There is no job named “"+r.PathValue("name")+"” in this labops.", "/", "Back to all jobs")
		return
	}
	now := s.now()
	runs, err := s.opts.History.Recent(r.Context(), j.Name, jobPageRuns)
	if err != nil {
		s.failed(w, "the history of "+j.Name, err)
		return
	}
	p := jobPage{layout: s.layout(j.Name+" · labops", refreshSecs), Job: s.jobRow(j, runs, now)}
	if done, ok := lastDone(runs); ok {
		v := runDetail(done, now)
		p.Latest = &v
	}
	for _, run := range runs {
		p.Runs = append(p.Runs, runRow(run, now))
	}
	s.render(w, http.StatusOK, "job", p)
}

func (s *server) runPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.message(w, http.StatusNotFound, "No such run",
			"“"+r.PathValue("id")+"” is not a run number.", "/", "Back to all jobs")
		return
	}
	run, err := s.opts.History.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.message(w, http.StatusNotFound, "No such run",
			"Run "+strconv.FormatInt(id, 10)+" is not in the history (old runs are pruned).", "/", "Back to all jobs")
		return
	}
	if err != nil {
		s.failed(w, "run "+strconv.FormatInt(id, 10), err)
		return
	}
	refresh := 0
	if run.Status == store.StatusRunning {
		refresh = refreshSecs
	}
	p := runPage{layout: s.layout(run.Job+" run "+strconv.FormatInt(id, 10)+" · labops", refresh), Run: runDetail(run, s.now())}
	s.render(w, http.StatusOK, "run", p)
}

func (s *server) runNow(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	jobHref := "/jobs/" + url.PathEscape(name)
	if _, ok := s.jobs[name]; !ok {
		s.message(w, http.StatusNotFound, "No such job",
			"There is no job named “"+name+"” in this labops.", "/", "Back to all jobs")
		return
	}
	err := s.opts.Scheduler.Trigger(name)
	switch {
	case err == nil:
		s.log.Info("run requested from the status page", "job", name)
		http.Redirect(w, r, jobHref, http.StatusSeeOther)
	case errors.Is(err, schedule.ErrRunning):
		s.message(w, http.StatusConflict, name+" is already running",
			"A run of "+name+" is in progress, so labops did not start another. Its result will appear on the job page when it finishes.",
			jobHref, "Back to "+name)
	case errors.Is(err, schedule.ErrUnknownJob):
		s.message(w, http.StatusNotFound, "No such job",
			"The scheduler does not know a job named “"+name+"”.", "/", "Back to all jobs")
	case errors.Is(err, schedule.ErrStopped):
		s.message(w, http.StatusServiceUnavailable, "labops is shutting down",
			"labops is stopping and starts no new runs.", jobHref, "Back to "+name)
	default:
		s.log.Error("status page: triggering a run", "job", name, "err", err)
		s.message(w, http.StatusInternalServerError, "Could not start "+name, "The server log has the details.", jobHref, "Back to "+name)
	}
}
