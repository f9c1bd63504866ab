package dispatch

import (
	"fmt"
	"strings"
	"text/template"
)

// DefaultPrompt is the prompt template used when the config gives none.
const DefaultPrompt = `Work on issue {{.ID}}: {{.Title}}
{{with .Description}}
{{.}}
{{end}}{{with .AcceptanceCriteria}}
Acceptance criteria:
{{.}}
{{end}}`

// Prompt is a parsed prompt template; it renders an Issue.
type Prompt struct{ t *template.Template }

// ParsePrompt parses text (DefaultPrompt when empty). Unknown fields are
// errors at render time, so Render is tried once on a sample here.
func ParsePrompt(text string) (*Prompt, error) {
	if text == "" {
		text = DefaultPrompt
	}
	t, err := template.New("prompt").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("prompt template: %w", err)
	}
	p := &Prompt{t: t}
	if _, err := p.Render(Issue{ID: "x-1", Title: "sample"}); err != nil {
		return nil, err
	}
	return p, nil
}

// Render renders issue into the prompt.
func (p *Prompt) Render(issue Issue) (string, error) {
	var b strings.Builder
	if err := p.t.Execute(&b, issue); err != nil {
		return "", fmt.Errorf("prompt template: %w", err)
	}
	return b.String(), nil
}
