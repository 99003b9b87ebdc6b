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

// TestRedisOutageDegradesAndRecovers: two runtimes on one redis-server with
// real clients. When Redis stops, both stay ready and serve their own
// clients, /stats and /metrics say the adapter is down, and the publish API
// says its delivery is partial; when Redis is back on the same port, the
// link comes back by itself, a publish on b reaches the clients of a, and
// a's publish of the outage reaches the clients of b (the outbox).
func TestRedisOutageDegradesAndRecovers(t *testing.T) {
	srv := redisserver.Start(t, "")
	env := []string{"SOCKETFLEET_REDIS_URL=" + srv.URL(), "SOCKETFLEET_PUBLISH_TOKEN=s3cret"}
	args := []string{"--publish-enabled", "--relay-enabled", "--relay-rooms", "order:*", "--drain-window", "1s"}
	a := startRuntime(t, env, args...)
	b := startRuntime(t, env, args...)
	clients := func(p *proc, room, event string) *node {
		return startNode(t, "clients.mjs", fmt.Sprintf(`{"url":%q,"count":3,"mode":"room","room":%q,"event":%q,"timeoutMs":90000}`,
			p.public, room, event))
	}
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
	deadline := time.Now().Add(30 * time.Second)
	var sum map[string]any
	attempt := 0
	for sum == nil {
		attempt++
		if time.Now().After(deadline) {
			t.Fatalf("clients of a got nothing from b after %d publishes since Redis came back", attempt-1)
		}
		publishOn(t, b, `{"rooms":["order:2"],"event":"after","args":["from b"]}`)
		wait := time.After(time.Second)
	lines:
		for sum == nil {
			select {
			case rec, ok := <-a2.lines:
				if !ok {
					t.Fatalf("clients of a exited (%v) before a summary", a2.err)
				}
				if rec["type"] == "summary" {
					sum = rec
				}
			case <-wait:
				break lines
			}
		}
	}
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
