package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/template"
)

// httpSink sends the credential to any endpoint: the body is a template
// over .Username and .Password. It cannot read back, so it cannot verify.
type httpSink struct {
	spec   HTTPSinkSpec
	body   *template.Template
	client *http.Client
}

func (h httpSink) Type() string { return "http" }

func (h httpSink) Target() string {
	return strings.Join([]string{h.spec.Method, h.spec.URL, h.spec.Body}, "\x00")
}

// bodyFuncs escape values for the body's format.
var bodyFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// parseBody parses an http sink's body template; it must use .Password.
func parseBody(s string) (*template.Template, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("required: a template for the request body, e.g. {\"password\": {{json .Password}}}")
	}
	t, err := template.New("body").Funcs(bodyFuncs).Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a valid template: %v", err)
	}
	if !strings.Contains(s, ".Password") {
		return nil, fmt.Errorf("the template never uses .Password")
	}
	return t, nil
}

// Push returns true: an endpoint that only takes the value cannot say
// whether it already had it.
func (h httpSink) Push(ctx context.Context, c Credential) (bool, error) {
	var b bytes.Buffer
	err := h.body.Execute(&b, struct{ Username, Password string }{c.Username, c.Password.Reveal()})
	if err != nil {
		return false, fmt.Errorf("rendering the body template failed") // the error may quote the value
	}
	req, err := http.NewRequest(h.spec.Method, h.spec.URL, &b)
	if err != nil {
		return false, fmt.Errorf("http sink: %w", err)
	}
	for k, v := range h.spec.Headers {
		req.Header.Set(k, v)
	}
	if h.spec.TokenFile != "" {
		token, err := readSecretFile(h.spec.TokenFile)
		if err != nil {
			return false, err
		}
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
	}
	what := h.spec.Method + " " + withoutQuery(h.spec.URL)
	code, body, err := do(ctx, h.client, req, what)
	if err != nil {
		return false, err
	}
	if code/100 != 2 {
		return false, fmt.Errorf("%s: HTTP %d: %s", what, code, clip(strings.TrimSpace(string(body)), 200))
	}
	return true, nil
}

// withoutQuery drops a URL's query and fragment, which may carry a token.
func withoutQuery(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the sink's URL"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// Verify cannot tell anything for a write-only endpoint.
func (h httpSink) Verify(context.Context, Credential) error { return errNotVerifiable }
