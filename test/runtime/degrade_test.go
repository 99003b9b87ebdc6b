package runtime_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/waitfor"
)

// adapterHealth is the adapterHealth block of /stats.
type adapterHealth struct {
	Name            string     `json:"name"`
	Up              bool       `json:"up"`
	DownSince       *time.Time `json:"downSince"`
	LastOKAt        *time.Time `json:"lastOkAt"`
	LastError       string     `json:"lastError"`
	DownTransitions int        `json:"downTransitions"`
}

// health reads the adapterHealth block of p's /stats.
func (p *proc) health(t *testing.T) adapterHealth {
	t.Helper()
	code, _, body := httpGet(t, p.admin+"/stats")
	var st struct {
		AdapterHealth *adapterHealth `json:"adapterHealth"`
	}
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.AdapterHealth == nil {
		t.Fatalf("/stats = %d %s (%v)", code, body, err)
	}
	return *st.AdapterHealth
}

// publishResponse is the publish API's answer.
type publishResponse struct {
	OK      bool   `json:"ok"`
	Partial bool   `json:"partial"`
	Reason  string `json:"reason"`
}

func publishOn(t *testing.T, p *proc, body string) publishResponse {
	t.Helper()
	code, _, resp := httpDo(t, "POST", p.public+"/v1/emit", "Bearer s3cret", body)
	var r publishResponse
	if err := json.Unmarshal([]byte(resp), &r); code != 200 || err != nil || !r.OK {
		t.Fatalf("publish = %d %s (%v)", code, resp, err)
	}
	return r
}

// startPublishPair starts two runtimes with the Redis settings in env, the
// publish API (token s3cret) and the relay on rooms order:*.
func startPublishPair(t *testing.T, env ...string) (a, b *proc) {
	t.Helper()
	env = append(env, "SOCKETFLEET_PUBLISH_TOKEN=s3cret")
	args := []string{"--publish-enabled", "--relay-enabled", "--relay-rooms", "order:*", "--drain-window", "1s"}
	return startRuntime(t, env, args...), startRuntime(t, env, args...)
}

// roomClients returns a function that starts three official clients of p
// that join room and wait for event.
func roomClients(t *testing.T) func(p *proc, room, event string) *node {
	return func(p *proc, room, event string) *node {
		return startNode(t, "clients.mjs", fmt.Sprintf(`{"url":%q,"count":3,"mode":"room","room":%q,"event":%q,"timeoutMs":90000}`,
			p.public, room, event))
	}
}

// publishUntilSummary publishes body on from every interval until the
// clients of to (room mode) print their summary, and returns it with the
// number of publishes. Publishes made while the link between the pods is
// still down are lost (nothing is queued), hence the repetition; limit is a
// failure guard.
func publishUntilSummary(t *testing.T, from *proc, body string, to *node, every, limit time.Duration) (map[string]any, int) {
	t.Helper()
	deadline := time.Now().Add(limit)
	attempt := 0
	for {
		attempt++
		if time.Now().After(deadline) {
			t.Fatalf("the clients got nothing after %d publishes in %v", attempt-1, limit)
		}
		publishOn(t, from, body)
		wait := time.After(every)
		for {
			select {
			case rec, ok := <-to.lines:
				if !ok {
					t.Fatalf("clients exited (%v) before a summary", to.err)
				}
				if rec["type"] == "summary" {
					return rec, attempt
				}
				continue
			case <-wait:
			}
			break
		}
	}
}

