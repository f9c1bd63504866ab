package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// vaultSource reads a credential from Vault's HTTP API.
type vaultSource struct {
	spec   VaultSource
	client *http.Client
	now    func() time.Time
}

func (v vaultSource) Describe() string {
	if v.spec.StaticCreds != nil {
		return fmt.Sprintf("vault %s/static-creds/%s", v.spec.StaticCreds.Mount, v.spec.StaticCreds.Role)
	}
	return fmt.Sprintf("vault %s/data/%s", v.spec.KV.Mount, v.spec.KV.Path)
}

func (v vaultSource) Fetch(ctx context.Context) (Credential, error) {
	token, err := v.token(ctx)
	if err != nil {
		return Credential{}, err
	}
	if sc := v.spec.StaticCreds; sc != nil {
		body, err := v.call(ctx, http.MethodGet, "/v1/"+sc.Mount+"/static-creds/"+sc.Role, token, nil)
		if err != nil {
			return Credential{}, err
		}
		return parseStaticCreds(body)
	}
	kv := v.spec.KV
	body, err := v.call(ctx, http.MethodGet, "/v1/"+kv.Mount+"/data/"+kv.Path, token, nil)
	if err != nil {
		return Credential{}, err
	}
	return parseKV(body, *kv)
}

// token is the token file's, or one from a Kubernetes auth login.
func (v vaultSource) token(ctx context.Context) (Secret, error) {
	if v.spec.TokenFile != "" {
		return readSecretFile(v.spec.TokenFile)
	}
	k := v.spec.Kubernetes
	jwt, err := readSecretFile(k.JWTFile)
	if err != nil {
		return Secret{}, fmt.Errorf("kubernetes auth: %w", err)
	}
	req, _ := json.Marshal(map[string]string{"role": k.Role, "jwt": jwt.Reveal()})
	body, err := v.call(ctx, http.MethodPost, "/v1/auth/"+k.Mount+"/login", Secret{}, req)
	if err != nil {
		return Secret{}, fmt.Errorf("kubernetes auth as role %q: %w", k.Role, err)
	}
	return parseLogin(body)
}

// call makes one request and returns the body of a 2xx reply. Errors name
// the path and Vault's own error list, never the request body.
func (v vaultSource) call(ctx context.Context, method, path string, token Secret, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(v.spec.Address, "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("vault %s: %w", path, err)
	}
	if !token.Empty() {
		req.Header.Set("X-Vault-Token", token.Reveal())
	}
	if v.spec.Namespace != "" {
		req.Header.Set("X-Vault-Namespace", v.spec.Namespace)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vault %s: %w", path, transportErr(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, fmt.Errorf("vault %s: reading the reply: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("vault %s: %s%s", path, resp.Status, vaultErrors(b))
	}
	return b, nil
}

// maxReply bounds every reply labops reads from an API.
const maxReply = 4 << 20

// vaultErrors renders Vault's {"errors": [...]} body, if that is what it is.
func vaultErrors(b []byte) string {
	var e struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(b, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return ": " + clip(strings.Join(e.Errors, "; "), 300)
}

func parseLogin(b []byte) (Secret, error) {
	var r struct {
		Auth *struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Secret{}, fmt.Errorf("kubernetes auth: the reply is not Vault's JSON: %w", err)
	}
	if r.Auth == nil || r.Auth.ClientToken == "" {
		return Secret{}, errors.New("kubernetes auth: the reply has no auth.client_token")
	}
	return NewSecret(r.Auth.ClientToken), nil
}

// parseStaticCreds reads GET /v1/<mount>/static-creds/<role>: data.username,
// data.password, data.ttl (seconds), data.last_vault_rotation, and
// rotation_period or, for scheduled roles, rotation_schedule.
func parseStaticCreds(b []byte) (Credential, error) {
	var r struct {
		Data *struct {
			Username          string  `json:"username"`
			Password          string  `json:"password"`
			TTL               float64 `json:"ttl"`
			LastVaultRotation string  `json:"last_vault_rotation"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Credential{}, fmt.Errorf("static-creds: the reply is not Vault's JSON: %w", err)
	}
	d := r.Data
	switch {
	case d == nil:
		return Credential{}, errors.New("static-creds: the reply has no data")
	case d.Password == "":
		return Credential{}, errors.New("static-creds: the reply has no data.password")
	case d.Username == "":
		return Credential{}, errors.New("static-creds: the reply has no data.username")
	case d.TTL < 0 || d.TTL > 10*365*24*3600:
		return Credential{}, fmt.Errorf("static-creds: data.ttl %v is not a number of seconds", d.TTL)
	}
	c := Credential{Username: d.Username, Password: NewSecret(d.Password), TTL: time.Duration(d.TTL) * time.Second}
	if d.LastVaultRotation != "" {
		t, err := time.Parse(time.RFC3339Nano, d.LastVaultRotation)
		if err != nil {
			return Credential{}, fmt.Errorf("static-creds: data.last_vault_rotation %q is not a time", clip(d.LastVaultRotation, 40))
		}
		c.LastRotation = t
	}
	return c, nil
}

// parseKV reads GET /v1/<mount>/data/<path>: KV v2 nests the values under
// data.data and the version under data.metadata.
func parseKV(b []byte, kv VaultKV) (Credential, error) {
	var r struct {
		Data *struct {
			Data     map[string]any `json:"data"`
			Metadata struct {
				Version     json.Number `json:"version"`
				DeletionSet string      `json:"deletion_time"`
				Destroyed   bool        `json:"destroyed"`
			} `json:"metadata"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Credential{}, fmt.Errorf("kv %s: the reply is not Vault's JSON: %w", kv.Path, err)
	}
	if r.Data == nil || r.Data.Data == nil {
		// A deleted version answers data.data = null.
		return Credential{}, fmt.Errorf("kv %s: the secret has no data (deleted or destroyed version?)", kv.Path)
	}
	str := func(key string) (string, error) {
		v, ok := r.Data.Data[key]
		if !ok {
			return "", fmt.Errorf("kv %s: no key %q (keys: %s)", kv.Path, key, strings.Join(keys(r.Data.Data), ", "))
		}
		s, ok := v.(string)
		if !ok || s == "" {
			return "", fmt.Errorf("kv %s: key %q is not a non-empty string", kv.Path, key)
		}
		return s, nil
	}
	pw, err := str(kv.PasswordKey)
	if err != nil {
		return Credential{}, err
	}
	c := Credential{Password: NewSecret(pw), Username: kv.Username, Version: r.Data.Metadata.Version.String()}
	if kv.UsernameKey != "" {
		if c.Username, err = str(kv.UsernameKey); err != nil {
			return Credential{}, err
		}
	}
	return c, nil
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, fmt.Sprintf("%q", clip(k, 40)))
	}
	slices.Sort(out)
	return out
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
