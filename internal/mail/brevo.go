package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultBrevoURL is Brevo's API base.
const DefaultBrevoURL = "https://api.brevo.com"

// BrevoSender sends the probe through Brevo's transactional email API:
// POST {URL}/v3/smtp/email with the key in the api-key header; 201 with
// {"messageId": "<...>"} when accepted. Errors come as
// {"code": "...", "message": "..."}.
type BrevoSender struct {
	// URL is the API base (default https://api.brevo.com; a fake in tests).
	URL    string
	APIKey string
	// SenderName is the display name of the sender (default "labops probe").
	SenderName string
	Client     *http.Client
}

var _ sender = (*BrevoSender)(nil)

// Describe names the sender for reports.
func (b *BrevoSender) Describe() string { return "brevo " + b.base() }

func (b *BrevoSender) base() string {
	if b.URL == "" {
		return DefaultBrevoURL
	}
	return strings.TrimRight(b.URL, "/")
}

// brevoAddress is Brevo's {email, name} object.
type brevoAddress struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// BrevoEmail is the request body of POST /v3/smtp/email (the fields the
// probe uses).
type BrevoEmail struct {
	Sender      brevoAddress      `json:"sender"`
	To          []brevoAddress    `json:"to"`
	Subject     string            `json:"subject"`
	TextContent string            `json:"textContent"`
	Headers     map[string]string `json:"headers,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
}

// BrevoError is Brevo's error body.
type BrevoError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Send posts m. The probe token goes in the X-Labops-Probe header (Brevo
// passes custom headers through) and the subject; Brevo makes its own
// Message-ID, returned as messageId.
func (b *BrevoSender) Send(ctx context.Context, m Message) (Accepted, error) {
	name := b.SenderName
	if name == "" {
		name = "labops probe"
	}
	body, err := json.Marshal(BrevoEmail{
		Sender:      brevoAddress{Email: m.From, Name: name},
		To:          []brevoAddress{{Email: m.To}},
		Subject:     m.Subject(),
		TextContent: strings.ReplaceAll(m.Body(), "\r\n", "\n"),
		Headers:     map[string]string{ProbeHeader: m.Token},
		Tags:        []string{"labops-probe"},
	})
	if err != nil {
		return Accepted{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base()+"/v3/smtp/email", bytes.NewReader(body))
	if err != nil {
		return Accepted{}, fmt.Errorf("brevo: %w", err)
	}
	req.Header.Set("api-key", b.APIKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc := b.Client
	if hc == nil {
		hc = &http.Client{}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The URL carries no secret; the key is only in a header.
		return Accepted{}, unavailableErr(ctx, fmt.Errorf("brevo: %w", err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Accepted{}, unavailableErr(ctx, fmt.Errorf("brevo: reading the response: %w", err))
	}
	if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		var ok struct {
			MessageID  string   `json:"messageId"`
			MessageIDs []string `json:"messageIds"`
		}
		if err := json.Unmarshal(data, &ok); err != nil {
			return Accepted{}, fmt.Errorf("%w: brevo: %d with a body that is not JSON: %.80q", ErrUnavailable, resp.StatusCode, data)
		}
		id := ok.MessageID
		if id == "" && len(ok.MessageIDs) > 0 {
			id = ok.MessageIDs[0]
		}
		return Accepted{At: time.Now(), ID: id, Reply: resp.Status}, nil
	}
	return Accepted{}, brevoStatusError(resp.StatusCode, data)
}

// brevoStatusError is the one place an HTTP status becomes a sentinel:
// 401 ErrAuthFailed (a bad key, or a key used from an IP address not on
// the account's authorised list); 400, 402 (no credits), 403 (account not
// activated, permission) and other 4xx ErrRejected; 429 and 5xx
// ErrUnavailable.
func brevoStatusError(status int, body []byte) error {
	var be BrevoError
	msg := http.StatusText(status)
	if json.Unmarshal(body, &be) == nil && (be.Code != "" || be.Message != "") {
		msg = strings.TrimSpace(be.Code + ": " + be.Message)
	} else if len(body) > 0 {
		msg = fmt.Sprintf("%s: %.80q", msg, body)
	}
	err := fmt.Errorf("brevo: %d %s", status, msg)
	switch {
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", ErrAuthFailed, err)
	case status == http.StatusTooManyRequests || status >= 500:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case status >= 400:
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return fmt.Errorf("%w: %w (unexpected status)", ErrUnavailable, err)
}
