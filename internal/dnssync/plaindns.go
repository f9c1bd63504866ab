package dnssync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// TSIGKey is a TSIG key: its name, algorithm (hmac-sha256 by default) and
// base64 secret. The secret comes from a file and is never printed.
type TSIGKey struct {
	Name      string
	Algorithm string
	Secret    string
}

func (k *TSIGKey) algorithm() string {
	if k.Algorithm == "" {
		return dns.HmacSHA256
	}
	return dns.Fqdn(k.Algorithm)
}

// PlainDNSOptions configure a PlainDNS provider.
type PlainDNSOptions struct {
	// Name is the server's name in reports.
	Name string
	// Addr is host:port of the server's DNS service.
	Addr string
	// Zones are the zones it serves: plain DNS cannot list them.
	Zones []string
	// Key signs transfers and updates; nil sends them unsigned.
	Key *TSIGKey
	// Timeout bounds each exchange (default 10s).
	Timeout time.Duration
}

// PlainDNS reads zones by AXFR and writes them by RFC 2136 UPDATE, signed
// with TSIG when a key is configured. It cannot create or delete zones.
type PlainDNS struct {
	o PlainDNSOptions
}

var _ Provider = (*PlainDNS)(nil)

// maxUpdateRRs bounds the records of one UPDATE message, to stay well
// under 64 KiB; a larger change goes out in several messages.
const maxUpdateRRs = 500

// NewPlainDNS returns a plain DNS provider.
func NewPlainDNS(o PlainDNSOptions) *PlainDNS {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	zs := make([]string, len(o.Zones))
	for i, z := range o.Zones {
		zs[i] = CanonicalName(z)
	}
	slices.Sort(zs)
	o.Zones = slices.Compact(zs)
	return &PlainDNS{o: o}
}

func (p *PlainDNS) Name() string { return p.o.Name }

func (p *PlainDNS) client(net string) *dns.Client {
	c := &dns.Client{Net: net, Timeout: p.o.Timeout}
	if p.o.Key != nil {
		c.TsigSecret = map[string]string{dns.Fqdn(p.o.Key.Name): p.o.Key.Secret}
	}
	return c
}

func (p *PlainDNS) sign(m *dns.Msg) {
	if p.o.Key != nil {
		m.SetTsig(dns.Fqdn(p.o.Key.Name), p.o.Key.algorithm(), 300, time.Now().Unix())
	}
}

// Ping asks for the SOA of the first zone.
func (p *PlainDNS) Ping(ctx context.Context) error {
	if len(p.o.Zones) == 0 {
		return fmt.Errorf("%s: no zones configured to query", p.o.Name)
	}
	_, err := QuerySOA(ctx, p.o.Addr, p.o.Zones[0], p.o.Timeout)
	return err
}

