package labtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // initialises the PowerDNS database from its schema
)

// powerDNSSchema is the schema the Debian pdns-backend-sqlite3 package ships.
const powerDNSSchema = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"

// PowerDNS is a running PowerDNS Authoritative server (gsqlite3 backend)
// with its HTTP API enabled.
type PowerDNS struct {
	proc *dnsProc
	// DNSAddr is where it answers DNS (UDP and TCP), "127.a.b.c:port".
	DNSAddr string
	// URL is the webserver's base URL (API under /api/v1).
	URL string
	// APIKey is the X-API-Key the API wants.
	APIKey string
}

// StartPowerDNS starts pdns_server from its own config dir with a fresh
// sqlite3 database, on loopback addresses, and stops it at test cleanup.
// Its packet and query caches are off, so that a change through the API is
// served at once.
func StartPowerDNS(t testing.TB) *PowerDNS {
	t.Helper()
	bin := Need(t, "pdns_server", "pdns-server")
	if _, err := os.Stat(powerDNSSchema); err != nil {
		msg := "PowerDNS sqlite3 schema missing: install pdns-backend-sqlite3 (scripts/test-deps does)"
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	schema, err := os.ReadFile(powerDNSSchema)
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "pdns.sqlite3")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(schema)); err != nil {
		db.Close()
		t.Fatalf("initialising the PowerDNS database: %v", err)
	}
	db.Close()
	dnsAddr := FreeAddr(t)
	webAddr := FreeAddr(t)
	dnsHost, dnsPort, _ := net.SplitHostPort(dnsAddr)
	webHost, webPort, _ := net.SplitHostPort(webAddr)
	p := &PowerDNS{DNSAddr: dnsAddr, URL: "http://" + webAddr, APIKey: randomHex(t, 16)}
	conf := strings.Join([]string{
		"launch=gsqlite3",
		"gsqlite3-database=" + dbPath,
		"gsqlite3-dnssec=no",
		"local-address=" + dnsHost,
		"local-port=" + dnsPort,
		"socket-dir=" + dir,
		"api=yes",
		"api-key=" + p.APIKey,
		"webserver=yes",
		"webserver-address=" + webHost,
		"webserver-port=" + webPort,
		"webserver-allow-from=127.0.0.0/8",
		"allow-axfr-ips=127.0.0.0/8",
		"cache-ttl=0",
		"query-cache-ttl=0",
		"negquery-cache-ttl=0",
		"zone-cache-refresh-interval=0",
		"consistent-backends=yes",
		"disable-syslog=yes",
		"log-timestamp=no",
		"loglevel=4",
		"",
	}, "\n")
	writeFile(t, filepath.Join(dir, "pdns.conf"), conf)
	p.proc = &dnsProc{t: t, name: "pdns", dir: dir,
		argv: []string{bin, "--config-dir=" + dir, "--daemon=no", "--guardian=no", "--write-pid=no"},
		ready: func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/servers/localhost", nil)
			req.Header.Set("X-API-Key", p.APIKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("API answered %s", resp.Status)
			}
			return dnsTCPReady(dnsAddr)(ctx)
		}}
	t.Cleanup(p.Stop)
	p.Start()
	return p
}

// Start starts the server (again), on the same addresses and database.
func (p *PowerDNS) Start() { p.proc.t.Helper(); p.proc.start() }

// Stop stops the server; Start brings it back.
func (p *PowerDNS) Stop() { p.proc.stop() }

// Log returns the end of the server's log.
func (p *PowerDNS) Log() string { return p.proc.tail() }
