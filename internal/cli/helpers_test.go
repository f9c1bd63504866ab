package cli

import (
	"net"
	"net/http"
	"testing"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

func serveOnLoopback(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// startRegistry starts a throwaway registry:2 and returns it with a client
// built with opts and a pusher to seed it.
func startRegistry(t *testing.T, opts oci.Options) (*labtest.Registry, *oci.Client, *oci.Pusher) {
	t.Helper()
	r := labtest.StartRegistry(t, labtest.RegistryOptions{})
	reg, err := oci.ParseRegistry(r.URL(), false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := oci.NewClient(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r, c, oci.NewPusher(c)
}
