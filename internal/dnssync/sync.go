package dnssync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/labops/labops/internal/job"
)

// SyncOptions configure one sync run.
type SyncOptions struct {
	Source  Provider
	Targets []Provider
	// Zones limits the sync to these zones (canonical names); empty means
	// every zone the source serves.
	Zones []string
	Plan  PlanOptions
	// Apply carries the plan out; without it the run only checks.
	Apply  bool
	Logger *slog.Logger
	Now    func() time.Time
}

// SyncReport is what a sync run saw, planned and did.
type SyncReport struct {
	Source string `json:"source"`
	// SourceZones are the zones in scope, with the source's serials.
	SourceZones []ZoneInfo   `json:"source_zones"`
	Targets     []TargetPlan `json:"targets"`
	Apply       bool         `json:"apply"`
	// Applied is set when the plan was carried out (and verified).
	Applied  bool          `json:"applied"`
	Refused  bool          `json:"refused"`
	Findings []job.Finding `json:"findings"`
	// Failures counts the server errors of the run.
	Failures int           `json:"failures"`
	Status   job.Status    `json:"status"`
	Error    string        `json:"error,omitempty"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	// zoneCounts are the zones each server serves, for metrics.
	zoneCounts map[string]int
}

func (r *SyncReport) find(kind, subject, format string, args ...any) {
	r.Findings = append(r.Findings, job.Finding{Kind: kind, Subject: subject, Message: fmt.Sprintf(format, args...)})
}

// Sync gathers the source's and each target's zones, plans, and with
// Apply carries the plan out and plans again to prove the targets equal.
// Any server error makes the run fail (incomplete when the source or a
// target could not be read at all); drift in a check-only run, or a plan
// the brake refused, makes it failed.
func Sync(ctx context.Context, o SyncOptions) *SyncReport {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	rep := &SyncReport{Source: o.Source.Name(), Apply: o.Apply, Started: o.Now(), Findings: []job.Finding{},
		Targets: []TargetPlan{}, zoneCounts: map[string]int{}}
	defer func() { rep.Duration = o.Now().Sub(rep.Started) }()

	src, zones, err := readSource(ctx, o)
	if err != nil {
		rep.Failures++
		rep.Status, rep.Error = job.StatusIncomplete, err.Error()
		rep.find("server-error", o.Source.Name(), "%v", err)
		return rep
	}
	rep.SourceZones = zones
	rep.zoneCounts[o.Source.Name()] = len(zones)

	plans := make([]TargetPlan, len(o.Targets))
	incomplete := false
	for i, t := range o.Targets {
		plans[i] = planTarget(ctx, t, src, o, rep)
		if plans[i].Error != "" {
			incomplete = true
		}
	}
	for _, p := range plans {
		rep.Refused = rep.Refused || p.Refused
		for _, z := range p.Zones {
			if z.Refused != "" {
				rep.find("brake", p.Target+"/"+z.Zone, "%s", z.Refused)
			}
		}
	}
	rep.Targets = plans
	switch {
	case incomplete:
		rep.Status = job.StatusIncomplete
		rep.Error = "a server could not be read; nothing was changed"
		return rep
	case rep.Refused:
		rep.Status = job.StatusFailed
		rep.Error = "the change brake refused the plan; nothing was changed (use --force after reading it)"
		return rep
	}
	drift := false
	for _, p := range plans {
		drift = drift || !p.Empty()
	}
	if !o.Apply {
		rep.Status = job.StatusOK
		if drift {
			rep.Status = job.StatusFailed
			for _, p := range plans {
				for _, z := range p.Zones {
					if z.Action != ZoneInSync {
						rep.find("drift", p.Target+"/"+z.Zone, "%s: %d to add, %d to change, %d to delete", z.Action, len(z.Add), len(z.Change), len(z.Delete))
					}
				}
			}
		}
		return rep
	}
	failed := false
	for i, t := range o.Targets {
		if err := applyTarget(ctx, t, plans[i], o.Logger); err != nil {
			failed = true
			rep.Failures++
			rep.find("apply-failed", t.Name(), "%v", err)
		}
	}
	// Prove it: plan again; it must be empty.
	for i, t := range o.Targets {
		if plans[i].Empty() {
			continue
		}
		again := planTarget(ctx, t, src, o, rep)
		if again.Error != "" {
			failed = true
			continue
		}
		if !again.Empty() {
			failed = true
			r, z := again.Drift()
			rep.find("still-drifting", t.Name(), "after applying, %d records and %d zones still differ", r, z)
		}
	}
	rep.Applied = true
	rep.Status = job.StatusOK
	if failed {
		rep.Status = job.StatusFailed
		rep.Error = "applying the plan failed"
	}
	return rep
}

// readSource reads every zone in scope from the source.
func readSource(ctx context.Context, o SyncOptions) (map[string][]Record, []ZoneInfo, error) {
	zs, err := o.Source.Zones(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("listing zones: %w", err)
	}
	var scope []ZoneInfo
	for _, z := range zs {
		if len(o.Zones) == 0 || slices.Contains(o.Zones, z.Name) {
			scope = append(scope, z)
		}
	}
	for _, want := range o.Zones {
		if !slices.ContainsFunc(zs, func(z ZoneInfo) bool { return z.Name == want }) {
			return nil, nil, fmt.Errorf("zone %s: the source does not serve it", want)
		}
	}
	src := map[string][]Record{}
	for _, z := range scope {
		rs, err := o.Source.Records(ctx, z.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("reading zone %s: %w", z.Name, err)
		}
		if _, ok := SOASerial(rs); !ok {
			return nil, nil, fmt.Errorf("zone %s: no SOA", z.Name)
		}
		src[z.Name] = rs
	}
	return src, scope, nil
}

// planTarget reads a target's zones and plans it. A read error becomes
// the plan's Error and a finding.
func planTarget(ctx context.Context, t Provider, src map[string][]Record, o SyncOptions, rep *SyncReport) TargetPlan {
	fail := func(err error) TargetPlan {
		rep.Failures++
		rep.find("server-error", t.Name(), "%v", err)
		return TargetPlan{Target: t.Name(), Zones: []ZonePlan{}, Error: err.Error()}
	}
	zs, err := t.Zones(ctx)
	if err != nil {
		return fail(fmt.Errorf("listing zones: %w", err))
	}
	rep.zoneCounts[t.Name()] = len(zs)
	tgt := map[string][]Record{}
	for _, z := range zs {
		if _, inScope := src[z.Name]; !inScope {
			if !o.Plan.PruneZones || len(o.Zones) > 0 {
				continue
			}
		}
		rs, err := t.Records(ctx, z.Name)
		if err != nil {
			return fail(fmt.Errorf("reading zone %s: %w", z.Name, err))
		}
		tgt[z.Name] = rs
	}
	po := o.Plan
	if len(o.Zones) > 0 {
		po.PruneZones = false // an explicit zone list never removes others
	}
	return PlanSync(t.Name(), src, tgt, po)
}

// applyTarget carries out one target's plan, zone by zone; it stops at
// the first error.
func applyTarget(ctx context.Context, t Provider, p TargetPlan, log *slog.Logger) error {
	for _, z := range p.Zones {
		switch z.Action {
		case ZoneInSync:
			continue
		case ZoneRemove:
			if err := t.DeleteZone(ctx, z.Zone); err != nil {
				return fmt.Errorf("removing zone %s: %w", z.Zone, err)
			}
		case ZoneCreate:
			if z.SOA == nil {
				return fmt.Errorf("creating zone %s: the source has no SOA", z.Zone)
			}
			if err := t.CreateZone(ctx, z.Zone, *z.SOA); err != nil {
				if errors.Is(err, ErrUnsupported) {
					return fmt.Errorf("creating zone %s on %s: %w (create it on the server, then sync)", z.Zone, t.Name(), err)
				}
				return fmt.Errorf("creating zone %s: %w", z.Zone, err)
			}
			fallthrough
		default:
			if err := t.Apply(ctx, z.Zone, z.Sets); err != nil {
				return fmt.Errorf("zone %s: %w", z.Zone, err)
			}
		}
		log.Info("dns sync applied", "target", t.Name(), "zone", z.Zone, "action", z.Action,
			"add", len(z.Add), "change", len(z.Change), "delete", len(z.Delete))
	}
	return nil
}

// Result turns the report into the job contract's result.
func (r *SyncReport) Result() job.Result {
	res := job.Result{Status: r.Status, Findings: r.Findings, Error: r.Error, Started: r.Started, Duration: r.Duration,
		Counters: map[string]float64{"failures": float64(r.Failures)}}
	var recs, zones int
	for _, p := range r.Targets {
		a, b := p.Drift()
		recs += a
		zones += b
	}
	res.Counters["drift_records"] = float64(recs)
	res.Counters["drift_zones"] = float64(zones)
	return res
}
