package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/socketfleet/socketfleet/runtime/internal/logthrottle"
)

// Tokens are the bearer tokens the admin listener accepts.
type Tokens interface {
	// Match reports whether token is one of the accepted tokens, in
	// constant time with respect to their content.
	Match(token string) bool
}

// digests hashes tokens so that comparisons take the same time whatever
// their lengths.
func digests(tokens []string) [][sha256.Size]byte {
	out := make([][sha256.Size]byte, len(tokens))
	for i, t := range tokens {
		out[i] = sha256.Sum256([]byte(t))
	}
	return out
}

// matchDigests compares token with every accepted digest, without an early
// exit.
func matchDigests(accepted [][sha256.Size]byte, token string) bool {
	if token == "" {
		return false
	}
	got := sha256.Sum256([]byte(token))
	ok := 0
	for i := range accepted {
		ok |= subtle.ConstantTimeCompare(accepted[i][:], got[:])
	}
	return ok == 1
}

type staticTokens [][sha256.Size]byte

func (s staticTokens) Match(token string) bool { return matchDigests(s, token) }

// StaticTokens accepts the given tokens (empty ones are ignored).
func StaticTokens(tokens ...string) Tokens {
	var kept []string
	for _, t := range tokens {
		if t != "" {
			kept = append(kept, t)
		}
	}
	return staticTokens(digests(kept))
}

// FileTokens accepts the tokens of a file, one per line (blank lines and
// surrounding spaces ignored), and re-reads the file whenever it changes
// (another inode, size or modification time: a Kubernetes Secret volume
// swaps its files on update), so a rotated token is accepted without a
// restart. A file that cannot be read or holds no token after a change
// keeps the previous tokens; the failure goes to OnReloadError.
type FileTokens struct {
	path string
	// OnReloadError, when set, is told why a changed file was not taken.
	OnReloadError func(err error)

	mu       sync.Mutex
	info     os.FileInfo
	accepted [][sha256.Size]byte
}

// NewFileTokens reads path; it fails when the file cannot be read or holds
// no token.
func NewFileTokens(path string) (*FileTokens, error) {
	f := &FileTokens{path: path}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

// ParseTokens returns the tokens of a token file: its non-blank lines,
// trimmed.
func ParseTokens(data string) []string {
	var out []string
	for line := range strings.SplitSeq(data, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func (f *FileTokens) load() error {
	info, err := os.Stat(f.path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	tokens := ParseTokens(string(data))
	if len(tokens) == 0 {
		return fmt.Errorf("%s holds no token", f.path)
	}
	f.info, f.accepted = info, digests(tokens)
	return nil
}

// Match re-reads the file if it changed, then compares token with its
// tokens.
func (f *FileTokens) Match(token string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if info, err := os.Stat(f.path); err != nil || changed(f.info, info) {
		if err == nil {
			err = f.load()
		}
		if err != nil && f.OnReloadError != nil {
			f.OnReloadError(err)
		}
	}
	return matchDigests(f.accepted, token)
}

func changed(prev, cur os.FileInfo) bool {
	return !os.SameFile(prev, cur) || prev.Size() != cur.Size() || !prev.ModTime().Equal(cur.ModTime())
}

// access is what an endpoint needs.
type access int

const (
	open     access = iota // /healthz, /readyz: the kubelet's probes
	read                   // /metrics, /stats: the token with ProtectReads
	mutating               // /drain, /shed, extra handlers: always the token
)

// Why a request was refused (the log's reason).
var (
	errNoToken       = errors.New("no bearer token")
	errWrongToken    = errors.New("wrong bearer token")
	errNotConfigured = errors.New("no admin token configured")
)

// guard wraps h with the authentication its access class needs.
func (o *Options) guard(path string, class access, h http.Handler) http.Handler {
	if class == open || (class == read && !o.ProtectReads) {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := o.authenticate(r)
		if err == nil {
			h.ServeHTTP(w, r)
			return
		}
		if o.OnUnauthorized != nil {
			o.OnUnauthorized(path)
		}
		o.refusals.log(o.Logger, path, r, err)
		if errors.Is(err, errNotConfigured) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "no admin token configured: set admin.tokenFile " +
				"(or bind the admin listener to loopback with admin.bindAddress, or set admin.allowUnauthenticated: true)"})
			return
		}
		challenge := `Bearer realm="socketfleet-admin"`
		if errors.Is(err, errWrongToken) {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized: " + err.Error()})
	})
}

func (o *Options) authenticate(r *http.Request) error {
	if o.Tokens == nil {
		if o.AllowUnauthenticated {
			return nil
		}
		return errNotConfigured
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errNoToken
	}
	if !o.Tokens.Match(strings.TrimSpace(token)) {
		return errWrongToken
	}
	return nil
}

// refusalLogInterval is the least time between two log lines about refused
// requests, so a flood of them cannot become a flood of logs.
const refusalLogInterval = 10 * time.Second

// refusalLog writes at most one line per refusalLogInterval, with the
// number of refusals not logged since the previous line.
type refusalLog struct{ throttle logthrottle.Throttle }

func (l *refusalLog) log(logger *slog.Logger, path string, r *http.Request, err error) {
	if logger == nil {
		return
	}
	ok, heldBack := l.throttle.Allow(time.Now(), refusalLogInterval)
	if !ok {
		return
	}
	logger.Warn("admin: request refused", "path", path, "method", r.Method, "remote", r.RemoteAddr,
		"reason", err.Error(), "notLoggedSincePrevious", heldBack)
}
