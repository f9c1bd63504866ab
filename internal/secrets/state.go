package secrets

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/labops/labops/internal/atomicfile"
)

// State is the state dir: a random key, and per job the keyed hash of what
// each sink was last given. A keyed hash (HMAC-SHA256) rather than a plain
// one, so a copy of the state dir cannot be used to test guesses of the
// password; the value itself is never written.
type State struct {
	dir   string
	key   []byte
	empty bool // a dry run's stand-in: no directory, nothing stored
}

const keyFile = "hmac.key"

var stateName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// stateExists reports whether dir holds a key (has been used by a sync).
func stateExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, keyFile))
	return err == nil
}

// OpenState opens dir, creating it and its key on first use.
func OpenState(dir string) (*State, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(dir, keyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("state dir: making a key: %w", err)
		}
		if err := atomicfile.Write(path, key); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("state dir: %s holds %d bytes, want 32 (delete it to start over: every sink is then pushed once)", path, len(key))
	}
	return &State{dir: dir, key: key}, nil
}

// Hash is the keyed hash of c as given to sink of job.
func (s *State) Hash(job, sink string, c Credential) string {
	m := hmac.New(sha256.New, s.key)
	for _, part := range []string{job, sink, c.Username, c.Password.Reveal()} {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (s *State) path(job string) (string, error) {
	if !stateName.MatchString(job) {
		return "", fmt.Errorf("state dir: job name %q cannot name a file", job)
	}
	return filepath.Join(s.dir, job+".json"), nil
}

// Load returns the stored hash per sink of job (empty before the first sync).
func (s *State) Load(job string) (map[string]string, error) {
	if s.empty {
		return map[string]string{}, nil
	}
	path, err := s.path(job)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var f struct {
		Sinks map[string]string `json:"sinks"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("state dir: %s is not labops' state (%v); delete it to push every sink once", path, err)
	}
	if f.Sinks == nil {
		f.Sinks = map[string]string{}
	}
	return f.Sinks, nil
}

// Save replaces job's hashes, atomically.
func (s *State) Save(job string, sinks map[string]string) error {
	path, err := s.path(job)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(struct {
		Sinks map[string]string `json:"sinks"`
	}{sinks}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return nil
}
