package web

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labops/labops/internal/job"
	"github.com/labops/labops/internal/store"
)

// The view types hold every string a template shows, computed here so that
// templates only place them and the formatting is tested in Go.

type layout struct {
	Title   string
	Lab     string
	Version string
	Refresh int // seconds; 0 for none
}

func (s *server) layout(title string, refresh int) layout {
	return layout{Title: title, Lab: s.opts.Lab, Version: s.opts.Version, Refresh: refresh}
}

type indexPage struct {
	layout
	Jobs     []jobView
	Findings []findingsBlock
}

type jobPage struct {
	layout
	Job    jobView
	Latest *runView // the newest finished run, if any
	Runs   []runView
}

type runPage struct {
	layout
	Run runView
}

type messagePage struct {
	layout
	Text               string
	BackHref, BackText string
}

// jobView is one job's row on the index and header on its page.
type jobView struct {
	Name, Kind, Schedule string
	Done                 runView // the newest finished run; ID 0 when none
	Next                 timeView
	Running              bool
	RunningID            int64 // the run going now, when history has it
	Strip                []runView
}

// runView is one run, formatted.
type runView struct {
	ID       int64
	Job      string
	Status   string // status word: ok, failed, incomplete, running, never run
	Class    string // CSS class for the colour
	Trigger  string
	Started  timeView
	Duration string
	Error    string
	Findings []job.Finding
	Count    int // len(Findings), for the run rows
	Counters []counter
	Log      string
	Running  bool
}

type counter struct{ Name, Value string }

// timeView is an instant as UTC text, as "2m ago" / "in 3m", and as the
// machine-readable datetime attribute.
type timeView struct {
	UTC, Rel, ISO string
}

func (t timeView) IsZero() bool { return t.ISO == "" }

// findingsBlock is the index's excerpt of one job's latest findings.
type findingsBlock struct {
	Job      string
	RunID    int64
	Started  timeView
	Total    int
	Findings []job.Finding
	More     int
}

func (s *server) jobRow(j JobView, runs []store.Run, now time.Time) jobView {
	st := s.opts.Scheduler.State(j.Name)
	v := jobView{
		Name:     j.Name,
		Kind:     j.Kind,
		Schedule: j.Schedule,
		Next:     timeAt(st.Next, now),
		Running:  st.Running,
		Done:     runView{Status: "never run", Class: "never"},
	}
	if len(runs) > 0 && runs[0].Status == store.StatusRunning {
		v.Running, v.RunningID = true, runs[0].ID
	}
	if done, ok := lastDone(runs); ok {
		v.Done = runRow(done, now)
	}
	for _, r := range slices.Backward(runs) { // oldest left, newest right
		v.Strip = append(v.Strip, runRow(r, now))
	}
	return v
}

// lastDone returns the newest run that has finished.
func lastDone(runs []store.Run) (store.Run, bool) {
	for _, r := range runs {
		if r.Status != store.StatusRunning {
			return r, true
		}
	}
	return store.Run{}, false
}

// runRow formats the summary of r; runDetail adds findings, counters and log.
func runRow(r store.Run, now time.Time) runView {
	v := runView{
		ID:       r.ID,
		Job:      r.Job,
		Status:   string(r.Status),
		Class:    statusClass(r.Status),
		Trigger:  r.Trigger,
		Started:  timeAt(r.Started, now),
		Duration: duration(r.Duration),
		Error:    r.Error,
		Count:    len(r.Findings),
		Running:  r.Status == store.StatusRunning,
	}
	if v.Running {
		v.Duration = duration(now.Sub(r.Started)) + " so far"
	}
	return v
}

func runDetail(r store.Run, now time.Time) runView {
	v := runRow(r, now)
	v.Findings = r.Findings
	for name, val := range r.Counters {
		v.Counters = append(v.Counters, counter{Name: name, Value: strconv.FormatFloat(val, 'f', -1, 64)})
	}
	slices.SortFunc(v.Counters, func(a, b counter) int { return strings.Compare(a.Name, b.Name) })
	v.Log = logTail(r.Log)
	return v
}

func statusClass(s job.Status) string {
	switch s {
	case job.StatusOK:
		return "ok"
	case job.StatusFailed:
		return "failed"
	case job.StatusIncomplete:
		return "incomplete"
	case store.StatusRunning:
		return "running"
	default:
		return "never"
	}
}

// maxLog bounds the log shown on a run page; the store already keeps only
// a tail, this guards the browser against a huge one.
const maxLog = 64 << 10

func logTail(s string) string {
	if len(s) <= maxLog {
		return s
	}
	s = s[len(s)-maxLog:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "… (earlier lines cut)\n" + s
}

func timeAt(t, now time.Time) timeView {
	if t.IsZero() {
		return timeView{}
	}
	return timeView{
		UTC: t.UTC().Format("2006-01-02 15:04:05Z"),
		ISO: t.UTC().Format(time.RFC3339),
		Rel: relative(t, now),
	}
}

// relative says how far t is from now in one rounded unit: "2m ago", "in 3h".
func relative(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var n string
	switch {
	case d < 5*time.Second && !future:
		return "just now"
	case d < time.Minute:
		n = strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		n = strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		n = strconv.Itoa(int(d/time.Hour)) + "h"
	default:
		n = strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	if future {
		return "in " + n
	}
	return n + " ago"
}

// duration rounds d to what a reader cares about: 340ms, 1.2s, 2m5s.
func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
