package dnssync_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/labops/labops/internal/dnssync"
)

// fakeTechnitium is Technitium DNS Server v15's HTTP API as its
// documentation and source describe it, quirks included: every reply is
// HTTP 200 with status ok, error (+errorMessage) or invalid-token; the
// token goes as Bearer or token=; /api/stats/get is gone (since v11) and
// /api/dashboard/stats/get replaces it; zones/list includes five built-in
// zones marked internal; creating an existing zone errors "Zone already
// exists"; a new zone gets its own SOA and NS; the export writes the
// server's own record types as TYPE65281/65282.
type fakeTechnitium struct {
	token string
	mu    sync.Mutex
	zones map[string][]dnssync.Record // canonical zone -> records
	// fail, when set, makes a path answer status error with this message.
	fail map[string]string
	// zoneFlags sets syncFailed/isExpired/notifyFailed on a zone.
	zoneFlags map[string]map[string]bool
}

var technitiumInternalZones = []string{"0.in-addr.arpa", "127.in-addr.arpa", "255.in-addr.arpa", "localhost", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"}

func startFakeTechnitium(t *testing.T) (*fakeTechnitium, string) {
	t.Helper()
	f := &fakeTechnitium{token: "tok-" + t.Name(), zones: map[string][]dnssync.Record{}, fail: map[string]string{}, zoneFlags: map[string]map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeTechnitium) reply(w http.ResponseWriter, status, msg string, resp any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK) // always
	body := map[string]any{"status": status}
	if msg != "" {
		body["errorMessage"] = msg
		body["stackTrace"] = "   at DnsServerCore.WebServiceZonesApi..."
	}
	if resp != nil {
		body["response"] = resp
	}
	json.NewEncoder(w).Encode(body)
}

func (f *fakeTechnitium) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.reply(w, "error", err.Error(), nil)
		return
	}
	if r.URL.Path == "/api/stats/get" {
		http.NotFound(w, r) // removed in v11
		return
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" {
		tok = r.Form.Get("token")
	}
	if tok != f.token {
		f.reply(w, "invalid-token", "Invalid token or session expired.", nil)
		return
	}
	if msg, ok := f.fail[r.URL.Path]; ok {
		f.reply(w, "error", msg, nil)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	zone := dnssync.CanonicalName(r.Form.Get("zone"))
	recs, exists := f.zones[zone]
	needZone := func() bool {
		if !exists {
			f.reply(w, "error", "No such zone was found: "+strings.TrimSuffix(zone, "."), nil)
		}
		return exists
	}
	switch r.URL.Path {
	case "/api/dashboard/stats/get":
		f.reply(w, "ok", "", map[string]any{"stats": map[string]int{"totalQueries": 12, "zones": len(f.zones) + len(technitiumInternalZones)}})
	case "/api/zones/list":
		var zs []map[string]any
		for _, z := range technitiumInternalZones {
			zs = append(zs, map[string]any{"name": z, "type": "Primary", "internal": true, "dnssecStatus": "Unsigned", "soaSerial": 1, "disabled": false})
		}
		for z, rs := range f.zones {
			serial, _ := dnssync.SOASerial(rs)
			zs = append(zs, map[string]any{"name": strings.TrimSuffix(z, "."), "type": "Primary", "internal": false, "dnssecStatus": "Unsigned",
				"soaSerial": serial, "disabled": false, "isExpired": f.zoneFlags[z]["isExpired"], "syncFailed": f.zoneFlags[z]["syncFailed"],
				"notifyFailed": f.zoneFlags[z]["notifyFailed"]})
		}
		f.reply(w, "ok", "", map[string]any{"pageNumber": 1, "totalPages": 1, "totalZones": len(zs), "zones": zs})
	case "/api/zones/create":
		if exists {
			f.reply(w, "error", "Zone already exists: "+strings.TrimSuffix(zone, "."), nil)
			return
		}
		f.zones[zone] = []dnssync.Record{
			must(dnssync.ParseRecord(zone + " 900 IN SOA fake-technitium. hostadmin.fake-technitium. 1 900 300 604800 900")),
			must(dnssync.ParseRecord(zone + " 3600 IN NS fake-technitium.")),
		}
		f.reply(w, "ok", "", map[string]any{"domain": strings.TrimSuffix(zone, ".")})
	case "/api/zones/delete":
		if needZone() {
			delete(f.zones, zone)
			f.reply(w, "ok", "", nil)
		}
	case "/api/zones/export":
		if !needZone() {
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "$ORIGIN %s\n", zone)
		for _, rec := range recs {
			fmt.Fprintln(w, rec.String())
		}
	case "/api/zones/records/add", "/api/zones/records/delete", "/api/zones/records/update":
		if !needZone() {
			return
		}
		rec, err := fakeTechnitiumRecord(r, zone)
		if err != nil {
			f.reply(w, "error", err.Error(), nil)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/update"):
			if rec.Type != "SOA" {
				f.reply(w, "error", "the fake updates only SOA records", nil)
				return
			}
			recs = slices.DeleteFunc(recs, func(x dnssync.Record) bool { return x.Type == "SOA" })
			f.zones[zone] = append(recs, rec)
		case strings.HasSuffix(r.URL.Path, "/add"):
			if slices.ContainsFunc(recs, func(x dnssync.Record) bool { return x.Name == rec.Name && x.Type == rec.Type && x.Data == rec.Data }) {
				f.reply(w, "error", "Cannot add record: record already exists.", nil)
				return
			}
			// Technitium keeps one TTL per RRset: the new one.
			for i := range recs {
				if recs[i].Name == rec.Name && recs[i].Type == rec.Type {
					recs[i].TTL = rec.TTL
				}
			}
			f.zones[zone] = append(recs, rec)
		default:
			i := slices.IndexFunc(recs, func(x dnssync.Record) bool { return x.Name == rec.Name && x.Type == rec.Type && x.Data == rec.Data })
			if i < 0 {
				f.reply(w, "error", "Cannot delete record: no such record exists.", nil)
				return
			}
			f.zones[zone] = slices.Delete(recs, i, i+1)
		}
		f.reply(w, "ok", "", map[string]any{})
	default:
		f.reply(w, "error", "Invalid API call.", nil)
	}
}

