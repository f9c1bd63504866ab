package dnssync

import (
	"context"
	"errors"
)

// Provider is one DNS server as dnssync sees it. Every method honours ctx;
// every error from the server is returned, never swallowed (an API that
// reports errors inside an HTTP 200 is checked field by field).
type Provider interface {
	// Name is the server's configured name, for reports.
	Name() string
	// Ping proves the server answers: its health endpoint, or a DNS query.
	Ping(ctx context.Context) error
	// Zones lists the zones the server serves (primary or secondary),
	// without any built-in ones, sorted by name. Names are canonical.
	Zones(ctx context.Context) ([]ZoneInfo, error)
	// Records returns every record of zone, the SOA included.
	Records(ctx context.Context, zone string) ([]Record, error)
	// CreateZone creates an empty primary zone holding soa (and nothing
	// else). ErrUnsupported when the protocol cannot create zones.
	CreateZone(ctx context.Context, zone string, soa Record) error
	// DeleteZone removes zone. ErrUnsupported when the protocol cannot.
	DeleteZone(ctx context.Context, zone string) error
	// Apply makes each RRset of zone named in changes hold exactly its New
	// records (none: the RRset is deleted). It applies all or reports why
	// not; a partly applied batch is an error too.
	Apply(ctx context.Context, zone string, changes []RRsetChange) error
}

// ZoneInfo is one zone as a server lists it.
type ZoneInfo struct {
	Name string `json:"name"`
	// Serial is the SOA serial, when the listing gives it (HasSerial).
	Serial    uint32 `json:"serial"`
	HasSerial bool   `json:"-"`
	// Problems are what the server itself reports about the zone (a
	// Technitium secondary whose sync failed, an expired zone).
	Problems []string `json:"problems,omitempty"`
}

// RRsetChange replaces one RRset: Old is what the plan saw on the target,
// New what it must hold (empty: delete the RRset).
type RRsetChange struct {
	Name string   `json:"name"`
	Type string   `json:"type"`
	Old  []Record `json:"old,omitempty"`
	New  []Record `json:"new,omitempty"`
}

// Errors a caller can test with errors.Is.
var (
	// ErrUnsupported: the provider's protocol cannot do this (plain DNS
	// cannot create or delete zones).
	ErrUnsupported = errors.New("not supported by this provider")
	// ErrNoZone: the server does not serve the zone.
	ErrNoZone = errors.New("no such zone")
	// ErrZoneExists: creating a zone the server already has.
	ErrZoneExists = errors.New("zone already exists")
	// ErrAuth: the server refused the credentials (bad API key or token,
	// TSIG failure).
	ErrAuth = errors.New("not authorised")
)
