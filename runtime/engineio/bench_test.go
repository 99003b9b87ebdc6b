package engineio

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// BenchmarkFrameWrite writes batches of pre-encoded messages as WebSocket
// frames to a loopback TCP connection whose other end discards them, as the
// flush pool does for one session: one op is one batch.
//
//	go test -run XXX -bench BenchmarkFrameWrite ./runtime/engineio
func BenchmarkFrameWrite(b *testing.B) {
	msg := TextMessage([]byte(`2["m",{"type":"tick","n":42,"text":"hello"}]`))
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			c, done := benchConn(b)
			defer done()
			batch := make([]*Message, n)
			for i := range batch {
				batch[i] = msg
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := c.writeBatch(batch, writeWait); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchConn returns a wsConn on a loopback connection, registered with a
// read poller as a server's are (Linux), whose peer discards what it gets.
func benchConn(b *testing.B) (*wsConn, func()) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, _ := ln.Accept()
		accepted <- conn
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		b.Fatal("accept failed")
	}
	var drained sync.WaitGroup
	drained.Add(1)
	go func() {
		defer drained.Done()
		_, _ = io.Copy(io.Discard, client)
	}()
	c := &wsConn{raw: server, buffers: &sync.Pool{}}
	p, err := newReadPoller()
	if err == nil && !p.watch(c) {
		p.close()
		p = nil
	}
	return c, func() {
		if p != nil {
			p.forget(c)
		}
		_ = server.Close()
		_ = client.SetDeadline(time.Now())
		drained.Wait()
		_ = client.Close()
		if p != nil {
			p.close()
		}
	}
}

// BenchmarkHeartbeatWheel runs the heartbeat of 10,000 sessions through the
// wheel: one op queues one ping per session and takes their pongs.
func BenchmarkHeartbeatWheel(b *testing.B) {
	const sessions = 10000
	var wg sync.WaitGroup
	srv := &Server{opts: Options{PingInterval: time.Hour, PingTimeout: time.Hour}.withDefaults()}
	w := newHeartbeatWheel(time.Hour, time.Hour, &wg)
	srv.heartbeats = w
	all := make([]*Session, sessions)
	for i := range all {
		all[i] = &Session{srv: srv}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range all {
			s.mu.Lock()
			w.schedule(s, 0)
			s.mu.Unlock()
		}
		w.mu.Lock()
		now := w.ran + 1
		w.mu.Unlock()
		w.advance(now)
		for _, s := range all {
			s.mu.Lock()
			s.awaitingPong = false
			s.queue = s.queue[:0]
			s.mu.Unlock()
		}
	}
	w.stop()
	wg.Wait()
}
