package dnssync

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/labops/labops/internal/job"
)

// ReadyServer is one server the gate checks: its provider and the address
// its DNS service answers on.
type ReadyServer struct {
	Provider Provider
	DNS      string
}

// ReadyOptions configure one run of the gate.
type ReadyOptions struct {
	// Servers are compared with the first (the reference, usually the
	// primary).
	Servers []ReadyServer
	// Zones limits the comparison; empty means every zone any server has.
	Zones []string
	// Override, when not empty, passes a failing gate and records why.
	Override string
	// QueryTimeout bounds each DNS query (default 5s).
	QueryTimeout time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
}

// ZoneState is one zone on one server.
type ZoneState struct {
	Serial      uint32 `json:"serial"`
	Fingerprint string `json:"fingerprint"`
	Records     int    `json:"records"`
	// Differ counts the records that differ from the reference server's.
	Differ int `json:"differ_from_reference,omitempty"`
}

// ServerState is what the gate saw of one server.
type ServerState struct {
	Name  string               `json:"name"`
	Up    bool                 `json:"up"`
	Error string               `json:"error,omitempty"`
	Zones map[string]ZoneState `json:"zones"`
}

// ReadyReport is the gate's verdict.
type ReadyReport struct {
	Servers []ServerState `json:"servers"`
	Zones   []string      `json:"zones"`
	// SerialLag is the largest difference between two servers' serials of
	// one zone.
	SerialLag uint32        `json:"serial_lag"`
	Ready     bool          `json:"ready"`
	Override  string        `json:"override,omitempty"`
	Findings  []job.Finding `json:"findings"`
	Status    job.Status    `json:"status"`
	Started   time.Time     `json:"started"`
	Duration  time.Duration `json:"duration"`
}

func (r *ReadyReport) find(kind, subject, format string, args ...any) {
	r.Findings = append(r.Findings, job.Finding{Kind: kind, Subject: subject, Message: fmt.Sprintf(format, args...)})
}

// Ready checks that every server answers (its API or health endpoint, and
// DNS queries for each zone), serves the same zones, and holds each zone
// with the same SOA serial and the same records (by fingerprint, not
// count). An unreachable server is a failure, never "equal".
func Ready(ctx context.Context, o ReadyOptions) *ReadyReport {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 5 * time.Second
	}
	rep := &ReadyReport{Started: o.Now(), Findings: []job.Finding{}, Override: o.Override}
	defer func() { rep.Duration = o.Now().Sub(rep.Started) }()
	records := make([]map[string][]Record, len(o.Servers))
	for i, s := range o.Servers {
		st := ServerState{Name: s.Provider.Name(), Zones: map[string]ZoneState{}}
		records[i] = map[string][]Record{}
		if err := readyServer(ctx, s, o, &st, records[i], rep); err != nil {
			st.Error = err.Error()
			rep.find("unreachable", st.Name, "%v", err)
		} else {
			st.Up = true
		}
		rep.Servers = append(rep.Servers, st)
	}
	// The zones compared: configured, or every zone any server has.
	zones := slices.Clone(o.Zones)
	if len(zones) == 0 {
		for _, st := range rep.Servers {
			for z := range st.Zones {
				zones = append(zones, z)
			}
		}
	}
	slices.Sort(zones)
	rep.Zones = slices.Compact(zones)
	for _, zone := range rep.Zones {
		var ref *ServerState
		var refRecs []Record
		var lo, hi uint32
		seen := false
		for i := range rep.Servers {
			st := &rep.Servers[i]
			if !st.Up {
				continue
			}
			zs, ok := st.Zones[zone]
			if !ok {
				rep.find("zone-missing", st.Name+"/"+zone, "%s does not serve %s", st.Name, zone)
				continue
			}
			if !seen {
				lo, hi, seen = zs.Serial, zs.Serial, true
			}
			lo, hi = min(lo, zs.Serial), max(hi, zs.Serial)
			if ref == nil {
				ref, refRecs = st, records[i][zone]
				continue
			}
			if zs.Serial != ref.Zones[zone].Serial {
				rep.find("serial-mismatch", st.Name+"/"+zone, "serial %d, %s has %d", zs.Serial, ref.Name, ref.Zones[zone].Serial)
			}
			if zs.Fingerprint != ref.Zones[zone].Fingerprint {
				zs.Differ = recordDiff(refRecs, records[i][zone])
				st.Zones[zone] = zs
				rep.find("content-mismatch", st.Name+"/"+zone, "%d record(s) differ from %s (fingerprint %s, %s has %s)",
					zs.Differ, ref.Name, zs.Fingerprint, ref.Name, ref.Zones[zone].Fingerprint)
			}
		}
		rep.SerialLag = max(rep.SerialLag, hi-lo)
	}
	rep.Ready = len(rep.Findings) == 0
	rep.Status = job.StatusOK
	if !rep.Ready {
		rep.Status = job.StatusFailed
		if o.Override != "" {
			rep.Status = job.StatusOK
			rep.find("override", "dns-ready", "gate overridden with %d finding(s): %s", len(rep.Findings), o.Override)
		}
	}
	return rep
}

// readyServer pings s, reads its zones and records, and queries each zone
// over DNS. The first error makes the server unreachable.
func readyServer(ctx context.Context, s ReadyServer, o ReadyOptions, st *ServerState, recs map[string][]Record, rep *ReadyReport) error {
	p := s.Provider
	if err := p.Ping(ctx); err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	zs, err := p.Zones(ctx)
	if err != nil {
		return fmt.Errorf("listing zones: %w", err)
	}
	for _, z := range zs {
		if len(o.Zones) > 0 && !slices.Contains(o.Zones, z.Name) {
			continue
		}
		for _, pr := range z.Problems {
			rep.find("zone-problem", st.Name+"/"+z.Name, "%s", pr)
		}
		rs, err := p.Records(ctx, z.Name)
		if err != nil {
			return fmt.Errorf("reading zone %s: %w", z.Name, err)
		}
		serial, ok := SOASerial(rs)
		if !ok {
			rep.find("no-soa", st.Name+"/"+z.Name, "the zone has no SOA")
		}
		if s.DNS != "" {
			got, err := QuerySOA(ctx, s.DNS, z.Name, o.QueryTimeout)
			if err != nil {
				return fmt.Errorf("DNS: %w", err)
			}
			if ok && got != serial {
				rep.find("serial-mismatch", st.Name+"/"+z.Name, "DNS answers serial %d, the zone holds %d", got, serial)
			}
		}
		recs[z.Name] = rs
		st.Zones[z.Name] = ZoneState{Serial: serial, Fingerprint: Fingerprint(rs), Records: len(rs)}
	}
	return nil
}

// recordDiff counts the records (SOA and DNSSEC aside) in one list and
// not the other.
func recordDiff(a, b []Record) int {
	set := func(rs []Record) map[string]bool {
		m := map[string]bool{}
		for _, r := range rs {
			if syncable(r.Type) && r.Type != "SOA" {
				m[r.String()] = true
			}
		}
		return m
	}
	sa, sb := set(a), set(b)
	n := 0
	for k := range sa {
		if !sb[k] {
			n++
		}
	}
	for k := range sb {
		if !sa[k] {
			n++
		}
	}
	return n
}

// Result turns the report into the job contract's result.
func (r *ReadyReport) Result() job.Result {
	return job.Result{Status: r.Status, Findings: r.Findings, Started: r.Started, Duration: r.Duration,
		Counters: map[string]float64{"serial_lag": float64(r.SerialLag), "zones": float64(len(r.Zones))}}
}
