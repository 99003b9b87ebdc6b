// Package sioclient is a minimal Socket.IO client over WebSocket for Go
// tests that need many plain clients on several servers. It connects to the
// main namespace, answers pings, answers every event that asks for an ack
// with the socket id, and hands every other event packet to the test as raw
// text. Compatibility with the official client is proven by test/compat;
// this one only observes deliveries.
package sioclient

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Guard bounds every wait of Expect; it is a failure guard, not a speed
// assertion.
const Guard = 10 * time.Second

// Client is one connected socket.
type Client struct {
	conn    *websocket.Conn
	writeMu sync.Mutex // the reader (pongs, acks) and the test (emits) both write
	// ID is the Socket.IO socket id.
	ID string
	// Events receives raw EVENT and BINARY_EVENT packets (e.g. `42["news",1]`)
	// and "disconnected" when the server disconnects the socket.
	Events chan string
}

// Connect opens a WebSocket session at httpURL (http://host:port) with the
// extra query string and connects to the main namespace. The connection is
// closed when the test ends.
func Connect(t testing.TB, httpURL, query string) *Client {
	t.Helper()
	url := "ws" + strings.TrimPrefix(httpURL, "http") + "/socket.io/?EIO=4&transport=websocket&" + query
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("sioclient: dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(Guard))
	if _, _, err := conn.ReadMessage(); err != nil {
		t.Fatalf("sioclient: open packet: %v", err)
	}
	_ = conn.WriteMessage(websocket.TextMessage, []byte("40"))
	_, msg, err := conn.ReadMessage()
	if err != nil || !strings.HasPrefix(string(msg), "40{") {
		t.Fatalf("sioclient: connect: %q %v", msg, err)
	}
	var reply struct{ SID string }
	_ = json.Unmarshal(msg[2:], &reply)
	_ = conn.SetReadDeadline(time.Time{})
	c := &Client{conn: conn, ID: reply.SID, Events: make(chan string, 64)}
	go c.read()
	return c
}

func (c *Client) read() {
	defer close(c.Events)
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		switch s := string(msg); {
		case s == "2":
			_ = c.write([]byte("3"))
		case strings.HasPrefix(s, "42") && len(s) > 2 && s[2] >= '0' && s[2] <= '9':
			id := s[2:strings.IndexByte(s, '[')]
			_ = c.write([]byte("43" + id + `["` + c.ID + `"]`))
		case strings.HasPrefix(s, "42"), strings.HasPrefix(s, "45"):
			c.Events <- s
		case strings.HasPrefix(s, "41"):
			c.Events <- "disconnected"
		}
	}
}

func (c *Client) write(packet []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.conn.WriteMessage(websocket.TextMessage, packet)
}

// Emit sends an event with JSON-encodable arguments.
func (c *Client) Emit(t testing.TB, event string, args ...any) {
	t.Helper()
	b, err := json.Marshal(append([]any{event}, args...))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.write(append([]byte("42"), b...)); err != nil {
		t.Fatalf("sioclient: emit: %v", err)
	}
}

// Expect fails the test unless the next event packet is want.
func (c *Client) Expect(t testing.TB, want string) {
	t.Helper()
	select {
	case got := <-c.Events:
		if got != want {
			t.Fatalf("sioclient: got %q, want %q", got, want)
		}
	case <-time.After(Guard):
		t.Fatalf("sioclient: no %q", want)
	}
}

// ExpectNothing fails the test if an event packet arrives within a short
// quiet period (used after a delivery that must not happen; the positive
// deliveries around it bound the wait).
func (c *Client) ExpectNothing(t testing.TB) {
	t.Helper()
	select {
	case got := <-c.Events:
		t.Fatalf("sioclient: unexpected %q", got)
	case <-time.After(200 * time.Millisecond):
	}
}
