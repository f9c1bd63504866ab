package schedule

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labops/labops/internal/config"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func every(t *testing.T, spec string) Entry {
	t.Helper()
	s, err := config.CronParser.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return Entry{Name: spec, Schedule: s}
}

func TestRunsOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		e := every(t, "* * * * *")
		s := New([]Entry{e}, func(ctx context.Context, name, trigger string) { rec.add(name + "/" + trigger) }, 0, quiet())
		s.Start()
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		s.Shutdown(time.Second)
		want := []string{"* * * * */schedule", "* * * * */schedule", "* * * * */schedule"}
		if diff := cmp.Diff(want, rec.get()); diff != "" {
			t.Errorf("runs (-want +got):\n%s", diff)
		}
	})
}

func TestNoOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		e := every(t, "* * * * *")
		// Each run takes 150 s, so the runs due while it goes are skipped.
		s := New([]Entry{e}, func(ctx context.Context, name, trigger string) {
			rec.add(trigger)
			select {
			case <-time.After(150 * time.Second):
			case <-ctx.Done():
			}
		}, 0, quiet())
		s.Start()
		time.Sleep(4*time.Minute + time.Second)
		synctest.Wait()
		if err := s.Trigger(e.Name); err != ErrRunning {
			t.Errorf("Trigger while running = %v, want ErrRunning", err)
		}
		s.Shutdown(time.Hour)
		// Due at 1, 2, 3, 4 minutes: 1 runs until 3:30, 2 and 3 are skipped, 4 runs.
		if got := len(rec.get()); got != 2 {
			t.Errorf("got %d runs, want 2 (no overlapping runs): %v", got, rec.get())
		}
	})
}

func TestTriggerManualOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s := New([]Entry{{Name: "manual"}}, func(ctx context.Context, name, trigger string) { rec.add(name + "/" + trigger) }, 0, quiet())
		s.Start()
		time.Sleep(time.Hour)
		if len(rec.get()) != 0 {
			t.Fatalf("a job without schedule ran by itself: %v", rec.get())
		}
		if err := s.Trigger("manual"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err := s.Trigger("nope"); err != ErrUnknownJob {
			t.Errorf("Trigger(unknown) = %v, want ErrUnknownJob", err)
		}
		s.Shutdown(time.Second)
		if diff := cmp.Diff([]string{"manual/manual"}, rec.get()); diff != "" {
			t.Errorf("runs (-want +got):\n%s", diff)
		}
		if err := s.Trigger("manual"); err != ErrStopped {
			t.Errorf("Trigger after shutdown = %v, want ErrStopped", err)
		}
	})
}

func TestShutdownLetsRunFinishWithinGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s := New([]Entry{{Name: "j"}}, func(ctx context.Context, name, trigger string) {
			select {
			case <-time.After(10 * time.Second):
				rec.add("finished")
			case <-ctx.Done():
				rec.add("cancelled")
			}
		}, 0, quiet())
		s.Start()
		_ = s.Trigger("j")
		synctest.Wait()
		s.Shutdown(30 * time.Second)
		if diff := cmp.Diff([]string{"finished"}, rec.get()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func TestShutdownCancelsAfterGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s := New([]Entry{{Name: "j"}}, func(ctx context.Context, name, trigger string) {
			select {
			case <-time.After(time.Hour):
				rec.add("finished")
			case <-ctx.Done():
				rec.add("cancelled")
			}
		}, 0, quiet())
		s.Start()
		_ = s.Trigger("j")
		synctest.Wait()
		start := time.Now()
		s.Shutdown(5 * time.Second)
		if took := time.Since(start); took != 5*time.Second {
			t.Errorf("shutdown took %s of fake time, want the 5s grace", took)
		}
		if diff := cmp.Diff([]string{"cancelled"}, rec.get()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func TestJitterDelaysWithinBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Time
		e := every(t, "@hourly")
		s := New([]Entry{e}, func(ctx context.Context, name, trigger string) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
		}, 30*time.Second, quiet())
		s.Start()
		time.Sleep(5*time.Hour + time.Minute)
		synctest.Wait()
		s.Shutdown(time.Second)
		mu.Lock()
		defer mu.Unlock()
		if len(at) != 5 {
			t.Fatalf("got %d runs in 5 hours, want 5", len(at))
		}
		for _, ts := range at {
			off := ts.Sub(ts.Truncate(time.Hour))
			if off < 0 || off >= 30*time.Second {
				t.Errorf("run at %s is %s past the hour, want [0, 30s)", ts, off)
			}
		}
	})
}

// A run may ask to run again sooner than its schedule (a secret rotating
// in 90 s on an hourly job): the loop runs it then, once, and goes back to
// the schedule.
func TestRunByRunsBeforeTheSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		e := every(t, "0 * * * *")
		var s *Scheduler
		start := time.Now()
		s = New([]Entry{e}, func(ctx context.Context, name, trigger string) {
			rec.add(trigger + "@" + time.Since(start).Round(time.Second).String())
			if trigger == "manual" {
				s.RunBy(name, time.Now().Add(90*time.Second))
			}
		}, 0, quiet())
		s.Start()
		if err := s.Trigger(e.Name); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2*time.Hour + time.Second)
		synctest.Wait()
		s.Shutdown(time.Second)
		// Synctest's clock starts at midnight 2000-01-01 UTC: hourly runs at 1h and 2h.
		want := []string{"manual@0s", "requested@1m30s", "schedule@1h0m0s", "schedule@2h0m0s"}
		if diff := cmp.Diff(want, rec.get()); diff != "" {
			t.Errorf("runs (-want +got):\n%s", diff)
		}
	})
}

// A job without a schedule (run on demand only) still honours RunBy.
func TestRunByWithoutSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s := New([]Entry{{Name: "x"}}, func(ctx context.Context, name, trigger string) { rec.add(trigger) }, 0, quiet())
		s.Start()
		s.RunBy("x", time.Now().Add(time.Minute))
		s.RunBy("nope", time.Now()) // unknown: ignored
		time.Sleep(time.Hour)
		synctest.Wait()
		s.Shutdown(time.Second)
		if diff := cmp.Diff([]string{"requested"}, rec.get()); diff != "" {
			t.Errorf("runs (-want +got):\n%s", diff)
		}
	})
}
