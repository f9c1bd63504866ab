package secrets

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeVault serves the parts of Vault's HTTP API labops reads, as Vault
// documents them: GET /v1/<mount>/static-creds/<role> (data.username,
// data.password, data.ttl, data.last_vault_rotation, data.rotation_period),
// GET /v1/<mount>/data/<path> (KV v2: values under data.data), and
// POST /v1/auth/kubernetes/login. Errors are {"errors": [...]}.
type fakeVault struct {
	mu       sync.Mutex
	token    string // X-Vault-Token it accepts
	jwt      string // service account token the kubernetes role accepts
	user     string
	password string
	ttl      int
	rotated  time.Time
	kv       map[string]any
	fail     int // answer 500 while > 0
	requests int
}

func (v *fakeVault) set(password string, ttl int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.password, v.ttl, v.rotated = password, ttl, time.Now().UTC()
}

func (v *fakeVault) start(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.requests++
		w.Header().Set("Content-Type", "application/json")
		verr := func(code int, msg string) {
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(map[string]any{"errors": []string{msg}})
		}
		if v.fail > 0 {
			v.fail--
			verr(500, "internal error")
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == "/v1/auth/kubernetes/login" {
			var body struct{ Role, JWT string }
			if json.NewDecoder(r.Body).Decode(&body) != nil || body.JWT != v.jwt || body.Role != "labops" {
				verr(403, "permission denied")
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"auth": map[string]any{"client_token": v.token, "lease_duration": 3600}})
			return
		}
		if r.Header.Get("X-Vault-Token") != v.token {
			verr(403, "permission denied")
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/database/static-creds/querylogs":
			json.NewEncoder(w).Encode(map[string]any{
				"request_id": "x", "lease_id": "", "renewable": false, "lease_duration": 0,
				"data": map[string]any{
					"username": v.user, "password": v.password, "ttl": v.ttl,
					"last_vault_rotation": v.rotated.Format(time.RFC3339Nano), "rotation_period": 604800,
				},
			})
		case r.Method == http.MethodGet && r.URL.Path == "/v1/secret/data/dns/querylogs":
			json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
				"data": v.kv, "metadata": map[string]any{"version": 3, "created_time": time.Now().UTC()},
			}})
		default:
			verr(404, "no handler for route")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeTechnitium serves /api/apps/config/get and /set as Technitium v15
// does: always HTTP 200 with "status" ok, error (+ errorMessage) or
// invalid-token; set replaces the whole config, and an empty one wipes it.
type fakeTechnitium struct {
	mu      sync.Mutex
	token   string
	app     string
	config  *string // nil: the app has no config
	sets    int
	failSet string // errorMessage for the next set
}

func (f *fakeTechnitium) get() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.config == nil {
		return ""
	}
	return *f.config
}

func (f *fakeTechnitium) start(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if err := r.ParseForm(); err != nil {
			json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorMessage": err.Error()})
			return
		}
		token := r.Form.Get("token")
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			token = strings.TrimPrefix(h, "Bearer ")
		}
		if token != f.token {
			json.NewEncoder(w).Encode(map[string]any{"status": "invalid-token", "errorMessage": "Invalid token or session expired."})
			return
		}
		if r.Form.Get("name") != f.app {
			json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorMessage": "DNS application was not found: " + r.Form.Get("name")})
			return
		}
		switch r.URL.Path {
		case "/api/apps/config/get":
			json.NewEncoder(w).Encode(map[string]any{"status": "ok", "response": map[string]any{"config": f.config}})
		case "/api/apps/config/set":
			if f.failSet != "" {
				msg := f.failSet
				f.failSet = ""
				json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorMessage": msg})
				return
			}
			f.sets++
			c := r.Form.Get("config")
			f.config = &c // the whole config, as sent; empty wipes it
			json.NewEncoder(w).Encode(map[string]any{"status": "ok", "response": map[string]any{}})
		default:
			json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorMessage": "Invalid API call"})
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeGrafana serves one datasource the way Grafana's HTTP API does:
// GET and PUT /api/datasources/uid/<uid>, and .../health, which connects
// to the database with the stored user and password (through health).
// PUT answers 400 when the body's uid differs from the path's, 403 for a
// read-only (provisioned) datasource, 409 when the body's version is not
// the current one; it keeps secure fields the body does not name.
type fakeGrafana struct {
	mu       sync.Mutex
	token    string
	uid      string
	readOnly bool
	version  int
	user     string
	secure   map[string]string
	health   func(user, password string) error
	puts     int
	conflict int    // answer 409 to this many PUTs (someone else saved first)
	modelUID string // the uid the GET's model carries, when it differs from the path's
}

func (g *fakeGrafana) start(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		msg := func(code int, m string) {
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(map[string]any{"message": m})
		}
		if r.Header.Get("Authorization") != "Bearer "+g.token {
			msg(401, "Unauthorized")
			return
		}
		base := "/api/datasources/uid/" + g.uid
		switch {
		case r.URL.Path == base+"/health" && r.Method == http.MethodGet:
			if err := g.health(g.user, g.secure["password"]); err != nil {
				w.WriteHeader(400)
				json.NewEncoder(w).Encode(map[string]any{"status": "ERROR", "message": "Error 1045: Access denied"})
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"status": "OK", "message": "Database Connection OK"})
		case r.URL.Path == base && r.Method == http.MethodGet:
			fields := map[string]bool{}
			for k := range g.secure {
				fields[k] = true
			}
			json.NewEncoder(w).Encode(map[string]any{
				"id": 7, "uid": cmp.Or(g.modelUID, g.uid), "orgId": 1, "name": "querylogs", "type": "mysql", "access": "proxy",
				"url": "db:3306", "user": g.user, "database": "dnslogs", "basicAuth": false,
				"jsonData": map[string]any{"maxOpenConns": 10}, "secureJsonFields": fields,
				"version": g.version, "readOnly": g.readOnly,
			})
		case r.URL.Path == base && r.Method == http.MethodPut:
			var body struct {
				UID            string            `json:"uid"`
				Version        int               `json:"version"`
				User           string            `json:"user"`
				SecureJSONData map[string]string `json:"secureJsonData"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				msg(400, "bad request data")
				return
			}
			switch {
			case body.UID != "" && body.UID != g.uid:
				msg(400, "uid mismatch")
				return
			case g.readOnly:
				msg(403, "Cannot update read-only data source")
				return
			case g.conflict > 0:
				g.conflict--
				g.version++
				msg(409, "Datasource has already been updated by someone else. Please reload and try again")
				return
			case body.Version != g.version:
				msg(409, "Datasource has already been updated by someone else. Please reload and try again")
				return
			}
			g.puts++
			g.version++
			g.user = body.User
			for k, v := range body.SecureJSONData {
				g.secure[k] = v
			}
			json.NewEncoder(w).Encode(map[string]any{"message": "Datasource updated", "id": 7, "name": "querylogs"})
		default:
			msg(404, "Data source not found")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeHook records what the generic HTTP sink sends.
type fakeHook struct {
	mu     sync.Mutex
	bodies []string
	status int
}

func (h *fakeHook) start(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		h.bodies = append(h.bodies, r.Method+" "+r.URL.Path+" "+string(body))
		if h.status != 0 {
			w.WriteHeader(h.status)
			// A careless endpoint echoes what it got.
			fmt.Fprint(w, "rejected: "+string(body))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}
