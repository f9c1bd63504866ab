package backup

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	s := Spec{Parallel: -1, Servers: []ServerSpec{
		{Name: "pg", Type: TypePostgres, Host: "h", User: "u", Compress: "gzip"},
		{Name: "pg", Type: TypeMySQL, Host: "h", User: "u", Compress: "zstd", Exclude: []string{"[x"}},
		{Type: "oracle", Port: 70000},
	}, Retention: RetentionSpec{Daily: -1}, Verify: VerifySpec{Sentinels: []Sentinel{{Server: "x"}}}}
	want := `root: required: the directory dumps are written under
parallel: must not be negative
servers[0].compress: postgres dumps are in pg_dump's compressed custom format already
servers[1].name: "pg" is used twice
servers[1].compress: "zstd" is not a compression (valid: gzip)
servers[1].include/exclude[0]: bad pattern "[x"
servers[2].name: required
servers[2].type: "oracle" is not a server type (valid: postgres, mysql)
servers[2].host: required
servers[2].port: 70000 is not a port
servers[2].user: required
verify.sentinels[0].server: "x" is not a configured server
verify.sentinels[0].database: required
verify.sentinels[0].query: required: a query returning one integer
retention.daily: must not be negative`
	err := s.Validate()
	if err == nil {
		t.Fatal("no problems")
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestSelected(t *testing.T) {
	t.Parallel()
	sv := ServerSpec{Include: []string{"app*", "shop"}, Exclude: []string{"app_tmp*"}}
	got := map[string]bool{}
	for _, db := range []string{"app", "app_tmp1", "shop", "other", "postgres"} {
		got[db] = sv.selected(db, db == "postgres")
	}
	want := map[string]bool{"app": true, "app_tmp1": false, "shop": true, "other": false, "postgres": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("selected (-want +got):\n%s", diff)
	}
	sys := ServerSpec{IncludeSystem: true}
	if !sys.selected("mysql", true) {
		t.Error("include_system does not select a system database")
	}
}