// fakeTechnitiumRecord rebuilds a record from the documented parameters.
func fakeTechnitiumRecord(r *http.Request, zone string) (dnssync.Record, error) {
	v := r.Form.Get
	name := dnssync.CanonicalName(v("domain"))
	if name != zone && !strings.HasSuffix(name, "."+zone) {
		return dnssync.Record{}, fmt.Errorf("domain %s is not in zone %s", name, zone)
	}
	ttl := v("ttl")
	if ttl == "" {
		ttl = "3600"
	}
	typ := v("type")
	var data string
	switch typ {
	case "A", "AAAA":
		data = v("ipAddress")
	case "NS":
		data = v("nameServer") + "."
	case "CNAME":
		data = v("cname") + "."
	case "PTR":
		data = v("ptrName") + "."
	case "MX":
		data = v("preference") + " " + v("exchange") + "."
	case "TXT":
		parts := []string{v("text")}
		if v("splitText") == "true" {
			parts = strings.Split(v("text"), "\n")
		}
		for i, p := range parts {
			parts[i] = fmt.Sprintf("%q", p)
		}
		data = strings.Join(parts, " ")
	case "SRV":
		data = strings.Join([]string{v("priority"), v("weight"), v("port"), v("target") + "."}, " ")
	case "SOA":
		data = strings.Join([]string{v("primaryNameServer") + ".", v("responsiblePerson") + ".", v("serial"), v("refresh"), v("retry"), v("expire"), v("minimum")}, " ")
	default:
		hex := v("rdata")
		if hex == "" {
			return dnssync.Record{}, fmt.Errorf("type %s needs rdata", typ)
		}
		n := 0
		if _, err := fmt.Sscanf(typ, "TYPE%d", &n); err == nil || typ != "" {
			data = fmt.Sprintf(`\# %d %s`, len(hex)/2, hex)
		}
		if n > 0 {
			typ = fmt.Sprintf("TYPE%d", n)
		}
	}
	return dnssync.ParseRecord(fmt.Sprintf("%s %s IN %s %s", name, ttl, typ, data))
}
