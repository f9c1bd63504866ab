package dispatch

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gauges of the last dispatch and reaper passes. They carry
// no job label: serve wraps the registerer with one.
type Metrics struct {
	Waiting, Dispatched, Failed, Reaped, AgentBusy, ClaimConflicts prometheus.Gauge
}

func gauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

// NewMetrics registers the gauges of one kind with reg (nil: unregistered):
// the reaper's (reaped, failed) when reap is true, else the dispatcher's.
// Gauges already registered are reused (both kinds share "failed").
func NewMetrics(reg prometheus.Registerer, reap bool) (*Metrics, error) {
	m := &Metrics{
		Waiting:        gauge("labops_dispatch_issues_waiting", "Queued issues left waiting after the last dispatch pass."),
		Dispatched:     gauge("labops_dispatch_dispatched", "Issues the last dispatch pass handed to the agent service."),
		Failed:         gauge("labops_dispatch_failed", "Issues whose dispatch, undo or reaping failed in the last pass."),
		Reaped:         gauge("labops_dispatch_reaped", "Stale issues the last reaper pass blocked."),
		AgentBusy:      gauge("labops_dispatch_agent_busy", "Whether the agent service had no free slot at the last dispatch pass (1) or not (0)."),
		ClaimConflicts: gauge("labops_dispatch_claim_conflicts", "Claims the last dispatch pass lost to another claimer."),
	}
	if reg == nil {
		return m, nil
	}
	mine := []*prometheus.Gauge{&m.Waiting, &m.Dispatched, &m.Failed, &m.AgentBusy, &m.ClaimConflicts}
	if reap {
		mine = []*prometheus.Gauge{&m.Reaped, &m.Failed}
	}
	for _, g := range mine {
		if err := reg.Register(*g); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("registering dispatch metrics: %w", err)
			}
			*g = are.ExistingCollector.(prometheus.Gauge)
		}
	}
	return m, nil
}

// kindMetrics is job.Kind.Metrics for the dispatcher (reap false) or the
// reaper: what NewMetrics registers for it.
func kindMetrics(reap bool) func(reg prometheus.Registerer) error {
	return func(reg prometheus.Registerer) error {
		_, err := NewMetrics(reg, reap)
		return err
	}
}

// ObserveRun records a dispatch pass. A suspended pass, or one that could
// not reach the agent, still counts the queue: a backlog does not vanish
// because dispatch stopped.
func (m *Metrics) ObserveRun(r *RunReport) {
	m.Waiting.Set(float64(r.Waiting))
	if r.Suspended != "" {
		return
	}
	m.Dispatched.Set(float64(len(r.Dispatched)))
	m.Failed.Set(float64(len(r.Failed)))
	m.ClaimConflicts.Set(float64(r.ClaimConflicts))
	busy := 0.0
	if r.AgentBusy {
		busy = 1
	}
	m.AgentBusy.Set(busy)
}

// ObserveReap records a reaper pass.
func (m *Metrics) ObserveReap(r *ReapReport) {
	if r.Suspended != "" {
		return
	}
	m.Reaped.Set(float64(len(r.Reaped)))
	m.Failed.Set(float64(len(r.Failed)))
}
