package dnssync

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// TechnitiumOptions configure a Technitium provider.
type TechnitiumOptions struct {
	Name string
	// URL is the web console's base URL, e.g. http://10.0.0.53:5380.
	URL string
	// Token is a non-expiring API token, sent as a Bearer token.
	Token string
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// HTTPClient replaces the default client (tests).
	HTTPClient *http.Client
}

// Technitium talks to the Technitium DNS Server HTTP API.
type Technitium struct {
	o TechnitiumOptions
}

var _ Provider = (*Technitium)(nil)

// NewTechnitium returns a Technitium provider.
func NewTechnitium(o TechnitiumOptions) (*Technitium, error) {
	return &Technitium{o: o}, nil
}

func (p *Technitium) Name() string { return p.o.Name }

func (p *Technitium) Ping(context.Context) error { return p.todo() }

func (p *Technitium) Zones(context.Context) ([]ZoneInfo, error) { return nil, p.todo() }

func (p *Technitium) Records(context.Context, string) ([]Record, error) { return nil, p.todo() }

func (p *Technitium) CreateZone(context.Context, string, Record) error { return p.todo() }

func (p *Technitium) DeleteZone(context.Context, string) error { return p.todo() }

func (p *Technitium) Apply(context.Context, string, []RRsetChange) error { return p.todo() }

func (p *Technitium) todo() error {
	return fmt.Errorf("technitium provider: %w (yet)", ErrUnsupported)
}
