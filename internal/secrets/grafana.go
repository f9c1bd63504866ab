package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// grafanaSink sets a datasource's secureJsonData password through
// PUT /api/datasources/uid/<uid>, whose body is the model the matching GET
// returned plus secureJsonData. Grafana keeps the secure fields a PUT does
// not name. It answers 400 when the body's uid differs, 403 for a
// provisioned (read-only) datasource and 409 when the version sent is not
// the current one (someone else changed it first): each is a finding.
type grafanaSink struct {
	spec   GrafanaSink
	client *http.Client
}

func (g grafanaSink) Type() string { return "grafana" }

func (g grafanaSink) Target() string {
	return strings.Join([]string{g.spec.URL, g.spec.DatasourceUID, g.spec.Field}, "\x00")
}

func (g grafanaSink) path() string { return "/api/datasources/uid/" + g.spec.DatasourceUID }

// Push always writes: Grafana never shows a stored secret, so whether it
// changed is known only from the state dir's hash.
func (g grafanaSink) Push(ctx context.Context, c Credential) (bool, error) {
	code, body, err := g.call(ctx, http.MethodGet, g.path(), nil)
	if err != nil {
		return false, err
	}
	if code != http.StatusOK {
		return false, g.statusErr("reading", code, body)
	}
	var model map[string]json.RawMessage
	if err := json.Unmarshal(body, &model); err != nil || model == nil {
		return false, fmt.Errorf("grafana datasource %s: the reply is not a datasource object", g.spec.DatasourceUID)
	}
	if ro, ok := model["readOnly"]; ok && string(ro) == "true" {
		return false, fmt.Errorf("grafana datasource %s is provisioned (read-only): change its provisioning file or the secret it reads instead", g.spec.DatasourceUID)
	}
	delete(model, "secureJsonFields")
	secure, _ := json.Marshal(map[string]string{g.spec.Field: c.Password.Reveal()})
	model["secureJsonData"] = secure
	if c.Username != "" {
		u, _ := json.Marshal(c.Username)
		model["user"] = u
	}
	put, err := json.Marshal(model)
	if err != nil {
		return false, err
	}
	code, body, err = g.call(ctx, http.MethodPut, g.path(), put)
	if err != nil {
		return false, err
	}
	if code/100 != 2 {
		return false, g.statusErr("updating", code, body)
	}
	return true, nil
}

// Verify runs the datasource's health check: Grafana connects to the
// database with the stored password.
func (g grafanaSink) Verify(ctx context.Context, _ Credential) error {
	if !enabled(g.spec.Verify) {
		return nil
	}
	code, body, err := g.call(ctx, http.MethodGet, g.path()+"/health", nil)
	if err != nil {
		return err
	}
	var r struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &r)
	if code != http.StatusOK || !strings.EqualFold(r.Status, "OK") {
		msg := r.Message
		if msg == "" {
			msg = fmt.Sprintf("HTTP %d", code)
		}
		return fmt.Errorf("grafana datasource %s: health check failed: %s", g.spec.DatasourceUID, clip(msg, 300))
	}
	return nil
}

func (g grafanaSink) call(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	token, err := readSecretFile(g.spec.TokenFile)
	if err != nil {
		return 0, nil, err
	}
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, strings.TrimRight(g.spec.URL, "/")+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("grafana %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(ctx, g.client, req, "grafana "+method+" "+path)
}

// statusErr turns Grafana's refusals into findings that say what to do.
func (g grafanaSink) statusErr(doing string, code int, body []byte) error {
	var r struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &r)
	msg := clip(r.Message, 200)
	uid := g.spec.DatasourceUID
	switch code {
	case http.StatusUnauthorized:
		return fmt.Errorf("grafana datasource %s: the token was refused (401)", uid)
	case http.StatusNotFound:
		return fmt.Errorf("grafana datasource %s: no datasource with this uid (404)", uid)
	case http.StatusForbidden:
		return fmt.Errorf("grafana datasource %s: %s refused (403: read-only or provisioned datasource, or a token without datasources:write): %s", uid, doing, msg)
	case http.StatusConflict:
		return fmt.Errorf("grafana datasource %s: someone else changed it first (409, version conflict); the next run reads it again: %s", uid, msg)
	case http.StatusBadRequest:
		return fmt.Errorf("grafana datasource %s: %s refused (400): %s", uid, doing, msg)
	default:
		return fmt.Errorf("grafana datasource %s: %s: HTTP %d: %s", uid, doing, code, msg)
	}
}
