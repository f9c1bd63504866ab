package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// ErrAgentBusy means the agent service refused work because it is busy.
var ErrAgentBusy = errors.New("agent service busy")

// Agent is the agent-service client.
type Agent struct {
	// URL is the service's base URL, without a trailing slash.
	URL string
	// TokenFile holds the bearer token; empty means no token.
	TokenFile string
	// Client is the HTTP client (its Timeout bounds every call); nil means
	// a client with a 30 s timeout.
	Client *http.Client
}

// Health is the service's answer to GET /health.
type Health struct {
	Busy bool `json:"busy"`
	// SlotsInUse and SlotsTotal are reported by services with several
	// slots; zero SlotsTotal means "one slot, busy or not".
	SlotsInUse int `json:"slots_in_use,omitempty"`
	SlotsTotal int `json:"slots_total,omitempty"`
	// Jobs are the running jobs, when the service reports them (nil: not
	// reported, so the reaper judges by the tracker's updated_at alone).
	Jobs []AgentJob `json:"jobs,omitempty"`
}

// AgentJob is one running job as /health reports it.
type AgentJob struct {
	JobID   string `json:"job_id"`
	IssueID string `json:"issue_id"`
	// LastActivity is the job's last sign of life; zero when not reported.
	LastActivity time.Time `json:"last_activity"`
}

// Free is how many tasks the service can take now.
func (h Health) Free() int {
	if h.SlotsTotal > 0 {
		return max(h.SlotsTotal-h.SlotsInUse, 0)
	}
	if h.Busy {
		return 0
	}
	return 1
}

// ExecuteRequest is the body of POST /execute.
type ExecuteRequest struct {
	IssueID string `json:"issue_id"`
	Title   string `json:"title"`
	Prompt  string `json:"prompt"`
	// IdempotencyKey is also sent as the Idempotency-Key header: a retried
	// post of the same claim starts no second job.
	IdempotencyKey string `json:"idempotency_key"`
}

// executeReply is the body of a successful POST /execute.
type executeReply struct {
	JobID string `json:"job_id"`
}

func (a *Agent) client() *http.Client {
	if a.Client != nil {
		return a.Client
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (a *Agent) token() (string, error) {
	if a.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(a.TokenFile)
	if err != nil {
		return "", fmt.Errorf("reading the agent token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (a *Agent) do(ctx context.Context, method, path string, body any) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("agent service %s: %w", path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r, ok := body.(ExecuteRequest); ok {
		req.Header.Set("Idempotency-Key", r.IdempotencyKey)
	}
	tok, err := a.token()
	if err != nil {
		return nil, nil, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := a.client().Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("agent service %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("agent service %s: reading the reply: %w", path, err)
	}
	return resp, b, nil
}

// Health asks the service whether it has room.
func (a *Agent) Health(ctx context.Context) (Health, error) {
	resp, b, err := a.do(ctx, http.MethodGet, "/health", nil)
	if err != nil {
		return Health{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Health{}, fmt.Errorf("agent service /health: %s: %s", resp.Status, snippet(b))
	}
	return parseHealth(b)
}

func parseHealth(b []byte) (Health, error) {
	var h Health
	if err := json.Unmarshal(b, &h); err != nil {
		return Health{}, fmt.Errorf("agent service /health: reading the reply: %w", err)
	}
	if h.SlotsInUse < 0 || h.SlotsTotal < 0 || h.SlotsTotal > 1000 {
		return Health{}, fmt.Errorf("agent service /health: implausible slots %d/%d", h.SlotsInUse, h.SlotsTotal)
	}
	return h, nil
}

// Execute posts one task and returns the service's job id.
func (a *Agent) Execute(ctx context.Context, r ExecuteRequest) (string, error) {
	resp, b, err := a.do(ctx, http.MethodPost, "/execute", r)
	if err != nil {
		return "", err
	}
	switch {
	case resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusLocked ||
		resp.StatusCode == http.StatusTooManyRequests:
		return "", fmt.Errorf("agent service /execute: %s: %w", resp.Status, ErrAgentBusy)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return "", fmt.Errorf("agent service /execute: %s: %s", resp.Status, snippet(b))
	}
	var rep executeReply
	if err := json.Unmarshal(b, &rep); err != nil {
		return "", fmt.Errorf("agent service /execute: reading the reply: %w", err)
	}
	if rep.JobID == "" {
		return "", errors.New("agent service /execute: the reply has no job_id")
	}
	return rep.JobID, nil
}
