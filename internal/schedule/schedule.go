// Package schedule runs serve's jobs on their cron schedules: one loop per
// job, never two runs of one job at once, a small random delay so that jobs
// due at the same minute do not start together, "run now" triggers, and a
// shutdown that lets running jobs finish until a deadline, then cancels them.
package schedule

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// RunFunc runs the named job once; trigger is "schedule", "manual" or
// "requested" (a run asked for it through RunBy).
type RunFunc func(ctx context.Context, name, trigger string)

// Entry is one job to schedule. A nil Schedule means the job runs only
// when triggered.
type Entry struct {
	Name     string
	Schedule cron.Schedule
}

// Errors from Trigger.
var (
	ErrUnknownJob = errors.New("no such job")
	ErrRunning    = errors.New("the job is already running")
	ErrStopped    = errors.New("the scheduler is shutting down")
)

// Scheduler runs entries on their schedules.
type Scheduler struct {
	run    RunFunc
	log    *slog.Logger
	jitter time.Duration

	mu      sync.Mutex
	entries map[string]*entry
	order   []string
	stopped bool

	stop      chan struct{}
	jobCtx    context.Context
	cancelJob context.CancelFunc
	loops     sync.WaitGroup
	runs      sync.WaitGroup
}

type entry struct {
	Entry
	manual  chan struct{}
	hint    chan struct{} // runBy changed
	running bool
	next    time.Time
	runBy   time.Time // a run asked to run again by then (zero: none)
}

// New returns a scheduler for entries. jitter is the most a scheduled run
// is delayed past its due time (0 for none).
func New(entries []Entry, run RunFunc, jitter time.Duration, log *slog.Logger) *Scheduler {
	s := &Scheduler{run: run, log: log, jitter: jitter, entries: map[string]*entry{}, stop: make(chan struct{})}
	s.jobCtx, s.cancelJob = context.WithCancel(context.Background())
	for _, e := range entries {
		s.entries[e.Name] = &entry{Entry: e, manual: make(chan struct{}, 1), hint: make(chan struct{}, 1)}
		s.order = append(s.order, e.Name)
	}
	return s
}

// Start starts one loop per entry and returns at once.
func (s *Scheduler) Start() {
	for _, name := range s.order {
		e := s.entries[name]
		s.loops.Add(1)
		go s.loop(e)
	}
}

func (s *Scheduler) loop(e *entry) {
	defer s.loops.Done()
	for {
		var (
			due   <-chan time.Time
			timer *time.Timer
		)
		now := time.Now()
		var next time.Time
		if e.Schedule != nil {
			next = e.Schedule.Next(now)
			if s.jitter > 0 {
				next = next.Add(rand.N(s.jitter))
			}
		}
		trigger := "schedule"
		s.mu.Lock()
		if !e.runBy.IsZero() && (next.IsZero() || e.runBy.Before(next)) {
			next, trigger = e.runBy, "requested"
		}
		e.next = next
		s.mu.Unlock()
		if !next.IsZero() {
			timer = time.NewTimer(next.Sub(now))
			due = timer.C
		}
		rehint := false
		select {
		case <-s.stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-due:
		case <-e.manual:
			trigger = "manual"
		case <-e.hint:
			rehint = true
		}
		if timer != nil {
			timer.Stop()
		}
		if rehint {
			continue
		}
		if trigger == "requested" {
			s.mu.Lock()
			e.runBy = time.Time{}
			s.mu.Unlock()
		}
		if err := s.launch(e, trigger); err != nil {
			s.log.Warn("run skipped", "job", e.Name, "trigger", trigger, "reason", err.Error())
		}
	}
}

// launch starts a run of e unless one is going.
func (s *Scheduler) launch(e *entry, trigger string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if e.running {
		return ErrRunning
	}
	e.running = true
	s.runs.Add(1)
	go func() {
		defer s.runs.Done()
		defer func() {
			s.mu.Lock()
			e.running = false
			s.mu.Unlock()
		}()
		s.run(s.jobCtx, e.Name, trigger)
	}()
	return nil
}

// Trigger asks for a run of name now. It fails if the job is unknown or
// already running; the run itself starts asynchronously.
func (s *Scheduler) Trigger(name string) error {
	s.mu.Lock()
	e, ok := s.entries[name]
	switch {
	case !ok:
		s.mu.Unlock()
		return ErrUnknownJob
	case s.stopped:
		s.mu.Unlock()
		return ErrStopped
	case e.running:
		s.mu.Unlock()
		return ErrRunning
	}
	s.mu.Unlock()
	select {
	case e.manual <- struct{}{}:
	default: // a trigger is already pending
	}
	return nil
}

// RunBy asks for a run of name no later than t, besides its schedule (a
// job that knows when its input changes next, such as a secret's rotation,
// says so through its result). A later request replaces an earlier one;
// a time already past runs the job at once.
func (s *Scheduler) RunBy(name string, t time.Time) {
	s.mu.Lock()
	e, ok := s.entries[name]
	if !ok || s.stopped {
		s.mu.Unlock()
		return
	}
	e.runBy = t
	s.mu.Unlock()
	select {
	case e.hint <- struct{}{}:
	default: // the loop has a hint to pick up already
	}
}

// State is what the status page shows of one entry.
type State struct {
	Running bool
	Next    time.Time // zero when the job has no schedule
}

// State returns the current state of name.
func (s *Scheduler) State(name string) State {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	if !ok {
		return State{}
	}
	return State{Running: e.running, Next: e.next}
}

// Shutdown stops scheduling, waits up to grace for running jobs to finish,
// then cancels them and waits for them to return.
func (s *Scheduler) Shutdown(grace time.Duration) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	close(s.stop)
	s.mu.Unlock()
	s.loops.Wait()
	done := make(chan struct{})
	go func() { s.runs.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("cancelling running jobs: shutdown grace period is over", "grace", grace)
		s.cancelJob()
		<-done
	}
	s.cancelJob()
}
