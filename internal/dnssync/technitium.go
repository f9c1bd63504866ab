package dnssync

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// TechnitiumOptions configure a Technitium provider.
type TechnitiumOptions struct {
	Name string
	// URL is the web console's base URL, e.g. http://10.0.0.53:5380.
	URL string
	// Token is a non-expiring API token, sent as a Bearer token (v15).
	Token string
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// HTTPClient replaces the default client (tests).
	HTTPClient *http.Client
}

// Technitium talks to the Technitium DNS Server HTTP API (v15). Every reply
// is HTTP 200 whatever happened: the status field says ok, error (with
// errorMessage) or invalid-token, and is checked on every call. Its
// built-in zones (marked internal) are not listed. Zones are read through
// the zone file export, where its own record types (APP, FWD) appear as
// TYPE65281/65282 and pass through untouched.
type Technitium struct {
	o    TechnitiumOptions
	base string
	hc   *http.Client
}

var _ Provider = (*Technitium)(nil)

// NewTechnitium returns a Technitium provider.
func NewTechnitium(o TechnitiumOptions) (*Technitium, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("Technitium URL %q: want http(s)://host:port", o.URL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: o.Timeout}
	}
	return &Technitium{o: o, base: strings.TrimRight(o.URL, "/"), hc: hc}, nil
}

func (p *Technitium) Name() string { return p.o.Name }

// techEnvelope is every JSON reply.
type techEnvelope struct {
	Status       string          `json:"status"`
	ErrorMessage string          `json:"errorMessage"`
	Response     json.RawMessage `json:"response"`
}

// parseTechnitiumReply checks a reply's envelope and returns its response.
func parseTechnitiumReply(data []byte) (json.RawMessage, error) {
	var env techEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("decoding reply: %w", err)
	}
	switch env.Status {
	case "ok":
		return env.Response, nil
	case "invalid-token":
		return nil, fmt.Errorf("invalid token: %s: %w", env.ErrorMessage, ErrAuth)
	case "error":
		msg := env.ErrorMessage
		if msg == "" {
			msg = "(no errorMessage)"
		}
		switch {
		case strings.Contains(strings.ToLower(msg), "already exists"):
			return nil, fmt.Errorf("%s: %w", msg, ErrZoneExists)
		case strings.Contains(strings.ToLower(msg), "no such zone"), strings.Contains(strings.ToLower(msg), "zone does not exist"),
			strings.Contains(strings.ToLower(msg), "was not found"):
			return nil, fmt.Errorf("%s: %w", msg, ErrNoZone)
		}
		return nil, fmt.Errorf("server error: %s", msg)
	case "":
		return nil, fmt.Errorf("reply has no status")
	default:
		return nil, fmt.Errorf("unknown status %q: %s", env.Status, env.ErrorMessage)
	}
}

// call sends one API request and returns the raw body after checking the
// HTTP status; JSON replies are checked for their envelope by get.
func (p *Technitium) call(ctx context.Context, path string, q url.Values) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+path, strings.NewReader(q.Encode()))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+p.o.Token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("Technitium %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, "", fmt.Errorf("Technitium %s: reading reply: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("Technitium %s: HTTP %s", path, resp.Status)
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// get calls path and decodes the envelope's response into out.
func (p *Technitium) get(ctx context.Context, path string, q url.Values, out any) error {
	data, _, err := p.call(ctx, path, q)
	if err != nil {
		return err
	}
	resp, err := parseTechnitiumReply(data)
	if err != nil {
		return fmt.Errorf("Technitium %s: %w", path, err)
	}
	if out != nil && len(resp) > 0 {
		if err := json.Unmarshal(resp, out); err != nil {
			return fmt.Errorf("Technitium %s: decoding response: %w", path, err)
		}
	}
	return nil
}

// Ping reads the dashboard stats (/api/stats/get was removed in v11).
func (p *Technitium) Ping(ctx context.Context) error {
	var r struct {
		Stats json.RawMessage `json:"stats"`
	}
	if err := p.get(ctx, "/api/dashboard/stats/get", url.Values{"type": {"LastHour"}}, &r); err != nil {
		return err
	}
	if len(r.Stats) == 0 {
		return fmt.Errorf("Technitium dashboard stats: reply has no stats")
	}
	return nil
}

type techZone struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Internal     bool   `json:"internal"`
	Disabled     bool   `json:"disabled"`
	SOASerial    *int64 `json:"soaSerial"`
	IsExpired    bool   `json:"isExpired"`
	SyncFailed   bool   `json:"syncFailed"`
	NotifyFailed bool   `json:"notifyFailed"`
}

