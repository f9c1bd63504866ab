package labtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// AgentExecute is one POST /execute the fake agent service received.
type AgentExecute struct {
	IssueID        string `json:"issue_id"`
	Title          string `json:"title"`
	Prompt         string `json:"prompt"`
	IdempotencyKey string `json:"idempotency_key"`
	// Header is the Idempotency-Key header; Auth the Authorization header.
	Header string `json:"-"`
	Auth   string `json:"-"`
}

// FakeAgent is the agent service (not runnable here), built from its
// described API: GET /health answers {"busy", "slots_in_use",
// "slots_total"}; POST /execute takes {"issue_id", "title", "prompt",
// "idempotency_key"} and answers {"job_id"}, or 409 when every slot is
// taken. It records what it receives and can be made busy, slow or failing.
type FakeAgent struct {
	URL string

	mu        sync.Mutex
	slots     int // 0: one slot, no slot counts reported
	inUse     int
	busy      bool
	failCode  int
	delay     time.Duration
	token     string
	executed  []AgentExecute
	byKey     map[string]string
	nextJobID int
	// activity, when not nil, is reported in /health as the running jobs'
	// last activity by issue.
	activity map[string]time.Time
	jobOf    map[string]string
}

// StartFakeAgent starts the fake on loopback; slots 0 means a one-slot
// service that reports only busy/free.
func StartFakeAgent(t testing.TB, slots int) *FakeAgent {
	t.Helper()
	a := &FakeAgent{slots: slots, byKey: map[string]string{}, jobOf: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// SetBusy makes /health report busy and /execute refuse.
func (a *FakeAgent) SetBusy(b bool) { a.mu.Lock(); a.busy = b; a.mu.Unlock() }

// FailWith makes /execute answer code (0: succeed again).
func (a *FakeAgent) FailWith(code int) { a.mu.Lock(); a.failCode = code; a.mu.Unlock() }

// SetDelay makes /execute wait d before answering.
func (a *FakeAgent) SetDelay(d time.Duration) { a.mu.Lock(); a.delay = d; a.mu.Unlock() }

// RequireToken makes every request need "Bearer tok".
func (a *FakeAgent) RequireToken(tok string) { a.mu.Lock(); a.token = tok; a.mu.Unlock() }

// SetActivity makes /health report jobs, with issue's job last active at t
// (the service reporting its running jobs, as some do).
func (a *FakeAgent) SetActivity(issue string, t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.activity == nil {
		a.activity = map[string]time.Time{}
	}
	a.activity[issue] = t
}

// Executed returns the accepted /execute requests, in order.
func (a *FakeAgent) Executed() []AgentExecute {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AgentExecute(nil), a.executed...)
}

// Finish frees one slot, as a finished task would.
func (a *FakeAgent) Finish() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inUse > 0 {
		a.inUse--
	}
}

func (a *FakeAgent) total() int { return max(a.slots, 1) }

func (a *FakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	tok, delay := a.token, a.delay
	a.mu.Unlock()
	if tok != "" && r.Header.Get("Authorization") != "Bearer "+tok {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/health":
		a.mu.Lock()
		h := map[string]any{"busy": a.busy || a.inUse >= a.total()}
		if a.slots > 0 {
			h["slots_in_use"], h["slots_total"] = a.inUse, a.slots
			if a.busy {
				h["slots_in_use"] = a.slots
			}
		}
		if a.activity != nil {
			jobs := []map[string]any{}
			for issue, t := range a.activity {
				jobs = append(jobs, map[string]any{"job_id": a.jobOf[issue], "issue_id": issue, "last_activity": t.UTC().Format(time.RFC3339Nano)})
			}
			h["jobs"] = jobs
		}
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h)
	case r.Method == http.MethodPost && r.URL.Path == "/execute":
		var req AgentExecute
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.IssueID == "" {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		req.Header, req.Auth = r.Header.Get("Idempotency-Key"), r.Header.Get("Authorization")
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.failCode != 0 {
			http.Error(w, `{"error":"agent exploded"}`, a.failCode)
			return
		}
		if id, ok := a.byKey[req.IdempotencyKey]; ok && req.IdempotencyKey != "" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"job_id":%q}`, id)
			return
		}
		if a.busy || a.inUse >= a.total() {
			http.Error(w, `{"error":"busy"}`, http.StatusConflict)
			return
		}
		a.inUse++
		a.nextJobID++
		id := fmt.Sprintf("job-%d", a.nextJobID)
		a.byKey[req.IdempotencyKey] = id
		a.jobOf[req.IssueID] = id
		a.executed = append(a.executed, req)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"job_id":%q}`, id)
	default:
		http.NotFound(w, r)
	}
}
