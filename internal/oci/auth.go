package oci

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Credentials are a username and password (or token) for a registry. They
// are never logged; String hides the password.
type Credentials struct {
	Username string
	Password string
}

func (c Credentials) String() string {
	if c.Username == "" {
		return "anonymous"
	}
	return c.Username + ":<redacted>"
}

// Empty reports whether c holds no credentials.
func (c Credentials) Empty() bool { return c.Username == "" && c.Password == "" }

// ReadPasswordFile reads a password from path, trimming one trailing newline.
func ReadPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading password file: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	return s, nil
}

// DockerConfigPath returns where the Docker config file lives:
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func DockerConfigPath(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		home = h
	}
	return filepath.Join(home, ".docker", "config.json")
}

// DockerConfigCredentials returns the credentials for host from the
// "auths" section of the Docker config file at path. A missing file or host
// is not an error (found is false). Credential helpers (credsStore) are not
// supported.
func DockerConfigCredentials(path, host string) (creds Credentials, found bool, err error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) || path == "" {
		return Credentials{}, false, nil
	}
	if err != nil {
		return Credentials{}, false, fmt.Errorf("reading docker config: %w", err)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth     string `json:"auth"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return Credentials{}, false, fmt.Errorf("docker config %s: %w", path, err)
	}
	for key, a := range cfg.Auths {
		if normalizeAuthKey(key) != host {
			continue
		}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return Credentials{}, false, fmt.Errorf("docker config %s: auths[%q].auth is not base64", path, key)
			}
			u, p, ok := strings.Cut(string(raw), ":")
			if !ok {
				return Credentials{}, false, fmt.Errorf("docker config %s: auths[%q].auth is not user:password", path, key)
			}
			return Credentials{Username: u, Password: p}, true, nil
		}
		if a.Username != "" {
			return Credentials{Username: a.Username, Password: a.Password}, true, nil
		}
	}
	return Credentials{}, false, nil
}

func normalizeAuthKey(k string) string {
	if i := strings.Index(k, "://"); i >= 0 {
		k = k[i+3:]
	}
	k, _, _ = strings.Cut(k, "/")
	return k
}

// authenticator answers auth challenges for one client: it remembers
// whether the registry wants Basic, and caches bearer tokens per scope.
type authenticator struct {
	creds Credentials
	c     *Client

	mu     sync.Mutex
	basic  bool
	tokens map[string]cachedToken // by request scope
	fetch  sync.Mutex             // one token fetch at a time
}

type cachedToken struct {
	token   string
	expires time.Time
}

// authorize adds what the registry asked for earlier to req.
func (a *authenticator) authorize(req *http.Request, scope string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.tokens[scope]; ok && time.Now().Before(t.expires) {
		req.Header.Set("Authorization", "Bearer "+t.token)
		return
	}
	if a.basic {
		req.SetBasicAuth(a.creds.Username, a.creds.Password)
	}
}

// challenge handles a 401: it reports whether the request should be sent
// again with the credentials now known.
func (a *authenticator) challenge(ctx context.Context, resp *http.Response, scope string) (bool, error) {
	hdr := resp.Header.Values("WWW-Authenticate")
	if len(hdr) == 0 {
		return false, nil
	}
	var chs []Challenge
	for _, h := range hdr {
		cs, err := ParseChallenges(h)
		if err != nil {
			return false, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
		}
		chs = append(chs, cs...)
	}
	for _, ch := range chs {
		switch ch.Scheme {
		case "bearer":
			return a.bearer(ctx, ch, scope)
		case "basic":
			if a.creds.Empty() {
				return false, nil
			}
			a.mu.Lock()
			already := a.basic
			a.basic = true
			a.mu.Unlock()
			return !already || resp.Request.Header.Get("Authorization") == "", nil
		}
	}
	return false, nil
}

func (a *authenticator) bearer(ctx context.Context, ch Challenge, scope string) (bool, error) {
	realm := ch.Params["realm"]
	if realm == "" {
		return false, fmt.Errorf("%w: bearer challenge without realm", ErrMalformedResponse)
	}
	ru, err := url.Parse(realm)
	if err != nil || (ru.Scheme != "http" && ru.Scheme != "https") {
		return false, fmt.Errorf("%w: bearer realm %q is not an http(s) URL", ErrMalformedResponse, realm)
	}
	want := ch.Params["scope"]
	if want == "" {
		want = scope
	}
	a.fetch.Lock()
	defer a.fetch.Unlock()
	q := ru.Query()
	if s := ch.Params["service"]; s != "" {
		q.Set("service", s)
	}
	for _, s := range strings.Fields(want) {
		q.Add("scope", s)
	}
	ru.RawQuery = q.Encode()
	tok, err := a.fetchToken(ctx, ru.String())
	if err != nil {
		return false, err
	}
	a.mu.Lock()
	a.tokens[scope] = tok
	a.mu.Unlock()
	return true, nil
}

func (a *authenticator) fetchToken(ctx context.Context, u string) (cachedToken, error) {
	ctx, cancel := context.WithTimeout(ctx, a.c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return cachedToken{}, err
	}
	req.Header.Set("User-Agent", "labops")
	if !a.creds.Empty() {
		req.SetBasicAuth(a.creds.Username, a.creds.Password)
	}
	a.c.requests.Add(1)
	resp, err := a.c.hc.Do(req)
	if err != nil {
		return cachedToken{}, fmt.Errorf("fetching token from %s: %w", redactURL(u), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return cachedToken{}, fmt.Errorf("fetching token from %s: %w", redactURL(u), statusError(resp))
	}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr); err != nil {
		return cachedToken{}, fmt.Errorf("token from %s: %w: %w", redactURL(u), ErrMalformedResponse, err)
	}
	t := cachedToken{token: tr.Token}
	if t.token == "" {
		t.token = tr.AccessToken
	}
	if t.token == "" {
		return cachedToken{}, fmt.Errorf("token from %s: %w: no token in the answer", redactURL(u), ErrMalformedResponse)
	}
	exp := time.Duration(tr.ExpiresIn) * time.Second
	if exp < 60*time.Second {
		exp = 60 * time.Second // the spec's minimum
	}
	t.expires = time.Now().Add(exp - 5*time.Second)
	return t, nil
}

// redactURL drops the query and any userinfo from u for messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<token realm>"
	}
	p.User = nil
	p.RawQuery = ""
	return p.String()
}
