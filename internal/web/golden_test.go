package web

import (
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestGoldenPages renders each page from fixed data and a fixed clock and
// compares it byte for byte with testdata/NAME.golden (go test -update
// rewrites them; review the diff).
func TestGoldenPages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, path string }{
		{"index", "/"},
		{"job", "/jobs/registry-probe"},
		{"run", "/runs/3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts, _, _ := fixture()
			rec := httptest.NewRecorder()
			New(opts).ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, tc.path, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", tc.path, rec.Code)
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			got := rec.Body.String()
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run go test -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("GET %s differs from %s (-want +got; go test -update rewrites it):\n%s", tc.path, golden, diff)
			}
		})
	}
}
