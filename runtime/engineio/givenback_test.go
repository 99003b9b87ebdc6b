package engineio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/waitfor"
)

// TestGivenBackConnectionsClosedAtShutdown: a long-polling GET that the
// Engine.IO server parks and answers with messages hands its connection back
// to net/http, which counts it as new; a client that keeps it pooled sends
// nothing, and http.Server.Shutdown would wait 5 s for it (a new connection
// is left open until it is 5 s old). The listener of OrderRequests keeps it
// among the connections awaiting a request and closes it when Shutdown
// closes the listener, so Shutdown returns within a deadline shorter than
// those 5 s. A connection that was accepted and has not sent its first
// request yet is not mistaken for one.
func TestGivenBackConnectionsClosedAtShutdown(t *testing.T) {
	var mu sync.Mutex
	var sessions []*Session
	eng := NewServer(Options{PingInterval: time.Minute, PingTimeout: time.Minute},
		func(s *Session, _ *http.Request) SessionHandler {
			mu.Lock()
			sessions = append(sessions, s)
			mu.Unlock()
			return &recorder{sess: s, messages: make(chan string, 8), closed: make(chan string, 1)}
		})
	hs := &http.Server{Handler: eng, ReadHeaderTimeout: 10 * time.Second}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := eng.OrderRequests(hs, raw)
	sl := ln.(*stampedListener)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	defer func() {
		_ = hs.Close()
		_ = eng.Close(context.Background())
		<-served
	}()

	// A fresh connection that has sent nothing: not given back.
	fresh, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()

	// The handshake on a connection of its own ("Connection: close": never
	// parked), so that the only parked connection below is the waiting poll.
	once, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer once.Close()
	conn, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	request := func(c net.Conn, r *bufio.Reader, query, extra string) (int, string) {
		t.Helper()
		if _, err := fmt.Fprintf(c, "GET /?%s HTTP/1.1\r\nHost: test\r\n%s\r\n", query, extra); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	status, body := request(once, bufio.NewReader(once), "EIO=4&transport=polling", "Connection: close\r\n")
	if status != http.StatusOK || !strings.HasPrefix(body, "0") {
		t.Fatalf("handshake: %d %q", status, body)
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil || open.SID == "" {
		t.Fatalf("handshake body %q: %v", body, err)
	}
	// The poll waits (parked); a message answers it, and the connection
	// goes back to net/http at once (a client that got messages polls again
	// at once), where this client leaves it idle.
	polled := make(chan string, 1)
	go func() {
		_, b := request(conn, br, "EIO=4&transport=polling&sid="+open.SID, "")
		polled <- b
	}()
	waitfor.True(t, "the poll parked", func() bool { return eng.Stats().ParkedConns == 1 })
	mu.Lock()
	err = sessions[0].Send(TextMessage([]byte("hello")))
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if b := <-polled; b != "4hello" {
		t.Fatalf("poll answered %q, want the message", b)
	}
	waitfor.True(t, "the connection given back, awaiting its next request", func() bool {
		sl.resumeMu.Lock()
		defer sl.resumeMu.Unlock()
		return len(sl.awaiting) == 1
	})
	sl.resumeMu.Lock()
	for sc := range sl.awaiting {
		if sc.RemoteAddr().String() != conn.LocalAddr().String() {
			t.Fatalf("awaiting %s, want the polling connection %s (not the fresh one %s)",
				sc.RemoteAddr(), conn.LocalAddr(), fresh.LocalAddr())
		}
	}
	sl.resumeMu.Unlock()

	if err := eng.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Below net/http's 5 s for a new connection.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- hs.Shutdown(ctx) }()
	// The polling connection is closed at once: the client reads EOF, before
	// net/http would have closed it (5 s for Shutdown, ReadHeaderTimeout).
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the given-back connection: read %v, want EOF", err)
	}
	// The fresh connection, which has sent nothing yet, is left to net/http
	// (which would wait for its request): the listener did not close it.
	_ = fresh.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var netErr net.Error
	if _, err := fresh.Read(make([]byte, 1)); !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("the fresh connection: read %v, want it still open", err)
	}
	// Its client leaves: nothing holds Shutdown any more.
	_ = fresh.Close()
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
