// Package labtest starts real servers (registry:2, Pushgateway, ...) from
// temp dirs on loopback ports for tests, and stops them at test cleanup.
// A missing server skips the test locally, naming the package to install;
// under CI=true the skip is a failure, because scripts/test-deps must have
// installed it.
package labtest

import (
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
