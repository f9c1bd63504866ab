package mail

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteJSON writes the report as one indented JSON object.
func (rep *RoundtripReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteText writes the report for a person: where the time went, the
// client address the receiving server recorded, and every finding.
func (rep *RoundtripReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "mail roundtrip: %s\n", rep.Status)
	fmt.Fprintf(&b, "  sender      %s\n", rep.Sender)
	fmt.Fprintf(&b, "  mailbox     %s\n", rep.Mailbox)
	if rep.Token != "" {
		fmt.Fprintf(&b, "  probe       %s: %s\n", ProbeHeader, rep.Token)
	}
	if !rep.AcceptedAt.IsZero() {
		id := ""
		if rep.AcceptedID != "" {
			id = " as " + rep.AcceptedID
		}
		fmt.Fprintf(&b, "  accepted    after %.3fs%s\n", rep.SendSeconds, id)
	}
	if !rep.SeenAt.IsZero() {
		how := "polling"
		if rep.Idle {
			how = "IDLE"
		}
		fmt.Fprintf(&b, "  seen        %.3fs after acceptance (%s)\n", rep.DeliverySeconds, how)
		fmt.Fprintf(&b, "  round trip  %.3fs\n", rep.RoundtripSeconds)
		switch c := rep.Client; {
		case c == nil:
			fmt.Fprintf(&b, "  client      not recorded (no Received header with an address)\n")
		default:
			fmt.Fprintf(&b, "  client      %s", c.FromIP)
			if c.FromHost != "" {
				fmt.Fprintf(&b, " (%s)", c.FromHost)
			}
			if c.By != "" {
				fmt.Fprintf(&b, ", recorded by %s", c.By)
			}
			b.WriteString("\n")
		}
		deleted := "deleted"
		if !rep.Deleted {
			deleted = "NOT deleted"
		}
		fmt.Fprintf(&b, "  cleanup     probe message %s\n", deleted)
		if rep.Swept > 0 {
			fmt.Fprintf(&b, "  cleanup     %d probe messages of earlier runs deleted (they arrived after their deadline)\n", rep.Swept)
		}
	}
	for _, f := range rep.Findings {
		fmt.Fprintf(&b, "  %s: %s: %s\n", f.Kind, f.Subject, f.Message)
	}
	if rep.Error != "" && len(rep.Findings) == 0 {
		fmt.Fprintf(&b, "  error: %s\n", rep.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
