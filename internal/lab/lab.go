// Package lab is the embedded lab `labops serve` starts when it has no
// config: an in-process OCI registry (olareg) on loopback, seeded with
// healthy and deliberately broken images, and an oci-probe job against it,
// so a newcomer sees real findings on the status page within a minute.
package lab

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/olareg/olareg"
	olacfg "github.com/olareg/olareg/config"
	"go.yaml.in/yaml/v3"

	"github.com/labops/labops/internal/config"
	"github.com/labops/labops/internal/oci"
)

// Lab is a running embedded lab.
type Lab struct {
	srv     *http.Server
	handler *olareg.Server
	addr    string
}

// Repos are the lab's repositories. olareg has no catalog endpoint (it is
// optional in the distribution spec), so the probe is given them, as it
// would be for any registry that refuses the catalog.
var Repos = []string{"lab/alpine", "lab/app", "lab/ci", "lab/web"}

// Broken names the images the lab breaks on purpose, as subjects the probe
// reports ("repo:tag").
var Broken = []string{"lab/ci:latest", "lab/web:1.0"}

// Start starts the registry on a free loopback port and seeds it.
func Start(ctx context.Context, log *slog.Logger) (*Lab, error) {
	yes, no := true, false
	h := olareg.New(olacfg.Config{
		Storage: olacfg.ConfigStorage{
			StoreType: olacfg.StoreMem,
			// No collection: the lab's broken images must stay broken.
			GC: olacfg.ConfigGC{Frequency: -1, GracePeriod: -1},
		},
		API: olacfg.ConfigAPI{
			DeleteEnabled: &yes,
			Blob:          olacfg.ConfigAPIBlob{DeleteEnabled: &yes},
			Referrer:      olacfg.ConfigAPIReferrer{Enabled: &no},
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the lab registry: %w", err)
	}
	l := &Lab{handler: h, addr: ln.Addr().String(),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = l.srv.Serve(ln) }()
	if err := l.seed(ctx); err != nil {
		l.Close()
		return nil, fmt.Errorf("seeding the lab registry: %w", err)
	}
	log.Info("embedded lab registry seeded", "addr", l.addr, "broken", Broken)
	return l, nil
}

// Close stops the registry.
func (l *Lab) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.srv.Shutdown(ctx)
	_ = l.handler.Close()
}

// RegistryURL is the lab registry's base URL.
func (l *Lab) RegistryURL() string { return "http://" + l.addr }

// Describe is the banner text for the status page.
func (l *Lab) Describe() string {
	return fmt.Sprintf("No config file was given, so labops runs its embedded lab: an in-process registry at %s "+
		"with healthy images and two broken on purpose (%s: an index whose arm64 child manifest is gone; %s: an image with a missing layer), "+
		"probed every minute by the lab-registry job. Pass --config to run your own jobs.",
		l.RegistryURL(), Broken[0], Broken[1])
}

// Config is the lab's job list: one oci-probe every minute.
func (l *Lab) Config() *config.File {
	var spec yaml.Node
	_ = spec.Encode(map[string]any{"registry": l.RegistryURL(), "repos": Repos})
	return &config.File{Jobs: []config.Job{{
		Name:     "lab-registry",
		Kind:     "oci-probe",
		Schedule: "* * * * *",
		Timeout:  time.Minute,
		Spec:     spec,
	}}}
}

// blob returns n deterministic bytes derived from seed.
func blob(seed string, n int) []byte {
	out := make([]byte, 0, n)
	sum := sha256.Sum256([]byte(seed))
	for len(out) < n {
		out = append(out, sum[:]...)
		sum = sha256.Sum256(sum[:])
	}
	return out[:n]
}

func image(name, arch string, layers ...string) oci.Image {
	img := oci.Image{
		Config:   []byte(fmt.Sprintf(`{"architecture":%q,"os":"linux","config":{},"rootfs":{"type":"layers"},"comment":%q}`, arch, name)),
		Platform: &oci.Platform{OS: "linux", Architecture: arch},
	}
	for _, s := range layers {
		img.Layers = append(img.Layers, blob(s, 2048))
	}
	return img
}

func (l *Lab) seed(ctx context.Context) error {
	reg, err := oci.ParseRegistry(l.addr, true)
	if err != nil {
		return err
	}
	c, err := oci.NewClient(reg, oci.Options{})
	if err != nil {
		return err
	}
	p := oci.NewPusher(c)

	// Healthy single-arch images sharing a base layer.
	for _, tag := range []string{"3.19", "3.20"} {
		if _, err := p.PushImage(ctx, "lab/alpine", tag, image("alpine-"+tag, "amd64", "base", "alpine-"+tag)); err != nil {
			return err
		}
	}
	// A healthy multi-arch index with untagged children.
	if _, err := pushIndex(ctx, p, "lab/app", "v1", "app"); err != nil {
		return err
	}
	// The incident: an index whose arm64 child manifest is gone.
	children, err := pushIndex(ctx, p, "lab/ci", "latest", "ci")
	if err != nil {
		return err
	}
	if err := l.delete(ctx, "/v2/lab/ci/manifests/"+children[1].Digest); err != nil {
		return err
	}
	// An image with a missing layer.
	img := image("web", "amd64", "base", "web-app")
	if _, err := p.PushImage(ctx, "lab/web", "1.0", img); err != nil {
		return err
	}
	return l.delete(ctx, "/v2/lab/web/blobs/"+oci.Digest(img.Layers[1]))
}

func pushIndex(ctx context.Context, p *oci.Pusher, repo, tag, name string) ([]oci.Descriptor, error) {
	var children []oci.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		d, err := p.PushImage(ctx, repo, "", image(name+"-"+arch, arch, "base-"+arch, name+"-"+arch))
		if err != nil {
			return nil, err
		}
		children = append(children, d)
	}
	_, err := p.PushIndex(ctx, repo, tag, children, false)
	return children, err
}

func (l *Lab) delete(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, l.RegistryURL()+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return errors.New("DELETE " + path + ": " + resp.Status)
	}
	return nil
}
