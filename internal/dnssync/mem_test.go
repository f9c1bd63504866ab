package dnssync_test

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/labops/labops/internal/dnssync"
)

// memProvider is an in-memory provider for fault tests; each hook, when
// set, runs before the operation and fails it by returning an error.
type memProvider struct {
	name  string
	mu    sync.Mutex
	zones map[string][]dnssync.Record

	onRecords func(zone string) error
	onApply   func(zone string) error
	applied   int
}

var _ dnssync.Provider = (*memProvider)(nil)

func newMem(name string, zones map[string][]dnssync.Record) *memProvider {
	m := &memProvider{name: name, zones: map[string][]dnssync.Record{}}
	for z, rs := range zones {
		m.zones[z] = slices.Clone(rs)
	}
	return m
}

func (m *memProvider) Name() string               { return m.name }
func (m *memProvider) Ping(context.Context) error { return nil }
func (m *memProvider) DeleteZone(_ context.Context, z string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.zones, z)
	return nil
}

func (m *memProvider) Zones(context.Context) ([]dnssync.ZoneInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []dnssync.ZoneInfo
	for z, rs := range m.zones {
		s, ok := dnssync.SOASerial(rs)
		out = append(out, dnssync.ZoneInfo{Name: z, Serial: s, HasSerial: ok})
	}
	slices.SortFunc(out, func(a, b dnssync.ZoneInfo) int { return cmpString(a.Name, b.Name) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (m *memProvider) Records(_ context.Context, zone string) ([]dnssync.Record, error) {
	if m.onRecords != nil {
		if err := m.onRecords(zone); err != nil {
			return nil, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rs, ok := m.zones[zone]
	if !ok {
		return nil, fmt.Errorf("%s: %w", zone, dnssync.ErrNoZone)
	}
	return slices.Clone(rs), nil
}

func (m *memProvider) CreateZone(_ context.Context, zone string, soa dnssync.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.zones[zone]; ok {
		return dnssync.ErrZoneExists
	}
	m.zones[zone] = []dnssync.Record{soa}
	return nil
}

func (m *memProvider) Apply(_ context.Context, zone string, cs []dnssync.RRsetChange) error {
	if m.onApply != nil {
		if err := m.onApply(zone); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rs, ok := m.zones[zone]
	if !ok {
		return dnssync.ErrNoZone
	}
	for _, c := range cs {
		rs = slices.DeleteFunc(rs, func(r dnssync.Record) bool { return r.Name == c.Name && r.Type == c.Type })
		rs = append(rs, c.New...)
	}
	m.zones[zone] = rs
	m.applied++
	return nil
}
