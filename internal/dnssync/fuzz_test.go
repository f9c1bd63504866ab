package dnssync

import (
	"testing"
	"time"
)

// The parsers below read what a server sends: they must never panic, and
// what they accept must survive a round trip through its canonical form.

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"www.example.org. 300 IN A 192.0.2.1",
		`txt 60 IN TXT "a" "b\"c"`,
		`app.example.org. 300 IN TYPE65281 \# 4 0a000001`,
		"example.org. 300 IN SOA ns1 hostmaster 1 2 3 4 5",
		"x 1 IN MX 10 .",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err != nil {
			return
		}
		back, err := ParseRecord(r.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", r.String(), s, err)
		}
		if back != r {
			t.Fatalf("round trip of %q: %+v, then %+v", s, r, back)
		}
	})
}

func FuzzParsePowerDNSZone(f *testing.F) {
	f.Add([]byte(`{"name":"example.org.","rrsets":[{"name":"example.org.","type":"SOA","ttl":300,"records":[{"content":"ns1.example.org. h.example.org. 1 2 3 4 5","disabled":false}]},{"name":"a.example.org.","type":"A","ttl":60,"records":[{"content":"192.0.2.1"},{"content":"192.0.2.2","disabled":true}]}]}`))
	f.Add([]byte(`{"rrsets":[{"name":"x.","type":"TYPE65281","ttl":1,"records":[{"content":"\\# 1 ff"}]}]}`))
	f.Add([]byte(`{"rrsets":[{"name":"x.","type":"A","ttl":1,"records":[{"content":"1.2.3.4 ; comment"}]}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := parsePowerDNSZone(data)
		if err != nil {
			return
		}
		for _, r := range rs {
			if _, err := r.RR(); err != nil {
				t.Fatalf("accepted record %v does not convert back: %v", r, err)
			}
		}
	})
}

func FuzzParseTechnitiumReply(f *testing.F) {
	f.Add([]byte(`{"response":{"zones":[{"name":"localhost","internal":true},{"name":"ex.test","type":"Primary","soaSerial":7,"syncFailed":true}]},"status":"ok"}`))
	f.Add([]byte(`{"status":"error","errorMessage":"Zone already exists: ex.test"}`))
	f.Add([]byte(`{"status":"invalid-token","errorMessage":"Invalid token or session expired."}`))
	f.Add([]byte(`{"status":"ok","response":{"zones":[{"name":"x","soaSerial":-1},{"name":"y","soaSerial":99999999999}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := parseTechnitiumReply(data)
		if err != nil {
			return
		}
		zs, err := parseTechnitiumZones(resp)
		if err != nil {
			return
		}
		for _, z := range zs {
			if z.Name == "" || z.Name[len(z.Name)-1] != '.' {
				t.Fatalf("zone name %q not canonical", z.Name)
			}
		}
	})
}

func FuzzParseZoneFile(f *testing.F) {
	f.Add("ex.test.", []byte("$ORIGIN ex.test.\nex.test. 300 IN SOA ns1 h 1 2 3 4 5\nwww 60 IN A 192.0.2.1\napp 300 IN TYPE65281 \\# 4 0a000001\n"))
	f.Add("ex.test.", []byte("@ 300 IN SOA ns1 h 1 2 3 4 5\nother.test. 60 IN A 192.0.2.1\n"))
	f.Add("ex.test.", []byte("$INCLUDE /etc/passwd\n"))
	f.Fuzz(func(t *testing.T, zone string, data []byte) {
		rs, err := ParseZoneFile(zone, data)
		if err != nil {
			return
		}
		for _, r := range rs {
			if _, err := ParseRecord(r.String()); err != nil {
				t.Fatalf("accepted record %v does not parse back: %v", r, err)
			}
		}
	})
}

func FuzzParseResolvConf(f *testing.F) {
	f.Add([]byte("nameserver 10.0.0.53\nnameserver ::1\noptions timeout:1 attempts:1\n"))
	f.Add([]byte("options timeout:0 attempts:99999999999999999999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, err := ParseResolvConf(data)
		if err != nil {
			return
		}
		if rc.Timeout < time.Second || rc.Timeout > 30*time.Second || rc.Attempts < 1 || rc.Attempts > 5 {
			t.Fatalf("out of range: %+v", rc)
		}
	})
}