// QuerySOA asks addr for the SOA of zone over UDP (TCP when truncated) and
// returns its serial. A server that does not answer authoritatively with
// the SOA is an error (ErrNoZone when it says it does not serve the zone).
func QuerySOA(ctx context.Context, addr, zone string, timeout time.Duration) (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(CanonicalName(zone), dns.TypeSOA)
	m.RecursionDesired = false
	c := &dns.Client{Timeout: timeout}
	r, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, addr)
	}
	if err != nil {
		return 0, fmt.Errorf("querying SOA of %s at %s: %w", zone, addr, err)
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
		return 0, fmt.Errorf("querying SOA of %s at %s: %s%s: %w", zone, addr, dns.RcodeToString[r.Rcode], map[bool]string{true: "", false: " (not authoritative)"}[r.Authoritative], ErrNoZone)
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok && CanonicalName(soa.Hdr.Name) == CanonicalName(zone) {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("querying SOA of %s at %s: no SOA in the answer: %w", zone, addr, ErrNoZone)
}

// Zones returns the configured zones the server answers for.
func (p *PlainDNS) Zones(ctx context.Context) ([]ZoneInfo, error) {
	var out []ZoneInfo
	for _, z := range p.o.Zones {
		serial, err := QuerySOA(ctx, p.o.Addr, z, p.o.Timeout)
		if errors.Is(err, ErrNoZone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ZoneInfo{Name: z, Serial: serial, HasSerial: true})
	}
	return out, nil
}

// Records transfers zone by AXFR.
func (p *PlainDNS) Records(ctx context.Context, zone string) ([]Record, error) {
	zone = CanonicalName(zone)
	m := new(dns.Msg)
	m.SetAxfr(zone)
	p.sign(m)
	d := net.Dialer{Timeout: p.o.Timeout}
	conn, err := d.DialContext(ctx, "tcp", p.o.Addr)
	if err != nil {
		return nil, fmt.Errorf("transferring %s from %s: %w", zone, p.o.Addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	t := &dns.Transfer{Conn: &dns.Conn{Conn: conn}, DialTimeout: p.o.Timeout, ReadTimeout: p.o.Timeout, WriteTimeout: p.o.Timeout}
	if p.o.Key != nil {
		t.TsigSecret = map[string]string{dns.Fqdn(p.o.Key.Name): p.o.Key.Secret}
	}
	ch, err := t.In(m, p.o.Addr)
	if err != nil {
		return nil, fmt.Errorf("transferring %s from %s: %w", zone, p.o.Addr, err)
	}
	var out []Record
	soas := 0
	var terr error
	for env := range ch {
		if env.Error != nil {
			if terr == nil {
				terr = env.Error
			}
			continue
		}
		for _, rr := range env.RR {
			if rr.Header().Rrtype == dns.TypeSOA {
				soas++
				if soas > 1 {
					continue // the closing SOA
				}
			}
			out = append(out, FromRR(rr))
		}
	}
	if terr != nil {
		return nil, fmt.Errorf("transferring %s from %s: %w", zone, p.o.Addr, transferError(terr))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transferring %s from %s: %w", zone, p.o.Addr, err)
	}
	if soas < 2 {
		return nil, fmt.Errorf("transferring %s from %s: transfer ended early (%d records, no closing SOA)", zone, p.o.Addr, len(out))
	}
	SortRecords(out)
	return out, nil
}

func transferError(err error) error {
	if errors.Is(err, dns.ErrAuth) || errors.Is(err, dns.ErrSig) || errors.Is(err, dns.ErrSecret) {
		return fmt.Errorf("%w: %w", ErrAuth, err)
	}
	return err
}

// CreateZone is not possible over plain DNS.
func (p *PlainDNS) CreateZone(context.Context, string, Record) error {
	return fmt.Errorf("creating a zone over plain DNS: %w", ErrUnsupported)
}

// DeleteZone is not possible over plain DNS.
func (p *PlainDNS) DeleteZone(context.Context, string) error {
	return fmt.Errorf("deleting a zone over plain DNS: %w", ErrUnsupported)
}

// Apply sends the changes as RFC 2136 updates. An RRset whose TTL changes
// or that is emptied is removed whole and re-added; otherwise only the
// records that differ are removed or added. A SOA is replaced by adding
// the new one, which the server treats as a replacement.
func (p *PlainDNS) Apply(ctx context.Context, zone string, changes []RRsetChange) error {
	zone = CanonicalName(zone)
	var removeSets, remove, insert []dns.RR
	for _, c := range changes {
		newRRs, err := toRRs(c.New)
		if err != nil {
			return err
		}
		if c.Type == "SOA" {
			insert = append(insert, newRRs...)
			continue
		}
		oldTTL := map[string]uint32{}
		for _, r := range c.Old {
			oldTTL[r.key()] = r.TTL
		}
		whole := len(c.New) == 0
		for _, r := range c.New {
			if ttl, ok := oldTTL[r.key()]; ok && ttl != r.TTL {
				whole = true
			}
		}
		if whole {
			rr, err := Record{Name: c.Name, Type: c.Type, Data: ""}.rrsetStub()
			if err != nil {
				return err
			}
			removeSets = append(removeSets, rr)
			insert = append(insert, newRRs...)
			continue
		}
		newKeys := map[string]bool{}
		for _, r := range c.New {
			newKeys[r.key()] = true
			if _, ok := oldTTL[r.key()]; !ok {
				rr, _ := r.RR()
				insert = append(insert, rr)
			}
		}
		for _, r := range c.Old {
			if !newKeys[r.key()] {
				rr, err := r.RR()
				if err != nil {
					return err
				}
				remove = append(remove, rr)
			}
		}
	}
	// Removals first, in their own messages when the batch is large, so
	// that a record never briefly exists twice with two TTLs.
	type op struct {
		kind string
		rrs  []dns.RR
	}
	var ops []op
	for _, o := range []op{{"rrset", removeSets}, {"remove", remove}, {"insert", insert}} {
		for len(o.rrs) > 0 {
			n := min(len(o.rrs), maxUpdateRRs)
			ops = append(ops, op{o.kind, o.rrs[:n]})
			o.rrs = o.rrs[n:]
		}
	}
	// Small batches go in one message: all or nothing.
	if total := len(removeSets) + len(remove) + len(insert); total > 0 && total <= maxUpdateRRs {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		if len(removeSets) > 0 {
			m.RemoveRRset(removeSets)
		}
		if len(remove) > 0 {
			m.Remove(remove)
		}
		if len(insert) > 0 {
			m.Insert(insert)
		}
		return p.update(ctx, zone, m)
	}
	for _, o := range ops {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		switch o.kind {
		case "rrset":
			m.RemoveRRset(o.rrs)
		case "remove":
			m.Remove(o.rrs)
		default:
			m.Insert(o.rrs)
		}
		if err := p.update(ctx, zone, m); err != nil {
			return err
		}
	}
	return nil
}

func (p *PlainDNS) update(ctx context.Context, zone string, m *dns.Msg) error {
	p.sign(m)
	r, _, err := p.client("tcp").ExchangeContext(ctx, m, p.o.Addr)
	if err != nil {
		return fmt.Errorf("updating %s at %s: %w", zone, p.o.Addr, transferError(err))
	}
	if r.Rcode != dns.RcodeSuccess {
		err := fmt.Errorf("updating %s at %s: server answered %s", zone, p.o.Addr, dns.RcodeToString[r.Rcode])
		switch r.Rcode {
		case dns.RcodeRefused, dns.RcodeNotAuth, dns.RcodeBadSig:
			return fmt.Errorf("%w: %w", err, ErrAuth)
		case dns.RcodeNotZone:
			return fmt.Errorf("%w: %w", err, ErrNoZone)
		}
		return err
	}
	return nil
}

// Update sends one UPDATE for zone to addr, signed with key when it is not
// nil, and returns the server's rcode. It is what tsigcheck probes with.
func Update(ctx context.Context, addr, zone string, key *TSIGKey, insert, remove []dns.RR, timeout time.Duration) (int, error) {
	p := NewPlainDNS(PlainDNSOptions{Addr: addr, Key: key, Timeout: timeout})
	m := new(dns.Msg)
	m.SetUpdate(CanonicalName(zone))
	if len(remove) > 0 {
		m.Remove(remove)
	}
	if len(insert) > 0 {
		m.Insert(insert)
	}
	p.sign(m)
	r, _, err := p.client("tcp").ExchangeContext(ctx, m, addr)
	if err != nil {
		return -1, err
	}
	return r.Rcode, nil
}

func toRRs(rs []Record) ([]dns.RR, error) {
	out := make([]dns.RR, 0, len(rs))
	for _, r := range rs {
		rr, err := r.RR()
		if err != nil {
			return nil, err
		}
		out = append(out, rr)
	}
	return out, nil
}

// rrsetStub is a record of r's name and type with no data, as RemoveRRset
// wants.
func (r Record) rrsetStub() (dns.RR, error) {
	t, ok := dns.StringToType[r.Type]
	if !ok {
		if _, err := fmt.Sscanf(r.Type, "TYPE%d", &t); err != nil {
			return nil, fmt.Errorf("record type %q unknown", r.Type)
		}
	}
	return &dns.ANY{Hdr: dns.RR_Header{Name: r.Name, Rrtype: t, Class: dns.ClassINET}}, nil
}
