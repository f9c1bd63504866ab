package oci

import (
	"context"
	"testing"
	"time"
)

// TestLimiterSlots checks the slot arithmetic with a frozen clock; the
// interval is a microsecond so that the real sleeps are negligible.
func TestLimiterSlots(t *testing.T) {
	t.Parallel()
	l := newLimiter(1e6)
	t0 := time.Now()
	l.now = func() time.Time { return t0 }
	for range 5 {
		if err := l.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if want := t0.Add(5 * time.Microsecond); !l.next.Equal(want) {
		t.Errorf("next slot %v after 5 waits, want %v", l.next.Sub(t0), want.Sub(t0))
	}
	if newLimiter(0) != nil || newLimiter(-1) != nil {
		t.Error("a rate of 0 or less must mean no limiter")
	}
	var unlimited *limiter
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := unlimited.wait(ctx); err == nil {
		t.Error("wait on a cancelled context returned nil")
	}
	slow := newLimiter(0.001) // one request per 1000 s: the second waits
	slow.wait(t.Context())
	if err := slow.wait(ctx); err == nil {
		t.Error("a waiting request ignored its cancelled context")
	}
}
