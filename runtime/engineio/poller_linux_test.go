package engineio

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestIsLonePong: the poller handles on its own goroutine exactly one
// complete Engine.IO pong frame, and hands everything else to a reader.
func TestIsLonePong(t *testing.T) {
	pong := clientFrame(true, opText, "3")
	for _, tt := range []struct {
		name    string
		b       []byte
		probing bool
		partial bool
		want    bool
	}{
		{name: "pong", b: pong, want: true},
		{name: "message", b: clientFrame(true, opText, "4")},
		{name: "ping packet", b: clientFrame(true, opText, "2")},
		{name: "binary 3", b: clientFrame(true, opBinary, "3")},
		{name: "first fragment", b: clientFrame(false, opText, "3")},
		{name: "pong and a message", b: append(clientFrame(true, opText, "3"), clientFrame(true, opText, "4")...)},
		{name: "half a pong", b: pong[:5]},
		{name: "probing connection", b: pong, probing: true},
		{name: "after a partial frame", b: pong, partial: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &wsConn{probing: tt.probing, frames: frameReader{limit: 100}}
			if tt.partial {
				if err := c.frames.feed(clientFrame(true, opText, "4abc")[:4], nil); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.isLonePong(tt.b); got != tt.want {
				t.Fatalf("isLonePong = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPollerPongsAndMessages: pongs the poller handles itself and messages
// it hands to reader goroutines, interleaved, keep the session alive and
// arrive in order.
func TestPollerPongsAndMessages(t *testing.T) {
	h := newHarness(t, Options{PingInterval: 20 * time.Millisecond, PingTimeout: 40 * time.Millisecond})
	conn := dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
	readWS(t, conn) // open
	rec := h.session(t)
	h.srv.mu.Lock()
	polled := h.srv.poller != nil
	h.srv.mu.Unlock()
	if !polled {
		t.Fatal("the connection is not read by the poller")
	}
	var writeMu sync.Mutex // a gorilla connection takes one writer at a time
	write := func(m string) {
		writeMu.Lock()
		defer writeMu.Unlock()
		_ = conn.WriteMessage(websocket.TextMessage, []byte(m))
	}
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		// Answer every ping; stop at the close of the test's connection.
		defer close(done)
		for {
			_, m, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if string(m) == "2" {
				write("3")
			}
		}
	}()
	const n = 200
	go func() {
		for i := range n {
			write("3")
			write(fmt.Sprintf("4%d", i))
			if i%20 == 0 {
				time.Sleep(15 * time.Millisecond) // spans a few pings
			}
		}
	}()
	for i := range n {
		if m := rec.next(t); m != fmt.Sprintf("t:%d", i) {
			t.Fatalf("message %d: %q", i, m)
		}
	}
	select {
	case r := <-rec.closed:
		t.Fatalf("session closed (%s) although every ping was answered", r)
	default:
	}
	_ = conn.Close()
}
