package dnssync

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/labops/labops/internal/job"
)

// TSIGTarget is one zone on one server whose updates must need the key.
type TSIGTarget struct {
	Server string
	Addr   string
	Zone   string
	Key    TSIGKey
}

// TSIGZoneResult is what the check saw of one zone.
type TSIGZoneResult struct {
	Server string `json:"server"`
	Zone   string `json:"zone"`
	// Rcodes of the three updates ("" when the exchange failed).
	Signed   string `json:"signed"`
	Unsigned string `json:"unsigned"`
	WrongKey string `json:"wrong_key"`
	// Enforced: signed accepted, unsigned and wrong-key refused.
	Enforced bool   `json:"enforced"`
	Error    string `json:"error,omitempty"`
}

// TSIGReport is one tsigcheck run.
type TSIGReport struct {
	Zones    []TSIGZoneResult `json:"zones"`
	Findings []job.Finding    `json:"findings"`
	Status   job.Status       `json:"status"`
	Started  time.Time        `json:"started"`
	Duration time.Duration    `json:"duration"`
}

// TSIGCheck proves, for each target, that a signed update of a throwaway
// TXT record is accepted (and removes it again), and that the same update
// unsigned, or signed with a wrong secret under the same key name, is
// refused. A refused signed update or an accepted unsigned one is a
// finding; a server that cannot be reached makes the run incomplete.
func TSIGCheck(ctx context.Context, targets []TSIGTarget, timeout time.Duration, now func() time.Time) *TSIGReport {
	if now == nil {
		now = time.Now
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	rep := &TSIGReport{Started: now(), Status: job.StatusOK, Findings: []job.Finding{}, Zones: []TSIGZoneResult{}}
	defer func() { rep.Duration = now().Sub(rep.Started) }()
	find := func(kind, subject, format string, args ...any) {
		rep.Findings = append(rep.Findings, job.Finding{Kind: kind, Subject: subject, Message: fmt.Sprintf(format, args...)})
	}
	for _, t := range targets {
		zr := tsigCheckZone(ctx, t, timeout)
		subject := t.Server + "/" + CanonicalName(t.Zone)
		switch {
		case zr.Error != "":
			rep.Status = job.Worst(rep.Status, job.StatusIncomplete)
			find("unreachable", subject, "%s", zr.Error)
		default:
			if zr.Signed != "NOERROR" {
				find("signed-refused", subject, "an update signed with key %s was answered %s", t.Key.Name, zr.Signed)
			}
			if zr.Unsigned == "NOERROR" {
				find("unsigned-accepted", subject, "an unsigned update was accepted: anyone can change this zone")
			}
			if zr.WrongKey == "NOERROR" {
				find("wrong-key-accepted", subject, "an update signed with a wrong secret for key %s was accepted", t.Key.Name)
			}
			if !zr.Enforced {
				rep.Status = job.Worst(rep.Status, job.StatusFailed)
			}
		}
		rep.Zones = append(rep.Zones, zr)
	}
	return rep
}

func tsigCheckZone(ctx context.Context, t TSIGTarget, timeout time.Duration) TSIGZoneResult {
	zone := CanonicalName(t.Zone)
	zr := TSIGZoneResult{Server: t.Server, Zone: zone}
	label := make([]byte, 6)
	rand.Read(label)
	name := "_labops-tsigcheck-" + hex.EncodeToString(label) + "." + zone
	txt := func(n string) []dns.RR {
		return []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
			Txt: []string{"labops dns tsigcheck: safe to delete"}}}
	}
	key := t.Key
	rcode := func(rc int, err error) (string, error) {
		switch {
		case err == nil:
			return dns.RcodeToString[rc], nil
		case errors.Is(err, dns.ErrAuth), errors.Is(err, dns.ErrSig), errors.Is(err, dns.ErrTime), errors.Is(err, dns.ErrKeyAlg):
			return "TSIG-ERROR", nil // the server refused the signature
		}
		return "", err
	}
	var err error
	if zr.Signed, err = rcode(Update(ctx, t.Addr, zone, &key, txt(name), nil, timeout)); err != nil {
		zr.Error = fmt.Sprintf("signed update: %v", err)
		return zr
	}
	cleanup := func(n string) {
		if _, err := Update(ctx, t.Addr, zone, &key, nil, txt(n), timeout); err != nil && zr.Error == "" {
			zr.Error = fmt.Sprintf("removing the throwaway record %s: %v", n, err)
		}
	}
	if zr.Signed == "NOERROR" {
		defer cleanup(name)
	}
	if zr.Unsigned, err = rcode(Update(ctx, t.Addr, zone, nil, txt("u"+name), nil, timeout)); err != nil {
		zr.Error = fmt.Sprintf("unsigned update: %v", err)
		return zr
	}
	if zr.Unsigned == "NOERROR" {
		defer cleanup("u" + name)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	wrong := TSIGKey{Name: key.Name, Algorithm: key.Algorithm, Secret: base64.StdEncoding.EncodeToString(secret)}
	if zr.WrongKey, err = rcode(Update(ctx, t.Addr, zone, &wrong, txt("w"+name), nil, timeout)); err != nil {
		zr.Error = fmt.Sprintf("update with a wrong key: %v", err)
		return zr
	}
	if zr.WrongKey == "NOERROR" {
		defer cleanup("w" + name)
	}
	zr.Enforced = zr.Signed == "NOERROR" && zr.Unsigned != "NOERROR" && zr.WrongKey != "NOERROR"
	return zr
}
