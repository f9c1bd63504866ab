package secrets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// However a Credential is printed, logged or marshalled, the password
// stays out.
func TestSecretNeverShows(t *testing.T) {
	t.Parallel()
	const pw = "hunter2-very-secret"
	c := Credential{Username: "u", Password: NewSecret(pw)}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%T %v"} {
		out = append(out, fmt.Sprintf(verb, c), fmt.Sprintf(verb, c.Password), fmt.Sprintf(verb, &c))
	}
	out = append(out, fmt.Sprint(c), fmt.Sprintln(c.Password), c.Password.String())
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(js))
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("x", "cred", c, "pw", c.Password, "group", slog.Group("g", "p", c.Password))
	}
	out = append(out, logs.String())
	for _, s := range out {
		if strings.Contains(s, pw) || strings.Contains(s, fmt.Sprintf("%x", pw)) {
			t.Errorf("the password shows: %s", s)
		}
	}
	if c.Password.Reveal() != pw {
		t.Error("Reveal lost the value")
	}
}
