package engineio

import (
	"testing"

	"github.com/gorilla/websocket"
)

// SendEach delivers to every kind of session Send does, in order, over
// more than one batch: WebSocket clients, a polling client, a session whose
// lock another goroutine holds, one of another server; it skips a closed
// session and closes one whose queue is full.
func TestSendEach(t *testing.T) {
	h := newHarness(t, Options{MaxQueuedMessages: 4})
	other := newHarness(t, Options{})
	msgs := []*Message{TextMessage([]byte("a")), TextMessage([]byte("b"))}

	type wsClient struct {
		conn *websocket.Conn
		rec  *recorder
	}
	dial := func(h *harness) wsClient {
		conn := dialWS(t, h.wsURL("EIO=4&transport=websocket"), nil)
		readWS(t, conn) // the open packet
		return wsClient{conn, h.session(t)}
	}
	var clients []wsClient
	for range 2*fanOutBatch + 3 {
		clients = append(clients, dial(h))
	}
	clients = append(clients, dial(other))
	pollSID, polling := pollingHandshake(t, h)
	closed := dial(h)
	closed.rec.sess.Close()
	if r := closed.rec.closeReason(t); r != ReasonForcedClose {
		t.Fatalf("closed session: reason %q", r)
	}
	// A polling session nobody polls keeps what is queued: 3 + 2 > 4.
	_, full := pollingHandshake(t, h)
	x := TextMessage([]byte("x"))
	if err := full.sess.Send(x, x, x); err != nil {
		t.Fatal(err)
	}

	sessions := []*Session{polling.sess, closed.rec.sess, full.sess}
	for _, c := range clients {
		sessions = append(sessions, c.rec.sess)
	}
	// sessions[19] and [20] are in the second batch: hold the lock of the
	// one; once the other has its messages, SendEach has found the lock
	// taken and waits for it.
	first, locked := clients[fanOutBatch], clients[fanOutBatch+1]
	locked.rec.sess.mu.Lock()
	done := make(chan struct{})
	go func() {
		h.srv.SendEach(sessions, msgs...)
		close(done)
	}()
	read := func(i int, c wsClient) {
		t.Helper()
		for _, want := range []string{"4a", "4b"} {
			if _, got := readWS(t, c.conn); got != want {
				t.Fatalf("client %d got %q, want %q", i, got, want)
			}
		}
	}
	read(fanOutBatch, first)
	select {
	case <-done:
		t.Fatal("SendEach returned without the locked session")
	default:
	}
	locked.rec.sess.mu.Unlock()
	<-done

	for i, c := range clients {
		if c != first {
			read(i, c)
		}
	}
	if _, body := do(t, "GET", h.url("EIO=4&transport=polling&sid="+pollSID), "", nil); body != "4a\x1e4b" {
		t.Fatalf("poll = %q", body)
	}
	if r := full.closeReason(t); r != ReasonTransportError {
		t.Fatalf("full queue: reason %q", r)
	}
}
