package runtime_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/sioclient"
)

// maxScreenshot bounds each screenshot committed to docs/images.
const maxScreenshot = 200 << 10

// TestAdminUIInChromium runs the official Socket.IO admin UI (its static
// files from the npm package, served here) in headless Chromium against two
// runtime processes on one redis-server: it logs in on the first process,
// sees both servers and the sockets of both, disconnects the socket of the
// second process and sees it gone; the client's connection really ends.
// SOCKETFLEET_SCREENSHOTS=dir keeps the two screenshots (docs/images).
func TestAdminUIInChromium(t *testing.T) {
	redisURL := redisserver.Start(t, "").URL()
	hash, err := bcrypt.GenerateFromPassword([]byte("fleet-admin-pw"), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	hashFile := filepath.Join(t.TempDir(), "hash")
	if err := os.WriteFile(hashFile, append(hash, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	ui := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(testDir, "node_modules/@socket.io/admin-ui/ui/dist"))))
	t.Cleanup(ui.Close)

	args := []string{"--redis-url", redisURL, "--admin-ui-enabled", "--admin-ui-username", "admin",
		"--admin-ui-password-hash-file", hashFile, "--cors-origins", ui.URL, "--cors-credentials", "--drain-window", "1s"}
	first := startRuntime(t, []string{"POD_NAME=runtime-1"}, args...)
	second := startRuntime(t, []string{"POD_NAME=runtime-2"}, args...)

	dial := func(base string) *sioclient.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := sioclient.ConnectContext(ctx, base+"/socket.io/", sioclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	keep, drop := dial(first.public), dial(second.public)

	shots := os.Getenv("SOCKETFLEET_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	n := startNode(t, "adminui.mjs", ui.URL+"/", first.public, "admin", "fleet-admin-pw", keep.ID, drop.ID, "2", shots)
	select {
	case <-n.exited:
	case <-time.After(120 * time.Second):
		t.Fatal("admin UI test did not finish")
	}
	var res map[string]any
	for rec := range n.lines {
		res = rec
	}
	if n.err != nil || res == nil || res["ok"] != true {
		t.Fatalf("admin UI in Chromium failed: %v %v\n%s\nruntime-1:\n%s\nruntime-2:\n%s", n.err, res, n.stderr.String(),
			first.logs(), second.logs())
	}
	t.Logf("Chromium: %v", res)
	servers, _ := res["servers"].([]any)
	joined := ""
	for _, s := range servers {
		joined += " " + s.(string)
	}
	if !strings.Contains(joined, "runtime-1") || !strings.Contains(joined, "runtime-2") {
		t.Errorf("the UI's servers page lists %q, want runtime-1 and runtime-2", joined)
	}
	select {
	case <-drop.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("the socket disconnected from the UI is still connected")
	}
	if !drop.ServerDisconnected() {
		t.Error("the dropped client got no Socket.IO DISCONNECT from its server")
	}
	select {
	case <-keep.Closed():
		t.Error("the other socket was disconnected too")
	default:
	}
	for _, name := range []string{"admin-ui-servers.png", "admin-ui-sockets.png"} {
		st, err := os.Stat(filepath.Join(shots, name))
		if err != nil {
			t.Errorf("screenshot: %v", err)
			continue
		}
		if st.Size() == 0 || st.Size() > maxScreenshot {
			t.Errorf("%s is %d bytes (want 1..%d)", name, st.Size(), maxScreenshot)
		}
	}
}
