package secrets

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// fileSource reads the credential from files, the way a Kubernetes Secret
// or Vault Agent presents it.
type fileSource struct{ spec FileSource }

func (f fileSource) Describe() string { return "file " + f.spec.PasswordFile }

func (f fileSource) Fetch(ctx context.Context) (Credential, error) {
	pw, err := readSecretFile(f.spec.PasswordFile)
	if err != nil {
		return Credential{}, err
	}
	c := Credential{Password: pw, Username: f.spec.Username}
	if f.spec.UsernameFile != "" {
		u, err := readSecretFile(f.spec.UsernameFile)
		if err != nil {
			return Credential{}, err
		}
		c.Username = u.Reveal()
	}
	return c, nil
}

// readSecretFile reads a one-value file, dropping the trailing newline an
// editor or `echo` leaves; an empty value is an error, never a password.
func readSecretFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, fmt.Errorf("reading %s: %w", path, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return Secret{}, fmt.Errorf("reading %s: the file is empty", path)
	}
	return NewSecret(v), nil
}
