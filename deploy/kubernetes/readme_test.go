package kubernetes_test

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/labops/labops/internal/cli"
)

// commandLine matches "labops ARGS", after a prompt or VAR=value settings.
var commandLine = regexp.MustCompile(`^\s*(?:\$\s+)?(?:[A-Z_][A-Z0-9_]*=\S*\s+)*labops\s+(.*?)\s*(?:#.*)?$`)

// TestReadmeCommands: every labops command line in README.md's code blocks
// would run (cli.CheckArgs).
func TestReadmeCommands(t *testing.T) {
	t.Parallel()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	inCode, n, lineNo := false, 0, 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			continue
		}
		m := commandLine.FindStringSubmatch(line)
		if !inCode || m == nil {
			continue
		}
		n++
		if err := cli.CheckArgs(strings.Fields(m[1])); err != nil {
			t.Errorf("README.md:%d: %v", lineNo, err)
		}
	}
	if n == 0 {
		t.Error("README.md shows no labops command line; the test expects the config check one")
	}
}