// parseTechnitiumZones turns a zones/list response into zone infos,
// without the internal zones.
func parseTechnitiumZones(data []byte) ([]ZoneInfo, error) {
	var r struct {
		Zones []techZone `json:"zones"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decoding zone list: %w", err)
	}
	out := []ZoneInfo{}
	for _, z := range r.Zones {
		if z.Internal {
			continue
		}
		if z.Name == "" {
			return nil, fmt.Errorf("zone list: a zone without a name")
		}
		zi := ZoneInfo{Name: CanonicalName(z.Name)}
		if z.SOASerial != nil && *z.SOASerial >= 0 && *z.SOASerial <= 1<<32-1 {
			zi.Serial, zi.HasSerial = uint32(*z.SOASerial), true
		}
		if z.SyncFailed {
			zi.Problems = append(zi.Problems, z.Type+" zone: sync with its primary failed (syncFailed)")
		}
		if z.IsExpired {
			zi.Problems = append(zi.Problems, z.Type+" zone: expired (isExpired)")
		}
		if z.NotifyFailed {
			zi.Problems = append(zi.Problems, "NOTIFY to its secondaries failed (notifyFailed)")
		}
		if z.Disabled {
			zi.Problems = append(zi.Problems, "the zone is disabled")
		}
		out = append(out, zi)
	}
	sortZones(out)
	return out, nil
}

// Zones lists the zones, internal ones aside.
func (p *Technitium) Zones(ctx context.Context) ([]ZoneInfo, error) {
	var raw json.RawMessage
	if err := p.get(ctx, "/api/zones/list", nil, &raw); err != nil {
		return nil, err
	}
	zs, err := parseTechnitiumZones(raw)
	if err != nil {
		return nil, fmt.Errorf("Technitium zones/list: %w", err)
	}
	return zs, nil
}

func techName(name string) string { return strings.TrimSuffix(CanonicalName(name), ".") }

// Records reads the zone through its zone file export.
func (p *Technitium) Records(ctx context.Context, zone string) ([]Record, error) {
	data, ctype, err := p.call(ctx, "/api/zones/export", url.Values{"zone": {techName(zone)}})
	if err != nil {
		return nil, err
	}
	// Errors come as the JSON envelope, a zone as text.
	if strings.HasPrefix(ctype, "application/json") || strings.HasPrefix(strings.TrimSpace(string(data)), "{") {
		if _, err := parseTechnitiumReply(data); err != nil {
			return nil, fmt.Errorf("Technitium export %s: %w", zone, err)
		}
		return nil, fmt.Errorf("Technitium export %s: a JSON reply where a zone file was expected", zone)
	}
	rs, err := ParseZoneFile(zone, data)
	if err != nil {
		return nil, fmt.Errorf("Technitium export %s: %w", zone, err)
	}
	return rs, nil
}

// ParseZoneFile parses zone file text with zone as its origin. Every
// record must be in the zone; the SOA must be there.
func ParseZoneFile(zone string, data []byte) ([]Record, error) {
	zone = CanonicalName(zone)
	zp := dns.NewZoneParser(strings.NewReader(string(data)), zone, "")
	zp.SetIncludeAllowed(false)
	var out []Record
	soa := false
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		r := FromRR(rr)
		if r.Name != zone && !dns.IsSubDomain(zone, r.Name) {
			return nil, fmt.Errorf("record %s is outside the zone", r)
		}
		if _, err := ParseRecord(r.String()); err != nil {
			return nil, fmt.Errorf("record %s: %w", r, err)
		}
		soa = soa || (r.Type == "SOA" && r.Name == zone)
		out = append(out, r)
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	if !soa {
		return nil, fmt.Errorf("no SOA for %s", zone)
	}
	SortRecords(out)
	return out, nil
}

// CreateZone creates a primary zone and makes it hold only soa:
// Technitium adds its own SOA and NS records, which are replaced.
func (p *Technitium) CreateZone(ctx context.Context, zone string, soa Record) error {
	if err := p.get(ctx, "/api/zones/create", url.Values{"zone": {techName(zone)}, "type": {"Primary"}}, nil); err != nil {
		return err
	}
	rs, err := p.Records(ctx, zone)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Type != "SOA" {
			if err := p.record(ctx, "/api/zones/records/delete", zone, r); err != nil {
				return err
			}
		}
	}
	return p.updateSOA(ctx, zone, soa)
}

// DeleteZone deletes the zone.
func (p *Technitium) DeleteZone(ctx context.Context, zone string) error {
	return p.get(ctx, "/api/zones/delete", url.Values{"zone": {techName(zone)}}, nil)
}

// Apply deletes the records each RRset loses and adds those it gains (a
// TTL change deletes and re-adds), one call each; the SOA is updated in
// place. Technitium has no transaction: a failure part way is reported
// and the next sync run finishes the job.
func (p *Technitium) Apply(ctx context.Context, zone string, changes []RRsetChange) error {
	for _, c := range changes {
		if c.Type == "SOA" {
			if len(c.New) != 1 {
				return fmt.Errorf("zone %s: a SOA change needs exactly one new SOA", zone)
			}
			if err := p.updateSOA(ctx, zone, c.New[0]); err != nil {
				return err
			}
			continue
		}
		newTTL := map[string]uint32{}
		for _, r := range c.New {
			newTTL[r.key()] = r.TTL
		}
		oldTTL := map[string]uint32{}
		for _, r := range c.Old {
			oldTTL[r.key()] = r.TTL
			if ttl, ok := newTTL[r.key()]; !ok || ttl != r.TTL {
				if err := p.record(ctx, "/api/zones/records/delete", zone, r); err != nil {
					return err
				}
			}
		}
		for _, r := range c.New {
			if ttl, ok := oldTTL[r.key()]; !ok || ttl != r.TTL {
				if err := p.record(ctx, "/api/zones/records/add", zone, r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// record adds or deletes one record.
func (p *Technitium) record(ctx context.Context, path, zone string, r Record) error {
	q, err := technitiumRecordParams(r)
	if err != nil {
		return fmt.Errorf("zone %s: %w", zone, err)
	}
	q.Set("zone", techName(zone))
	q.Set("domain", techName(r.Name))
	if strings.HasSuffix(path, "/add") {
		q.Set("ttl", strconv.FormatUint(uint64(r.TTL), 10))
	}
	if err := p.get(ctx, path, q, nil); err != nil {
		return fmt.Errorf("zone %s: record %s: %w", zone, r, err)
	}
	return nil
}

func (p *Technitium) updateSOA(ctx context.Context, zone string, soa Record) error {
	rr, err := soa.RR()
	if err != nil {
		return err
	}
	s, ok := rr.(*dns.SOA)
	if !ok {
		return fmt.Errorf("zone %s: %s is not a SOA", zone, soa)
	}
	q := url.Values{
		"zone": {techName(zone)}, "domain": {techName(zone)}, "type": {"SOA"},
		"ttl":               {strconv.FormatUint(uint64(soa.TTL), 10)},
		"primaryNameServer": {techName(s.Ns)}, "responsiblePerson": {techName(s.Mbox)},
		"serial": {strconv.FormatUint(uint64(s.Serial), 10)}, "refresh": {strconv.FormatUint(uint64(s.Refresh), 10)},
		"retry": {strconv.FormatUint(uint64(s.Retry), 10)}, "expire": {strconv.FormatUint(uint64(s.Expire), 10)},
		"minimum": {strconv.FormatUint(uint64(s.Minttl), 10)},
	}
	if err := p.get(ctx, "/api/zones/records/update", q, nil); err != nil {
		return fmt.Errorf("zone %s: updating the SOA: %w", zone, err)
	}
	return nil
}

// technitiumRecordParams are the API's parameters naming one record's
// data: the documented ones for the common types, and for any other type
// (Technitium's own included) the raw rdata in hex.
func technitiumRecordParams(r Record) (url.Values, error) {
	rr, err := r.RR()
	if err != nil {
		return nil, err
	}
	q := url.Values{"type": {r.Type}}
	switch v := rr.(type) {
	case *dns.A:
		q.Set("ipAddress", v.A.String())
	case *dns.AAAA:
		q.Set("ipAddress", v.AAAA.String())
	case *dns.NS:
		q.Set("nameServer", techName(v.Ns))
	case *dns.CNAME:
		q.Set("cname", techName(v.Target))
	case *dns.PTR:
		q.Set("ptrName", techName(v.Ptr))
	case *dns.MX:
		q.Set("preference", strconv.Itoa(int(v.Preference)))
		q.Set("exchange", techName(v.Mx))
	case *dns.TXT:
		q.Set("text", strings.Join(v.Txt, "\n"))
		q.Set("splitText", "true")
	case *dns.SRV:
		q.Set("priority", strconv.Itoa(int(v.Priority)))
		q.Set("weight", strconv.Itoa(int(v.Weight)))
		q.Set("port", strconv.Itoa(int(v.Port)))
		q.Set("target", techName(v.Target))
	default:
		rfc := new(dns.RFC3597)
		if err := rfc.ToRFC3597(rr); err != nil {
			return nil, fmt.Errorf("record %s: %w", r, err)
		}
		q.Set("rdata", rfc.Rdata)
	}
	return q, nil
}
