package metrics_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/runtime/metrics"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestLiveCountsAndCounters(t *testing.T) {
	var srv *socketio.Server
	draining := false
	m := metrics.New(metrics.Source{
		Clients:   func() metrics.Clients { return metrics.CountClients(srv) },
		Draining:  func() bool { return draining },
		StartTime: time.Unix(1700000000, 0),
	})
	srv = socketio.NewServer(socketio.Options{Adapter: m.CountBroadcasts(socketio.NewMemoryAdapter)})
	srv.Of("/chat")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: m.ObserveUpgrades(srv)}
	go func() { _ = hs.Serve(m.CountBytes(ln, "public")) }()
	defer func() {
		_ = srv.Close(context.Background())
		_ = hs.Close()
	}()
	base := "http://" + ln.Addr().String() + "/socket.io/"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sioclient.ConnectContext(ctx, base, sioclient.Options{Namespace: "/chat"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// An upgrade request for an unknown session is refused: one failure.
	resp, err := http.Get(base + "?EIO=4&transport=websocket&sid=nope")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	if err := srv.Of("/chat").Emit("news", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(ctx); err != nil {
		t.Fatal(err)
	}
	m.Handshake(true, "")
	m.Handshake(false, "draining")
	m.SessionsClosed(3, true)
	m.SessionsClosed(2, false)
	draining = true

	body := scrape(t, m)
	for _, want := range []string{
		`socketfleet_connected_clients{namespace="/chat",transport="websocket"} 1`,
		`socketfleet_connected_clients{namespace="/chat",transport="polling"} 0`,
		`socketfleet_connected_clients{namespace="/",transport="websocket"} 0`,
		`socketfleet_engine_sessions{transport="websocket"} 1`,
		"\nsocketfleet_engine_parked_connections 0\n", // a plain listener parks nothing
		`socketfleet_broadcasts_total{namespace="/chat"} 1`,
		`socketfleet_upgrade_failures_total 1`,
		`socketfleet_handshakes_total{reason="",result="accepted"} 1`,
		`socketfleet_handshakes_total{reason="draining",result="refused"} 1`,
		`socketfleet_drain_closed_sessions_total{cause="drain"} 3`,
		`socketfleet_drain_closed_sessions_total{cause="shed"} 2`,
		`socketfleet_draining 1`,
		`socketfleet_start_time_seconds 1.7e+09`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, `socketfleet_received_bytes_total{listener="public"}`) ||
			strings.HasPrefix(l, `socketfleet_sent_bytes_total{listener="public"}`) {
			if strings.HasSuffix(l, " 0") {
				t.Errorf("bytes not counted: %s", l)
			}
		}
	}
}

func TestDrainDeadlineOnlyWhileDraining(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline time.Time
		want     string
	}{
		{"not draining", time.Time{}, ""},
		{"draining", time.Unix(1700000060, 0), "socketfleet_drain_deadline_timestamp_seconds 1.70000006e+09"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New(metrics.Source{DrainDeadline: func() time.Time { return tc.deadline }})
			body := scrape(t, m)
			has := strings.Contains(body, "socketfleet_drain_deadline_timestamp_seconds ")
			if tc.want == "" && has {
				t.Errorf("deadline reported while not draining:\n%s", body)
			}
			if tc.want != "" && !strings.Contains(body, tc.want) {
				t.Errorf("metrics lack %s", tc.want)
			}
		})
	}
}
