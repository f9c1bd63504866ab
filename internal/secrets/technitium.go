package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// technitiumSink keeps the password inside a Technitium app's connection
// string. Technitium's /api/apps/config/set replaces the app's whole config
// (an empty one wipes it), so the sink reads the config, changes only the
// password (and the user, when the source names one) inside the one JSON
// string that holds the connection string, leaves every other byte as it
// was, and writes the whole config back. Every reply is HTTP 200 with
// "status": "ok", "error" (+ "errorMessage") or "invalid-token".
type technitiumSink struct {
	spec    TechnitiumSink
	client  *http.Client
	timeout time.Duration
}

func (t technitiumSink) Type() string { return "technitium" }

func (t technitiumSink) Target() string {
	return strings.Join([]string{t.spec.URL, t.spec.App, t.spec.Field}, "\x00")
}

// Push returns false when the app already held c.
func (t technitiumSink) Push(ctx context.Context, c Credential) (bool, error) {
	cfg, err := t.getConfig(ctx)
	if err != nil {
		return false, err
	}
	pairs, span, err := t.connString(cfg)
	if err != nil {
		return false, err
	}
	next := connSet(pairs, connPasswordKeys, "Pwd", c.Password.Reveal())
	if c.Username != "" {
		next = connSet(next, connUserKeys, "Uid", c.Username)
	}
	if formatConnString(next) == formatConnString(pairs) {
		return false, nil
	}
	val, err := marshalJSONString(formatConnString(next))
	if err != nil {
		return false, err
	}
	out := make([]byte, 0, len(cfg)+len(val))
	out = append(out, cfg[:span[0]]...)
	out = append(out, val...)
	out = append(out, cfg[span[1]:]...)
	if len(bytes.TrimSpace(out)) == 0 {
		return false, errors.New("refusing to write an empty config: Technitium would wipe the app's config")
	}
	form := url.Values{"token": {""}, "name": {t.spec.App}, "config": {string(out)}}
	if _, err := t.call(ctx, "/api/apps/config/set", form); err != nil {
		return false, err
	}
	return true, nil
}

// Verify reads the config back: it must hold c, and the database it names
// must let its user in with c's password.
func (t technitiumSink) Verify(ctx context.Context, c Credential) error {
	cfg, err := t.getConfig(ctx)
	if err != nil {
		return err
	}
	pairs, _, err := t.connString(cfg)
	if err != nil {
		return err
	}
	if pw, _ := connGet(pairs, connPasswordKeys); pw != c.Password.Reveal() {
		return fmt.Errorf("app %q: the config read back does not hold the new password (someone else changed it?)", t.spec.App)
	}
	user, _ := connGet(pairs, connUserKeys)
	if c.Username != "" && user != c.Username {
		return fmt.Errorf("app %q: the config read back names user %q, not %q", t.spec.App, clip(user, 64), c.Username)
	}
	if !enabled(t.spec.Verify) {
		return nil
	}
	addr, err := mysqlAddr(pairs)
	if err != nil {
		return fmt.Errorf("app %q: %w", t.spec.App, err)
	}
	return mysqlLogin(ctx, addr, user, c.Password, t.timeout)
}

func (t technitiumSink) getConfig(ctx context.Context) ([]byte, error) {
	resp, err := t.call(ctx, "/api/apps/config/get", url.Values{"token": {""}, "name": {t.spec.App}})
	if err != nil {
		return nil, err
	}
	var r struct {
		Config *string `json:"config"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		return nil, fmt.Errorf("app %q: config/get: the response is not an object: %w", t.spec.App, err)
	}
	if r.Config == nil || strings.TrimSpace(*r.Config) == "" {
		return nil, fmt.Errorf("app %q has no config: refusing to write one from nothing (install the app and configure it once)", t.spec.App)
	}
	return []byte(*r.Config), nil
}

// connString finds the spec's field in the app's JSON config and parses it;
// span is where its JSON string sits in cfg.
func (t technitiumSink) connString(cfg []byte) ([]connPair, [2]int, error) {
	raw, span, err := topLevelValue(cfg, t.spec.Field)
	if err != nil {
		return nil, span, fmt.Errorf("app %q: %w", t.spec.App, err)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, span, fmt.Errorf("app %q: config field %q is not a string", t.spec.App, t.spec.Field)
	}
	pairs, err := parseConnString(s)
	if err != nil {
		return nil, span, fmt.Errorf("app %q: config field %q: %w", t.spec.App, t.spec.Field, err)
	}
	return pairs, span, nil
}

// call posts form to path (the token in the body, never in a URL) and
// returns the "response" member of an "ok" reply.
func (t technitiumSink) call(ctx context.Context, path string, form url.Values) (json.RawMessage, error) {
	token, err := readSecretFile(t.spec.TokenFile)
	if err != nil {
		return nil, err
	}
	form.Set("token", token.Reveal())
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(t.spec.URL, "/")+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("technitium %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, body, err := do(ctx, t.client, req, "technitium "+path)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("technitium %s: HTTP %d", path, code)
	}
	return parseTechnitiumReply(path, body)
}

func parseTechnitiumReply(path string, body []byte) (json.RawMessage, error) {
	var r struct {
		Status       string          `json:"status"`
		ErrorMessage string          `json:"errorMessage"`
		Response     json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("technitium %s: the reply is not Technitium's JSON: %w", path, err)
	}
	switch r.Status {
	case "ok":
		if len(r.Response) == 0 {
			return json.RawMessage("{}"), nil
		}
		return r.Response, nil
	case "invalid-token":
		return nil, fmt.Errorf("technitium %s: the API token was refused (invalid-token)", path)
	case "error":
		return nil, fmt.Errorf("technitium %s: %s", path, clip(r.ErrorMessage, 300))
	default:
		return nil, fmt.Errorf("technitium %s: unknown status %q", path, clip(r.Status, 40))
	}
}

// topLevelValue returns the raw JSON value of key in the object doc and
// its byte span, so that one value can be replaced without re-encoding
// (and reordering) the rest.
func topLevelValue(doc []byte, key string) (json.RawMessage, [2]int, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, [2]int{}, errors.New("the config is not a JSON object")
	}
	var seen []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, [2]int{}, fmt.Errorf("the config is not valid JSON: %w", err)
		}
		k, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, [2]int{}, fmt.Errorf("the config is not valid JSON: %w", err)
		}
		if k == key {
			end := int(dec.InputOffset())
			return raw, [2]int{end - len(raw), end}, nil
		}
		seen = append(seen, fmt.Sprintf("%q", clip(k, 40)))
	}
	return nil, [2]int{}, fmt.Errorf("the config has no field %q (fields: %s)", key, strings.Join(seen, ", "))
}

// marshalJSONString encodes s without HTML escaping, as Technitium writes.
func marshalJSONString(s string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
