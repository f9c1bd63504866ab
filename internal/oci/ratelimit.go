package oci

import (
	"context"
	"sync"
	"time"
)

// limiter spaces requests evenly at a fixed rate: each caller reserves the
// next free slot and sleeps until it. A nil limiter does not limit. It is
// hand-written to keep x/time out of the dependencies; one slot per
// request is all the registry check needs.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
	now      func() time.Time
}

// newLimiter returns a limiter for perSecond requests per second, or nil
// for perSecond <= 0 (unlimited).
func newLimiter(perSecond float64) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{interval: time.Duration(float64(time.Second) / perSecond), now: time.Now}
}

// wait blocks until the caller may send one request, or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	l.mu.Lock()
	now := l.now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(l.interval)
	l.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
