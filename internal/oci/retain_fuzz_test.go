package oci_test

import (
	"testing"
	"time"

	"github.com/labops/labops/internal/oci"
)

func TestParseImageCreated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want time.Time
		ok   bool
		err  bool
	}{
		{body: `{"created":"2025-01-02T03:04:05Z","os":"linux"}`, want: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), ok: true},
		{body: `{"created":"2025-01-02T04:04:05.123456789+01:00"}`, want: time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC), ok: true},
		{body: `{"os":"linux"}`},
		{body: `{"created":""}`},
		{body: `{"created":null}`},
		{body: `{"created":"1970-01-01T00:00:00Z"}`}, // reproducible builds
		{body: `{"created":"yesterday"}`, err: true},
		{body: `{"created":5}`, err: true},
		{body: `not json`, err: true},
	} {
		got, ok, err := oci.ParseImageCreated([]byte(tc.body))
		if (err != nil) != tc.err || ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("%s: got %v %v %v, want %v %v err=%v", tc.body, got, ok, err, tc.want, tc.ok, tc.err)
		}
	}
}

func FuzzParseImageCreated(f *testing.F) {
	for _, s := range []string{`{"created":"2025-01-02T03:04:05Z"}`, `{"created":""}`, `{}`, `[]`, `{"created":"0000-01-01T00:00:00Z"}`, `{"created":"9999-12-31T23:59:59.999999999-23:59"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok, err := oci.ParseImageCreated(body)
		if err != nil && ok {
			t.Fatalf("error %v with ok", err)
		}
		if ok && (got.IsZero() || got.Unix() <= 0 || got.Location() != time.UTC) {
			t.Fatalf("ok with time %v", got)
		}
	})
}
