package runtime_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/redisserver"
)

// TestBinaryThroughRelayPublishWebhookAndRedis sends Buffers and ArrayBuffers
// with the official client through the room relay, the publish API and the
// webhook, across two runtimes on one Redis: every binary value reaches the
// other side as binary of the same bytes, and the webhook sees it as
// {"$binary":"<base64>"}.
func TestBinaryThroughRelayPublishWebhookAndRedis(t *testing.T) {
	hooks := make(chan string, 4)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Args []json.RawMessage `json:"args"`
		}
		body, _ := io.ReadAll(r.Body)
		hooks <- string(body)
		if err := json.Unmarshal(body, &p); err != nil || len(p.Args) != 2 {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"echo":%s,"nested":%s,"extra":{"$binary":"/wA="}}`, p.Args[0], p.Args[1])
	}))
	t.Cleanup(backend.Close)

	url := redisserver.Start(t, "").URL()
	env := []string{"SOCKETFLEET_REDIS_URL=" + url, "SOCKETFLEET_PUBLISH_TOKEN=s3cret"}
	args := []string{"--publish-enabled", "--relay-enabled", "--relay-rooms", "bin:*", "--relay-events", "file",
		"--webhook-url", backend.URL + "/events", "--webhook-events", "bin:*", "--drain-window", "1s"}
	a := startRuntime(t, env, args...)
	b := startRuntime(t, env, args...)
	for _, p := range []*proc{a, b} {
		if code, _, body := httpGet(t, p.admin+"/readyz"); code != 200 {
			t.Fatalf("/readyz = %d %s", code, body)
		}
	}
	n := startNode(t, "binary.mjs", fmt.Sprintf(`{"a":%q,"b":%q}`, a.public, b.public))

	check := func(what string, got any, want string) {
		t.Helper()
		b, _ := json.Marshal(got)
		if string(b) != want {
			t.Errorf("%s:\n got %s\nwant %s", what, b, want)
		}
	}
	check("relayed across runtimes", n.next(t, "relay", 30*time.Second)["args"],
		`[{"bin":"Buffer","hex":"010203ff"},{"list":[{"bin":"Buffer","hex":""}],"nested":{"bin":"Buffer","hex":"0405"}},"t"]`)

	n.next(t, "await-publish", 10*time.Second)
	code, _, resp := httpDo(t, "POST", a.public+"/v1/emit", "Bearer s3cret",
		`{"rooms":["bin:1"],"event":"pub","args":[{"$binary":"AQID"},{"doc":{"$binary":"/w=="},"n":1},{"$literal":{"$binary":"text"}}]}`)
	if code != 200 {
		t.Fatalf("publish = %d %s", code, resp)
	}
	check("published on a, received on b", n.next(t, "publish", 15*time.Second)["args"],
		`[{"bin":"Buffer","hex":"010203"},{"doc":{"bin":"Buffer","hex":"ff"},"n":1},{"$binary":"text"}]`)

	check("webhook answer", n.next(t, "webhook", 15*time.Second)["ack"],
		`[{"echo":{"bin":"Buffer","hex":"6869"},"extra":{"bin":"Buffer","hex":"ff00"},"nested":{"f":{"bin":"Buffer","hex":"09"}}}]`)
	select {
	case body := <-hooks:
		var p struct {
			Args json.RawMessage `json:"args"`
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil || string(p.Args) != `[{"$binary":"aGk="},{"f":{"$binary":"CQ=="}}]` {
			t.Errorf("webhook payload args %s (%v)", p.Args, err)
		}
	default:
		t.Error("the webhook was not called")
	}
	if sum := n.next(t, "summary", 10*time.Second); sum["ok"] != true {
		t.Errorf("client: %v", sum)
	}
}
