package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAdminTokenRequired runs the binary with admin.tokenFile: POST /drain
// without the token (or with a wrong one) is refused with 401 and changes
// nothing, the process keeps serving; a rotated token file is taken without
// a restart; the right token drains.
func TestAdminTokenRequired(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	writeToken := func(content string) {
		t.Helper()
		tmp := filepath.Join(dir, "token.new")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, tokenFile); err != nil {
			t.Fatal(err)
		}
	}
	writeToken("first-token\n")
	p := startRuntime(t, []string{"SOCKETFLEET_ADMIN_TOKEN_FILE=" + tokenFile}, "--drain-window", "1s")

	for _, auth := range []string{"", "Bearer wrong"} {
		code, h, body := httpDo(t, "POST", p.admin+"/drain", auth, "")
		if code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("POST /drain with %q = %d %q %s, want 401 with WWW-Authenticate: Bearer", auth, code, h.Get("WWW-Authenticate"), body)
		}
	}
	if code, _, _ := httpDo(t, "POST", p.admin+"/shed?count=1", "", ""); code != 401 {
		t.Errorf("POST /shed without token = %d, want 401", code)
	}
	// Nothing happened: still ready, still serving handshakes, not draining.
	if code, _, _ := httpGet(t, p.admin+"/readyz"); code != 200 {
		t.Errorf("/readyz after refused drains = %d", code)
	}
	if code, _, body := httpGet(t, p.public+"/socket.io/?EIO=4&transport=polling"); code != 200 || !strings.Contains(body, `"sid"`) {
		t.Errorf("handshake after refused drains = %d %s", code, body)
	}
	if code, _, body := httpGet(t, p.admin+"/stats"); code != 200 || !strings.Contains(body, `"draining": false`) {
		t.Errorf("/stats (reads stay open by default) = %d %s", code, body)
	}
	_, _, metrics := httpGet(t, p.admin+"/metrics")
	if !strings.Contains(metrics, `socketfleet_admin_unauthorized_total{path="/drain"} 2`) ||
		!strings.Contains(metrics, `socketfleet_admin_unauthorized_total{path="/shed"} 1`) {
		t.Errorf("/metrics does not count the refusals:\n%s", grepLines(metrics, "admin_unauthorized"))
	}
	if !strings.Contains(p.logs(), "admin: request refused") {
		t.Errorf("the refusal was not logged")
	}

	// Rotation: both tokens, then only the new one; no restart.
	writeToken("first-token\nsecond-token\n")
	if code, _, body := httpDo(t, "POST", p.admin+"/shed?count=1", "Bearer second-token", ""); code != 202 {
		t.Errorf("POST /shed with the added token = %d %s", code, body)
	}
	writeToken("second-token\n")
	if code, _, _ := httpDo(t, "POST", p.admin+"/shed?count=1", "Bearer first-token", ""); code != 401 {
		t.Errorf("POST /shed with the removed token = %d, want 401", code)
	}
	select {
	case <-p.exited:
		t.Fatalf("the process exited: %v", p.err)
	default:
	}

	if code, _, body := httpDo(t, "POST", p.admin+"/drain", "Bearer second-token", ""); code != 202 {
		t.Fatalf("POST /drain with the token = %d %s", code, body)
	}
	p.waitExit(t, 10*time.Second)
	if p.err != nil {
		t.Errorf("exit after drain: %v", p.err)
	}
}

// TestAdminWithoutTokenOnAllInterfaces: with no token file and the admin
// listener on every interface, the mutating endpoints answer 403 (what to
// configure), the probes and reads stay open; SIGTERM still drains.
func TestAdminWithoutTokenOnAllInterfaces(t *testing.T) {
	p := startRuntime(t, nil, "--admin-bind-address", "0.0.0.0", "--drain-window", "1s")
	if code, _, body := httpDo(t, "POST", p.admin+"/drain", "", ""); code != 403 || !strings.Contains(body, "admin.tokenFile") {
		t.Errorf("POST /drain = %d %s, want 403 naming admin.tokenFile", code, body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/stats", "/metrics"} {
		if code, _, _ := httpGet(t, p.admin+path); code != 200 {
			t.Errorf("GET %s = %d", path, code)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitExit(t, 10*time.Second)
}

func grepLines(s, substr string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
