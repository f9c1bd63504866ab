package cli

import (
	"fmt"
	"os"
	"strconv"

	"github.com/labops/labops/internal/labtest"
	"github.com/labops/labops/internal/oci"
)

func removeBlob(r *labtest.Registry, content string) error {
	return os.Remove(r.BlobData(oci.Digest([]byte(content))))
}

func sprint(v any) string { return fmt.Sprintf("%v", v) }

func itoa(i int) string { return strconv.Itoa(i) }
