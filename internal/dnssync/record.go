package dnssync

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Record is one resource record in a provider-neutral, canonical form:
// the owner name absolute and lower-case, the type by its mnemonic (or
// TYPEnnn for types this package does not know, which pass through
// untouched in RFC 3597 form), and the data in presentation form as
// miekg/dns prints it, so that records read from different servers
// compare equal as strings.
type Record struct {
	Name string `json:"name"`
	Type string `json:"type"`
	TTL  uint32 `json:"ttl"`
	Data string `json:"data"`
}

func (r Record) String() string {
	return fmt.Sprintf("%s %d %s %s", r.Name, r.TTL, r.Type, r.Data)
}

// key identifies a record regardless of its TTL.
func (r Record) key() string { return r.Name + " " + r.Type + " " + r.Data }

// setKey identifies the record's RRset.
func (r Record) setKey() string { return r.Name + " " + r.Type }

// RR converts r back into a miekg/dns record.
func (r Record) RR() (dns.RR, error) {
	rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", r.Name, r.TTL, r.Type, r.Data))
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r, err)
	}
	if rr == nil {
		return nil, fmt.Errorf("record %s: empty", r)
	}
	return rr, nil
}

// FromRR converts a miekg/dns record into canonical form. A record whose
// presentation form would not parse back (NULL, a known type with empty
// data) takes the RFC 3597 form (TYPEnnn \# len hex), which does.
func FromRR(rr dns.RR) Record {
	h := rr.Header()
	typ := dns.Type(h.Rrtype).String()
	data := strings.TrimPrefix(rr.String(), h.String())
	if _, known := dns.TypeToString[h.Rrtype]; !known {
		typ = fmt.Sprintf("TYPE%d", h.Rrtype)
	}
	if rfc, ok := rr.(*dns.RFC3597); ok {
		data = fmt.Sprintf(`\# %d %s`, len(rfc.Rdata)/2, rfc.Rdata)
	}
	r := Record{Name: CanonicalName(h.Name), Type: typ, TTL: h.Ttl, Data: data}
	if back, err := r.RR(); err == nil && strings.TrimSpace(data) != "" && dns.IsDuplicate(back, rr) {
		return r
	}
	rfc := new(dns.RFC3597)
	if err := rfc.ToRFC3597(rr); err != nil {
		rfc.Rdata = ""
	}
	return Record{Name: r.Name, Type: fmt.Sprintf("TYPE%d", h.Rrtype), TTL: h.Ttl, Data: fmt.Sprintf(`\# %d %s`, len(rfc.Rdata)/2, rfc.Rdata)}
}

// ParseRecord parses "name ttl [IN] type data" presentation text into a
// canonical Record. It is how every provider canonicalises what its
// server returned, so it must never panic on hostile input.
func ParseRecord(text string) (Record, error) {
	rr, err := dns.NewRR(text)
	if err != nil {
		return Record{}, err
	}
	if rr == nil {
		return Record{}, fmt.Errorf("%q holds no record", text)
	}
	// Canonicalise until the form reproduces itself: odd input (relative
	// names without an origin, empty data) settles in a step or two.
	r := FromRR(rr)
	for range 3 {
		back, err := r.RR()
		if err != nil {
			return Record{}, fmt.Errorf("%q: %w", text, err)
		}
		next := FromRR(back)
		if next == r {
			return r, nil
		}
		r = next
	}
	return Record{}, fmt.Errorf("%q has no stable presentation form", text)
}

// CanonicalName returns name absolute and lower-case.
func CanonicalName(name string) string {
	return strings.ToLower(dns.Fqdn(name))
}

// SortRecords orders records by name, type, data, TTL.
func SortRecords(rs []Record) {
	slices.SortFunc(rs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type),
			cmp.Compare(a.Data, b.Data), cmp.Compare(a.TTL, b.TTL))
	})
}

// Fingerprint is a hash of a zone's content: every record but the SOA
// (whose serial is compared on its own) and DNSSEC signatures, which each
// server makes its own. Two servers holding the same records have the same
// fingerprint whatever order they list them in.
func Fingerprint(rs []Record) string {
	lines := make([]string, 0, len(rs))
	for _, r := range rs {
		if !syncable(r.Type) || r.Type == "SOA" {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s %d %s %s", r.Name, r.TTL, r.Type, r.Data))
	}
	slices.Sort(lines)
	lines = slices.Compact(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(h[:12])
}

// syncable reports whether records of type t are copied between servers.
// DNSSEC material is each signer's own.
func syncable(t string) bool {
	switch t {
	case "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "DNSKEY", "CDS", "CDNSKEY", "TSIG", "OPT":
		return false
	}
	return true
}

// SOASerial returns the serial of the SOA among rs, and whether there is one.
func SOASerial(rs []Record) (uint32, bool) {
	for _, r := range rs {
		if r.Type == "SOA" {
			rr, err := r.RR()
			if err != nil {
				return 0, false
			}
			if soa, ok := rr.(*dns.SOA); ok {
				return soa.Serial, true
			}
		}
	}
	return 0, false
}
