package labtest

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// KnotOptions configure StartKnot.
type KnotOptions struct {
	Zones []BINDZone // name and zone file text, as for BIND
	// Permissive lets anyone update the zones unsigned.
	Permissive bool
}

// Knot is a running Knot DNS knotd with one TSIG key (hmac-sha256);
// transfers and updates of its zones need the key (unless Permissive).
type Knot struct {
	proc *dnsProc
	// Addr is where it answers DNS (UDP and TCP).
	Addr string
	// KeyName and KeySecret (base64) are the TSIG key.
	KeyName, KeySecret string
}

// StartKnot starts knotd -c <own config> from a temp dir on a loopback
// address, serving opts.Zones as primary zones that accept dynamic
// updates, and stops it at test cleanup.
func StartKnot(t testing.TB, opts KnotOptions) *Knot {
	t.Helper()
	bin := Need(t, "knotd", "knot")
	if len(opts.Zones) == 0 {
		t.Fatal("StartKnot: no zones")
	}
	dir := t.TempDir()
	k := &Knot{Addr: FreeAddr(t), KeyName: "labops-key.", KeySecret: NewTSIGSecret(t)}
	host, port, _ := strings.Cut(k.Addr, ":")
	var conf strings.Builder
	fmt.Fprintf(&conf, `server:
    rundir: "%[1]s"
    listen: %[2]s@%[3]s
log:
  - target: stderr
    any: info
database:
    storage: "%[1]s"
key:
  - id: %[4]s
    algorithm: hmac-sha256
    secret: %[5]s
acl:
  - id: signed
    key: %[4]s
    action: [transfer, update]
`, dir, host, port, k.KeyName, k.KeySecret)
	acls := "[signed]"
	if opts.Permissive {
		conf.WriteString("  - id: anyone\n    address: 0.0.0.0/0\n    action: update\n")
		acls = "[signed, anyone]"
	}
	fmt.Fprintf(&conf, "template:\n  - id: default\n    storage: %q\n    zonefile-sync: -1\n    journal-content: all\n    zonefile-load: difference-no-serial\n    semantic-checks: off\nzone:\n", dir)
	for _, z := range opts.Zones {
		name := strings.TrimSuffix(z.Name, ".")
		file := filepath.Join(dir, name+".zone")
		writeFile(t, file, z.Data)
		fmt.Fprintf(&conf, "  - domain: %s\n    file: %q\n    acl: %s\n", name, file, acls)
	}
	writeFile(t, filepath.Join(dir, "knot.conf"), conf.String())
	k.proc = &dnsProc{t: t, name: "knotd", dir: dir,
		argv:  []string{bin, "-c", filepath.Join(dir, "knot.conf")},
		ready: soaReady(k.Addr, opts.Zones[0].Name)}
	t.Cleanup(k.Stop)
	k.Start()
	return k
}

// Start starts knotd (again) on the same address and files.
func (k *Knot) Start() { k.proc.t.Helper(); k.proc.start() }

// Stop stops knotd.
func (k *Knot) Stop() { k.proc.stop() }

// Log returns the end of knotd's log.
func (k *Knot) Log() string { return k.proc.tail() }
