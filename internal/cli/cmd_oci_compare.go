package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/labops/labops/internal/oci"
)

type ociCompareOptions struct {
	shared, a, b ociFlags
}

func newOCICompareCommand(app *App) *cobra.Command {
	var o ociCompareOptions
	cmd := &cobra.Command{
		Use:   "compare REF_A REF_B",
		Short: "Say whether two image references are the same image, and how they differ",
		Long: `Resolve two references (for a dual push: the same tag in two registries) and
exit 0 when they are the same digest. Otherwise read both images and say how
they differ: media type (index or image, OCI or Docker), platforms only one
index has, and for each platform both have, the child manifests, configs and
which layers differ.

REF is host[:port]/repository[:tag][@digest], optionally prefixed with
http:// or https://. A reference that does not exist fails (exit 1) and the
report says which; one whose registry cannot be reached is exit 3.

Auth: --a-* and --b-* flags; without them each registry's credentials come
from the Docker config file, else anonymous.`,
		Example: `  labops oci compare old.example.org/app:1.4 git.example.org/ops/app:1.4
  labops oci compare http://127.0.0.1:5000/app:main http://127.0.0.1:5001/app:main --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, app, args[0], args[1]) },
	}
	fs := cmd.Flags()
	fs.DurationVar(&o.shared.timeout, "timeout", 5*time.Minute, "time limit for the whole comparison (exit 3 when reached)")
	fs.DurationVar(&o.shared.requestTimeout, "request-timeout", oci.DefaultRequestTimeout, "time limit for each HTTP request")
	fs.BoolVar(&o.shared.json, "json", false, "print the comparison as JSON")
	registerSide(fs, &o.a, "a", "registry of REF_A")
	registerSide(fs, &o.b, "b", "registry of REF_B")
	return cmd
}

func (o *ociCompareOptions) ref(cmd *cobra.Command, app *App, f *ociFlags, name, arg string) (oci.Reference, *oci.Client, error) {
	f.concurrency, f.requestTimeout, f.timeout, f.depth = oci.DefaultConcurrency, o.shared.requestTimeout, o.shared.timeout, "blobs"
	if _, err := f.validate(cmd); err != nil {
		var ee *ExitError
		if errors.As(err, &ee) {
			ee.Err = fmt.Errorf("%s: %w", name, ee.Err)
		}
		return oci.Reference{}, nil, err
	}
	ref, err := oci.ParseReference(arg, f.plainHTTP)
	if err != nil {
		return oci.Reference{}, nil, usageErrorf(cmd, "%s: %v", name, err)
	}
	c, err := f.client(cmd, app, ref.Registry)
	return ref, c, err
}

func (o *ociCompareOptions) run(cmd *cobra.Command, app *App, argA, argB string) error {
	refA, ca, err := o.ref(cmd, app, &o.a, "REF_A", argA)
	if err != nil {
		return err
	}
	refB, cb, err := o.ref(cmd, app, &o.b, "REF_B", argB)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.shared.timeout)
	defer cancel()
	c := oci.Compare(ctx, ca, cb, refA, refB)
	return app.printReport(c, o.shared.json, c.Status, "the comparison is incomplete", c.Error)
}
