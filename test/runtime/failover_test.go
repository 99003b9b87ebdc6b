package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/waitfor"
)

// TestSentinelFailoverKeepsClients: two runtimes in redis.mode sentinel, as
// the operator configures them for a managed Redis with replicas (the
// Sentinels' addresses, the password from a file for Redis and the
// Sentinels), on a primary with a replica and three Sentinels, with
// official clients on each. The primary is killed (SIGKILL): no client is
// disconnected, both runtimes stay ready, and once the Sentinels promoted the
// replica a publish on b reaches the clients of a again, with no restart of
// anything; /stats shows the link up.
func TestSentinelFailoverKeepsClients(t *testing.T) {
	const password = "s3cret-redis"
	f := redisserver.StartFailover(t, "chat-redis", password, time.Second)
	passwordFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(passwordFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, b := startPublishPair(t, "SOCKETFLEET_REDIS_MODE=sentinel", "SOCKETFLEET_REDIS_ADDRESSES="+strings.Join(f.Sentinels, ","),
		"SOCKETFLEET_REDIS_SENTINEL_MASTER=chat-redis", "SOCKETFLEET_REDIS_PASSWORD_FILE="+passwordFile)
	clients := roomClients(t)
	// before: a's clients get b's publish with the primary up; after: a's
	// clients get it once the replica is promoted.
	before, after := clients(a, "order:1", "before"), clients(a, "order:2", "after")
	for _, n := range []*node{before, after} {
		n.next(t, "ready", 30*time.Second)
	}
	for _, p := range []*proc{a, b} {
		waitfor.True(t, "adapter up in /stats", func() bool { return p.health(t).Up })
	}
	if sum, _ := publishUntilSummary(t, b, `{"rooms":["order:1"],"event":"before","args":["from b"]}`, before,
		time.Second, 30*time.Second); sum["ok"] != true {
		t.Fatalf("clients of a before the failover: %v", sum)
	}

	f.Primary.Stop() // SIGKILL
	killed := time.Now()
	sum, attempts := publishUntilSummary(t, b, `{"rooms":["order:2"],"event":"after","args":["from b"]}`, after,
		200*time.Millisecond, 60*time.Second)
	resumed := time.Since(killed)
	if sum["ok"] != true || sum["received"] != float64(3) {
		t.Errorf("clients of a after the failover: %v", sum)
	}
	if reasons, _ := sum["reasons"].(map[string]any); len(reasons) != 0 {
		t.Errorf("clients were disconnected during the failover: %v", reasons)
	}
	if !f.Promoted() {
		t.Error("the replica was not promoted")
	}
	t.Logf("a publish on b reached the clients of a %v after the primary was killed (%d publishes)",
		resumed.Round(10*time.Millisecond), attempts)
	for _, p := range []*proc{a, b} {
		if code, _, body := httpGet(t, p.admin+"/readyz"); code != 200 {
			t.Errorf("/readyz = %d %s after the failover", code, body)
		}
		waitfor.Poll{Timeout: 30 * time.Second}.True(t, "adapter up again in /stats", func() bool { return p.health(t).Up })
	}
	// Whether the monitor saw the outage depends on timing: go-redis retries a
	// command (finding the new primary through the Sentinels) before it
	// reports an error, so a failover shorter than the retries is invisible.
	t.Logf("b's link after the failover: %+v", b.health(t))
}
