package cli

import (
	"strings"
	"testing"
)

func TestCheckArgs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string // "" for valid; else a fragment of the error
	}{
		{args: []string{"run", "registry", "--config", "/etc/labops/labops.yaml"}},
		{args: []string{"serve", "--listen", "0.0.0.0:9840"}},
		{args: []string{"oci", "check", "http://127.0.0.1:5000"}},
		{args: []string{"--log-format", "json", "run", "x"}},
		{args: []string{"backup", "verify", "--help"}},
		{args: []string{"rnu", "x"}, want: "unknown command"},
		{args: []string{"oci"}, want: "group of commands"},
		{args: []string{"run", "x", "--no-such-flag"}, want: "unknown flag"},
		{args: []string{"backup", "restore"}, want: "arg"},
		{args: []string{"config", "check", "extra"}, want: "unknown command"},
	} {
		err := CheckArgs(tc.args)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckArgs(%q) = %v, want nil", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckArgs(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
