package mail

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// fakeBrevo is Brevo's transactional email endpoint, built from its
// documentation: POST /v3/smtp/email with the key in the api-key header
// and a JSON body; 201 {"messageId": "<...@smtp-relay.mailin.fr>"} once
// queued; errors as {"code": "...", "message": "..."} with 400
// (missing_parameter, invalid_parameter, bad_request), 401 (unauthorized:
// a wrong key, or a right key from an IP address not on the account's
// authorised list), 402 (not_enough_credits), 403 (permission_denied),
// 405 (method_not_allowed), 429 (too_many_requests). Like Brevo, it
// answers 201 before delivering: the message is relayed afterwards by
// SMTP into RelayAddr, from RelaySourceIP, as Brevo's relays would reach
// the receiving MX.
type fakeBrevo struct {
	URL           string
	Key           string
	RelayAddr     string
	RelaySourceIP string
	// Fault, when it returns a status, answers with that status and body
	// instead of accepting the request.
	Fault func(r *http.Request) (int, string)

	srv      *httptest.Server
	wg       sync.WaitGroup
	mu       sync.Mutex
	requests []BrevoEmail
	relayErr []error
}

func startFakeBrevo(t *testing.T, relayAddr, relaySourceIP string) *fakeBrevo {
	t.Helper()
	fb := &fakeBrevo{Key: "xkeysib-0123456789abcdef-test", RelayAddr: relayAddr, RelaySourceIP: relaySourceIP}
	fb.srv = httptest.NewServer(http.HandlerFunc(fb.serve))
	fb.URL = fb.srv.URL
	t.Cleanup(func() {
		fb.srv.Close()
		fb.wg.Wait()
		for _, err := range fb.relayErrors() {
			t.Errorf("fake brevo relay: %v", err)
		}
	})
	return fb
}

func brevoErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(BrevoError{Code: code, Message: msg})
}

func (fb *fakeBrevo) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v3/smtp/email" {
		brevoErr(w, http.StatusNotFound, "not_found", "Invalid route")
		return
	}
	if r.Method != http.MethodPost {
		brevoErr(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
		return
	}
	if r.Header.Get("api-key") != fb.Key {
		brevoErr(w, http.StatusUnauthorized, "unauthorized", "Key not found")
		return
	}
	if fb.Fault != nil {
		if status, body := fb.Fault(r); status != 0 {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		brevoErr(w, http.StatusBadRequest, "bad_request", "Content-Type must be application/json")
		return
	}
	var req BrevoEmail
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		brevoErr(w, http.StatusBadRequest, "bad_request", "Input must be a valid JSON object")
		return
	}
	switch {
	case req.Sender.Email == "":
		brevoErr(w, http.StatusBadRequest, "missing_parameter", "sender is missing")
		return
	case len(req.To) == 0:
		brevoErr(w, http.StatusBadRequest, "missing_parameter", "to is missing")
		return
	case req.Subject == "":
		brevoErr(w, http.StatusBadRequest, "missing_parameter", "subject is missing")
		return
	case req.TextContent == "":
		brevoErr(w, http.StatusBadRequest, "missing_parameter", "htmlContent or textContent is missing")
		return
	}
	for _, to := range req.To {
		if !strings.Contains(to.Email, "@") {
			brevoErr(w, http.StatusBadRequest, "invalid_parameter", "email is not valid in to")
			return
		}
	}
	id := fmt.Sprintf("<%s.%d@smtp-relay.mailin.fr>", time.Now().UTC().Format("200601021504"), time.Now().UnixNano()%1e11)
	fb.mu.Lock()
	fb.requests = append(fb.requests, req)
	fb.mu.Unlock()
	client := r.RemoteAddr
	fb.wg.Add(1)
	go func() {
		defer fb.wg.Done()
		if err := fb.relay(req, id, client); err != nil {
			fb.mu.Lock()
			fb.relayErr = append(fb.relayErr, err)
			fb.mu.Unlock()
		}
	}()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]string{"messageId": id})
}

// relay delivers the message as Brevo's relay would: its own Received
// line for the API client, the custom headers, then SMTP to the MX.
func (fb *fakeBrevo) relay(req BrevoEmail, id, apiClient string) error {
	host, _, _ := net.SplitHostPort(apiClient)
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("Received", fmt.Sprintf("from [%s] by smtp-relay.mailin.fr with HTTP; %s", host, time.Now().Format(time.RFC1123Z)))
	h("From", mime.QEncoding.Encode("utf-8", req.Sender.Name)+" <"+req.Sender.Email+">")
	h("To", req.To[0].Email)
	h("Subject", req.Subject)
	h("Date", time.Now().Format(time.RFC1123Z))
	h("Message-Id", id)
	for k, v := range req.Headers {
		h(k, v)
	}
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(req.TextContent, "\n", "\r\n"))

	d := net.Dialer{Timeout: 5 * time.Second}
	if fb.RelaySourceIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(fb.RelaySourceIP)}
	}
	conn, err := d.Dial("tcp", fb.RelayAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := smtp.NewClient(conn)
	c.CommandTimeout, c.SubmissionTimeout = 30*time.Second, 30*time.Second
	if err := c.Hello("smtp-relay.mailin.fr"); err != nil {
		return err
	}
	to := make([]string, len(req.To))
	for i, a := range req.To {
		to[i] = a.Email
	}
	if err := c.SendMail("bounces@smtp-relay.mailin.fr", to, &b); err != nil {
		return fmt.Errorf("relaying %s: %w", id, err)
	}
	return c.Quit()
}

func (fb *fakeBrevo) relayErrors() []error {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return append([]error(nil), fb.relayErr...)
}

func (fb *fakeBrevo) received() []BrevoEmail {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return append([]BrevoEmail(nil), fb.requests...)
}
