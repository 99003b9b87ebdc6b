package engineio

import (
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestHeartbeatWebSocket: over WebSocket (where the wheel writes the ping
// itself) a ping never comes before PingInterval has passed since the pong,
// answered pings keep the session, an unanswered one closes it with "ping
// timeout"; several sessions share the one wheel.
func TestHeartbeatWebSocket(t *testing.T) {
	const interval = 30 * time.Millisecond
	h := newHarness(t, Options{PingInterval: interval, PingTimeout: 60 * time.Millisecond})
	conns := make([]*websocket.Conn, 3)
	recs := make([]*recorder, len(conns))
	for i := range conns {
		conns[i] = dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
		readWS(t, conns[i]) // open
		recs[i] = h.session(t)
	}
	for round := range 3 {
		for i, conn := range conns {
			if _, m := readWS(t, conn); m != "2" {
				t.Fatalf("client %d round %d: got %q, want a ping", i, round, m)
			}
		}
		ponged := time.Now()
		for _, conn := range conns {
			if err := conn.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
				t.Fatal(err)
			}
		}
		if round == 2 {
			break
		}
		for i, conn := range conns {
			if _, m := readWS(t, conn); m != "2" {
				t.Fatalf("client %d: got %q, want a ping", i, m)
			} else if early := time.Since(ponged); early < interval {
				t.Fatalf("client %d: ping %v after the pong, before the interval %v", i, early, interval)
			}
			// Answer it: the next round reads the following ping.
			if err := conn.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, rec := range recs {
		select {
		case r := <-rec.closed:
			t.Fatalf("client %d closed (%s) although every ping was answered", i, r)
		default:
		}
	}
	// The clients stop answering: every session ends with a ping timeout.
	for i, rec := range recs {
		if r := rec.closeReason(t); r != ReasonPingTimeout {
			t.Fatalf("client %d: reason %q", i, r)
		}
	}
}

// TestHeartbeatWheelBuckets: a session rescheduled to the same bucket one
// lap later stays in it, a stale entry is dropped, and a due one fires once.
func TestHeartbeatWheelBuckets(t *testing.T) {
	var wg sync.WaitGroup
	srv := &Server{opts: Options{PingInterval: time.Hour, PingTimeout: time.Hour}.withDefaults()}
	w := newHeartbeatWheel(time.Hour, time.Hour, &wg)
	srv.heartbeats = w
	defer func() { w.stop(); wg.Wait() }()
	lap := int64(len(w.buckets))
	tests := []struct {
		name     string
		hbDue    int64 // the session's deadline when bucket 5 runs
		wantKeep bool
		wantPing bool
	}{
		{"due", 5, false, true},
		{"one lap later", 5 + lap, true, false},
		{"moved to another tick", 7, false, false},
		{"no deadline", 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Session{srv: srv, hbDue: tt.hbDue}
			keep := s.heartbeatDue(5)
			pinged := s.awaitingPong
			if keep != tt.wantKeep || pinged != tt.wantPing {
				t.Fatalf("keep %v ping %v, want %v %v", keep, pinged, tt.wantKeep, tt.wantPing)
			}
			if pinged && (s.hbDue <= 5 || len(s.queue) != 1 || s.queue[0] != pingMessage) {
				t.Fatalf("after the ping: due %d, queue %v", s.hbDue, s.queue)
			}
		})
	}
}
