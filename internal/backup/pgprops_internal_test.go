package backup

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRetargetProperties(t *testing.T) {
	t.Parallel()
	sql := "SET statement_timeout = 0;\n\\connect \"we'ird db-\"\"1\"\" ;x\"\n\n" +
		"COMMENT ON DATABASE \"we'ird db-\"\"1\"\" ;x\" IS 'it''s the \"weird\" one;\nsecond line';\n\n" +
		"ALTER DATABASE \"we'ird db-\"\"1\"\" ;x\" SET search_path TO 'app', 'public';\n" +
		"ALTER DATABASE plain SET statement_timeout TO '5s';\n" +
		"CREATE DATABASE other;\n"
	got, err := retargetProperties(sql, `new "one"`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"COMMENT ON DATABASE \"new \"\"one\"\"\" IS 'it''s the \"weird\" one;\nsecond line';",
		"ALTER DATABASE \"new \"\"one\"\"\" SET search_path TO 'app', 'public';",
		"ALTER DATABASE \"new \"\"one\"\"\" SET statement_timeout TO '5s';",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"ALTER DATABASE \"open SET x TO 1;\n", "COMMENT ON DATABASE x IS 'open;\n"} {
		if _, err := retargetProperties(bad, "y"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// Whatever pg_restore writes, retargeting never panics, and every
// statement it returns names the target and ends its statement.
func FuzzRetargetProperties(f *testing.F) {
	f.Add("ALTER DATABASE \"a\"\"b\" SET x TO 'y;z';\nCOMMENT ON DATABASE c IS 'd';\n")
	f.Add("COMMENT ON DATABASE \"x\" IS '\n';")
	f.Fuzz(func(t *testing.T, sql string) {
		stmts, err := retargetProperties(sql, "target")
		if err != nil {
			return
		}
		for _, s := range stmts {
			if !strings.HasPrefix(s, `ALTER DATABASE "target" `) && !strings.HasPrefix(s, `COMMENT ON DATABASE "target" `) {
				t.Fatalf("%q does not name the target", s)
			}
			if !strings.HasSuffix(s, ";") {
				t.Fatalf("%q does not end its statement", s)
			}
		}
	})
}
