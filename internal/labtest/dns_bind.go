package labtest

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BINDZone is one primary zone of a BIND test server: its name and the
// text of its zone file.
type BINDZone struct {
	Name string
	Data string
}

// BINDOptions configure StartBIND.
type BINDOptions struct {
	Zones []BINDZone
	// Permissive makes every zone accept unsigned updates from anyone
	// (allow-update { any; }), the misconfiguration tsigcheck must catch.
	// Otherwise updates need the TSIG key (update-policy).
	Permissive bool
}

// BIND is a running BIND 9 named with one TSIG key (hmac-sha256). Zone
// transfers and updates of its zones need the key.
type BIND struct {
	proc *dnsProc
	// Addr is where it answers DNS (UDP and TCP).
	Addr string
	// KeyName and KeySecret (base64) are the TSIG key.
	KeyName, KeySecret string
}

// StartBIND starts named -c <own config> -f from a temp dir on a loopback
// address, serving opts.Zones as dynamic primary zones, and stops it at
// test cleanup.
func StartBIND(t testing.TB, opts BINDOptions) *BIND {
	t.Helper()
	bin := Need(t, "named", "bind9")
	if len(opts.Zones) == 0 {
		t.Fatal("StartBIND: no zones")
	}
	dir := t.TempDir()
	// named binds only to addresses configured on an interface, so not to
	// the random 127.a.b.c FreeAddr picks: 127.0.0.1 on a free port.
	b := &BIND{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t))), KeyName: "labops-key.", KeySecret: NewTSIGSecret(t)}
	host, port, _ := net.SplitHostPort(b.Addr)
	var conf strings.Builder
	fmt.Fprintf(&conf, `options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	listen-on port %[2]s { %[3]s; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
logging {
	channel labtest { file "%[1]s/named.log"; severity info; print-time yes; };
	category default { labtest; };
};
key "%[4]s" { algorithm hmac-sha256; secret "%[5]s"; };
`, dir, port, host, b.KeyName, b.KeySecret)
	for _, z := range opts.Zones {
		file := filepath.Join(dir, strings.TrimSuffix(z.Name, ".")+".zone")
		writeFile(t, file, z.Data)
		policy := fmt.Sprintf("update-policy { grant %s zonesub ANY; };", b.KeyName)
		if opts.Permissive {
			policy = "allow-update { any; };"
		}
		fmt.Fprintf(&conf, "zone %q {\n\ttype primary;\n\tfile %q;\n\tallow-transfer { key %s; };\n\t%s\n};\n",
			strings.TrimSuffix(z.Name, "."), file, b.KeyName, policy)
	}
	writeFile(t, filepath.Join(dir, "named.conf"), conf.String())
	b.proc = &dnsProc{t: t, name: "named", dir: dir,
		argv:  []string{bin, "-4", "-c", filepath.Join(dir, "named.conf"), "-f"},
		ready: soaReady(b.Addr, opts.Zones[0].Name)}
	t.Cleanup(b.Stop)
	b.Start()
	return b
}

// Start starts named (again) on the same address and files.
func (b *BIND) Start() { b.proc.t.Helper(); b.proc.start() }

// Stop stops named.
func (b *BIND) Stop() { b.proc.stop() }

// Log returns the end of named's log.
func (b *BIND) Log() string { return b.proc.tail() }
