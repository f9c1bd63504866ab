package dispatch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// KillSwitch suspends both the dispatcher and the reaper: the config flag,
// or a file whose presence flips it without a redeploy.
type KillSwitch struct {
	On   bool
	File string
}

// Engaged says whether the switch is on, and why. A file that cannot be
// checked (other than missing) counts as on: when in doubt, do nothing.
func (k KillSwitch) Engaged() (bool, string) {
	if k.On {
		return true, "suspended in the config"
	}
	if k.File == "" {
		return false, ""
	}
	_, err := os.Stat(k.File)
	switch {
	case err == nil:
		return true, fmt.Sprintf("kill switch file %s is present", k.File)
	case errors.Is(err, fs.ErrNotExist):
		return false, ""
	default:
		return true, fmt.Sprintf("kill switch file %s cannot be checked: %v", k.File, err)
	}
}