// TestRedisOutageDegradesAndRecovers: two runtimes on one redis-server with
// real clients. When Redis stops, both stay ready and serve their own
// clients, /stats and /metrics say the adapter is down, and the publish API
// says its delivery is partial; when Redis is back on the same port, the
// link comes back by itself, a publish on b reaches the clients of a, and
// a's publish of the outage reaches the clients of b (the outbox).
func TestRedisOutageDegradesAndRecovers(t *testing.T) {
	srv := redisserver.Start(t, "")
	a, b := startPublishPair(t, "SOCKETFLEET_REDIS_URL="+srv.URL())
	clients := roomClients(t)
	// a1 gets a's publish during the outage, a2 b's publish after it; b1 is
	// in a1's room on the other pod, cut off during the outage.
	a1, a2, b1 := clients(a, "order:1", "during"), clients(a, "order:2", "after"), clients(b, "order:1", "during")
	for _, n := range []*node{a1, a2, b1} {
		n.next(t, "ready", 30*time.Second)
	}
	for _, p := range []*proc{a, b} {
		if h := p.health(t); !h.Up || h.Name != "redis" || h.LastOKAt == nil {
			t.Fatalf("adapter health before the outage: %+v", h)
		}
	}

	srv.Stop()
	for _, p := range []*proc{a, b} {
		waitfor.True(t, "adapter down in /stats", func() bool { return !p.health(t).Up })
		if code, _, body := httpGet(t, p.admin+"/readyz"); code != 200 {
			t.Errorf("/readyz = %d %s while Redis is down", code, body)
		}
		if h := p.health(t); h.DownSince == nil || h.LastError == "" {
			t.Errorf("adapter health while down: %+v", h)
		}
		if _, _, metrics := httpGet(t, p.admin+"/metrics"); !strings.Contains(metrics, `socketfleet_adapter_up{adapter="redis"} 0`) {
			t.Errorf("/metrics lacks socketfleet_adapter_up 0")
		}
	}
	r := publishOn(t, a, `{"rooms":["order:1"],"event":"during","args":["local only"]}`)
	if !r.Partial || !strings.Contains(r.Reason, "redis unavailable") {
		t.Errorf("publish on a while Redis is down: %+v", r)
	}
	if sum := a1.next(t, "summary", 15*time.Second); sum["ok"] != true || sum["received"] != float64(3) {
		t.Errorf("clients of a during the outage: %v", sum)
	}
	if _, _, metrics := httpGet(t, a.admin+"/metrics"); !strings.Contains(metrics, "socketfleet_publish_partial_total 1") {
		t.Errorf("/metrics lacks socketfleet_publish_partial_total 1")
	}

	redisserver.StartWith(t, redisserver.Options{Port: srv.Port()})
	for _, p := range []*proc{a, b} {
		waitfor.Poll{Timeout: 30 * time.Second}.True(t, "adapter up again in /stats", func() bool { return p.health(t).Up })
	}
	// The subscriptions come back on their own schedule: publish on b until
	// a's clients get it (each attempt waits for them a little).
	sum, attempt := publishUntilSummary(t, b, `{"rooms":["order:2"],"event":"after","args":["from b"]}`, a2, time.Second, 30*time.Second)
	if sum["ok"] != true || sum["received"] != float64(3) {
		t.Errorf("clients of a after the outage: %v", sum)
	}
	t.Logf("clients of a got b's publish at attempt %d after Redis came back", attempt)
	// a's publish of the outage waited in its outbox and reached b's clients
	// once Redis was back.
	if sum := b1.next(t, "summary", 30*time.Second); sum["ok"] != true || sum["received"] != float64(3) {
		t.Errorf("clients of b, from a's outbox: %v", sum)
	}
	if _, _, metrics := httpGet(t, a.admin+"/metrics"); !strings.Contains(metrics, "socketfleet_adapter_outbox_forwarded_total 1") ||
		!strings.Contains(metrics, "socketfleet_adapter_outbox_dropped_total 0") {
		t.Errorf("/metrics of a lacks socketfleet_adapter_outbox_forwarded_total 1 or _dropped_total 0")
	}
	for _, p := range []*proc{a, b} {
		logs := p.logs()
		if down, up := strings.Count(logs, "cluster adapter down"), strings.Count(logs, "cluster adapter up again"); down != 1 || up != 1 {
			t.Errorf("transitions logged: %d down, %d up, want 1 each", down, up)
		}
		_, _, metrics := httpGet(t, p.admin+"/metrics")
		for _, want := range []string{`socketfleet_adapter_up{adapter="redis"} 1`, `socketfleet_adapter_down_transitions_total{adapter="redis"} 1`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}
}
