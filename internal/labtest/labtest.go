// Package labtest starts real servers (registry:2, Pushgateway, ...) from
// temp dirs on loopback ports for tests, and stops them at test cleanup.
// A missing server skips the test locally, naming the package to install;
// under CI=true the skip is a failure, because scripts/test-deps must have
// installed it.
package labtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Need returns the path of binary, or skips the test (fails it under
// CI=true) with a message naming the Debian package or Go tool to install.
func Need(t testing.TB, binary, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(binary)
	if err == nil {
		return p
	}
	msg := binary + " not found: install " + pkg + " (scripts/test-deps does)"
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// InCI reports whether the tests run under CI (CI=true), where a missing
// server is a failure, not a skip.
func InCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// FreeAddr returns "127.a.b.c:port": a free port on a random loopback
// address. Servers that must be told a port (they cannot report one they
// chose) race between this check and their bind; spreading them over
// 127.0.0.0/8 makes two tests of different packages, running at once,
// practically never pick the same address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ip := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("finding a free address: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
