package dnssync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PowerDNSOptions configure a PowerDNS provider.
type PowerDNSOptions struct {
	Name string
	// URL is the webserver's base URL, e.g. http://127.0.0.1:8081.
	URL string
	// ServerID is the API's server id (default "localhost").
	ServerID string
	// APIKey goes in the X-API-Key header; it comes from a file.
	APIKey string
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// HTTPClient replaces the default client (tests).
	HTTPClient *http.Client
}

// PowerDNS talks to the PowerDNS Authoritative HTTP API (v1). Zones it
// creates are Native (no replication of its own) with soa_edit_api off, so
// the SOA serial stays the one the source has.
type PowerDNS struct {
	o    PowerDNSOptions
	base string
	hc   *http.Client
}

var _ Provider = (*PowerDNS)(nil)

// maxReply bounds what is read of one API reply.
const maxReply = 64 << 20

// NewPowerDNS returns a PowerDNS provider.
func NewPowerDNS(o PowerDNSOptions) (*PowerDNS, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("PowerDNS URL %q: want http(s)://host:port", o.URL)
	}
	if o.ServerID == "" {
		o.ServerID = "localhost"
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: o.Timeout}
	}
	base := strings.TrimRight(o.URL, "/") + "/api/v1/servers/" + url.PathEscape(o.ServerID)
	return &PowerDNS{o: o, base: base, hc: hc}, nil
}

func (p *PowerDNS) Name() string { return p.o.Name }

// pdnsZoneID is the id the API gives a zone: its name, "/" escaped as =2F.
func pdnsZoneID(zone string) string {
	return url.PathEscape(strings.ReplaceAll(CanonicalName(zone), "/", "=2F"))
}

// do sends one request and decodes a JSON reply into out (when not nil).
// Any status but 2xx is an error carrying the API's "error" text.
func (p *PowerDNS) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", p.o.APIKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return fmt.Errorf("PowerDNS %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return fmt.Errorf("PowerDNS %s %s: reading reply: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return pdnsError(method, path, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("PowerDNS %s %s: decoding reply: %w", method, path, err)
	}
	return nil
}

// pdnsError maps an API error reply to an error callers can test.
func pdnsError(method, path string, status int, body []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	err := fmt.Errorf("PowerDNS %s %s: HTTP %d: %s", method, path, status, msg)
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("%w: %w", err, ErrAuth)
	case status == http.StatusNotFound:
		return fmt.Errorf("%w: %w", err, ErrNoZone)
	case status == http.StatusConflict || strings.Contains(msg, "already exists"):
		return fmt.Errorf("%w: %w", err, ErrZoneExists)
	}
	return err
}

// Ping reads the server object.
func (p *PowerDNS) Ping(ctx context.Context) error {
	var s struct {
		ID string `json:"id"`
	}
	if err := p.do(ctx, http.MethodGet, "", nil, &s); err != nil {
		return err
	}
	if s.ID == "" {
		return fmt.Errorf("PowerDNS GET server: reply has no server id")
	}
	return nil
}

type pdnsZoneSummary struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Serial uint32 `json:"serial"`
}

// Zones lists every zone.
func (p *PowerDNS) Zones(ctx context.Context) ([]ZoneInfo, error) {
	var zs []pdnsZoneSummary
	if err := p.do(ctx, http.MethodGet, "/zones", nil, &zs); err != nil {
		return nil, err
	}
	out := make([]ZoneInfo, 0, len(zs))
	for _, z := range zs {
		if z.Name == "" {
			return nil, fmt.Errorf("PowerDNS zone list: a zone without a name")
		}
		out = append(out, ZoneInfo{Name: CanonicalName(z.Name), Serial: z.Serial, HasSerial: true})
	}
	sortZones(out)
	return out, nil
}

type pdnsRecord struct {
	Content  string `json:"content"`
	Disabled bool   `json:"disabled"`
}

type pdnsRRset struct {
	Name       string       `json:"name"`
	Type       string       `json:"type"`
	TTL        uint32       `json:"ttl"`
	ChangeType string       `json:"changetype,omitempty"`
	Records    []pdnsRecord `json:"records"`
}

type pdnsZone struct {
	Name   string      `json:"name"`
	RRsets []pdnsRRset `json:"rrsets"`
}

// Records reads the zone with its RRsets.
func (p *PowerDNS) Records(ctx context.Context, zone string) ([]Record, error) {
	var raw json.RawMessage
	if err := p.do(ctx, http.MethodGet, "/zones/"+pdnsZoneID(zone), nil, &raw); err != nil {
		return nil, err
	}
	rs, err := parsePowerDNSZone(raw)
	if err != nil {
		return nil, fmt.Errorf("PowerDNS zone %s: %w", zone, err)
	}
	return rs, nil
}

// parsePowerDNSZone turns a zone reply into canonical records. Disabled
// records are not served, so they are not part of the zone's content.
func parsePowerDNSZone(data []byte) ([]Record, error) {
	var z pdnsZone
	if err := json.Unmarshal(data, &z); err != nil {
		return nil, fmt.Errorf("decoding zone: %w", err)
	}
	var out []Record
	for _, s := range z.RRsets {
		for _, r := range s.Records {
			if r.Disabled {
				continue
			}
			rec, err := ParseRecord(fmt.Sprintf("%s %d IN %s %s", s.Name, s.TTL, s.Type, r.Content))
			if err != nil {
				return nil, fmt.Errorf("record %s %s %q: %w", s.Name, s.Type, r.Content, err)
			}
			out = append(out, rec)
		}
	}
	SortRecords(out)
	return out, nil
}

// CreateZone creates a Native zone holding soa.
func (p *PowerDNS) CreateZone(ctx context.Context, zone string, soa Record) error {
	body := map[string]any{
		"name":         CanonicalName(zone),
		"kind":         "Native",
		"nameservers":  []string{},
		"soa_edit_api": "",
		"rrsets":       []pdnsRRset{{Name: soa.Name, Type: "SOA", TTL: soa.TTL, Records: []pdnsRecord{{Content: soa.Data}}}},
	}
	return p.do(ctx, http.MethodPost, "/zones", body, nil)
}

// DeleteZone deletes the zone.
func (p *PowerDNS) DeleteZone(ctx context.Context, zone string) error {
	return p.do(ctx, http.MethodDelete, "/zones/"+pdnsZoneID(zone), nil, nil)
}

// Apply replaces or deletes each RRset in one PATCH, which PowerDNS applies
// in one transaction.
func (p *PowerDNS) Apply(ctx context.Context, zone string, changes []RRsetChange) error {
	if len(changes) == 0 {
		return nil
	}
	var sets []pdnsRRset
	for _, c := range changes {
		s := pdnsRRset{Name: c.Name, Type: c.Type, ChangeType: "REPLACE", Records: []pdnsRecord{}}
		if len(c.New) == 0 {
			s.ChangeType = "DELETE"
		}
		for i, r := range c.New {
			if i == 0 || r.TTL < s.TTL {
				s.TTL = r.TTL // PowerDNS has one TTL per RRset
			}
			s.Records = append(s.Records, pdnsRecord{Content: r.Data})
		}
		sets = append(sets, s)
	}
	err := p.do(ctx, http.MethodPatch, "/zones/"+pdnsZoneID(zone), map[string]any{"rrsets": sets}, nil)
	if err != nil && errors.Is(err, ErrNoZone) {
		return fmt.Errorf("updating %s: %w", zone, err)
	}
	return err
}
