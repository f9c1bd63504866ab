package secrets

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseConnString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []connPair
		err  bool
	}{
		{in: "Server=192.168.1.5; Port=3306; Uid=dns; Pwd=secret;", want: []connPair{{"Server", "192.168.1.5"}, {"Port", "3306"}, {"Uid", "dns"}, {"Pwd", "secret"}}},
		{in: `Server=db;Password="a;b""c";User ID='o''neil'`, want: []connPair{{"Server", "db"}, {"Password", `a;b"c`}, {"User ID", "o'neil"}}},
		{in: " ; ;Server = db ;; ", want: []connPair{{"Server", "db"}}},
		{in: "", want: nil},
		{in: "Server", err: true},
		{in: "=x", err: true},
		{in: `Pwd="open`, err: true},
		{in: `Pwd="a"b;`, err: true},
	} {
		got, err := parseConnString(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("parse(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("parse(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestConnSetKeepsTheRest(t *testing.T) {
	t.Parallel()
	pairs, err := parseConnString("Server=db; User Id=dns; PASSWORD=old; SslMode=Required;")
	if err != nil {
		t.Fatal(err)
	}
	got := formatConnString(connSet(pairs, connPasswordKeys, "Pwd", `n;e"w`))
	if want := `Server=db; User Id=dns; PASSWORD="n;e""w"; SslMode=Required;`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got = formatConnString(connSet(pairs[:1], connPasswordKeys, "Pwd", "x"))
	if want := "Server=db; Pwd=x;"; got != want {
		t.Errorf("added: got %s, want %s", got, want)
	}
	if addr, err := mysqlAddr(pairs); err != nil || addr != "db:3306" {
		t.Errorf("mysqlAddr = %q, %v", addr, err)
	}
}

// Whatever a Technitium config holds, setting a password and reading it
// back gives that password and leaves the other pairs as they were.
func FuzzConnString(f *testing.F) {
	for _, s := range []string{"Server=db; Port=3306; Uid=dns; Pwd=secret;", `Pwd="a;b""c"`, "x=1;;y='2'", "Data Source=a,b;Port=1"} {
		f.Add(s, "new;pw\"'=")
	}
	f.Fuzz(func(t *testing.T, s, pw string) {
		pairs, err := parseConnString(s)
		if err != nil {
			return
		}
		out := formatConnString(connSet(pairs, connPasswordKeys, "Pwd", pw))
		back, err := parseConnString(out)
		if err != nil {
			t.Fatalf("%q → %q no longer parses: %v", s, out, err)
		}
		if got, _ := connGet(back, connPasswordKeys); got != pw {
			t.Fatalf("%q: password read back %q, want %q (written %q)", s, got, pw, out)
		}
		var keep, kept []connPair
		for _, p := range pairs {
			if !isKey(p.Key, connPasswordKeys) {
				keep = append(keep, p)
			}
		}
		for _, p := range back {
			if !isKey(p.Key, connPasswordKeys) {
				kept = append(kept, p)
			}
		}
		if len(keep) != len(kept) {
			t.Fatalf("%q → %q: other pairs %v became %v", s, out, keep, kept)
		}
		for i := range keep {
			if normKey(keep[i].Key) != normKey(kept[i].Key) || keep[i].Value != kept[i].Value {
				t.Fatalf("%q → %q: pair %v became %v", s, out, keep[i], kept[i])
			}
		}
	})
}
