package socketio_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// BenchmarkBroadcast measures the fan-out of one broadcast to every socket
// of a room, written out: one op is one Emit to the room and the delivery
// of its frame to every client (counted in bytes by the clients, which read
// and discard the raw stream). The clients share the process and its cores
// with the server. cpu-ns/delivery is the process's CPU time (server and
// clients) per delivery, which other processes on the machine disturb less
// than the wall-clock figures.
//
//	go test -run XXX -bench BenchmarkBroadcast ./runtime/socketio
func BenchmarkBroadcast(b *testing.B) {
	for _, clients := range []int{100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			srv := socketio.NewServer(socketio.Options{})
			nsp := srv.Of("/")
			nsp.OnConnection(func(s *socketio.Socket) { s.Join("all") })
			ts := httptest.NewServer(srv)
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				_ = srv.Close(ctx)
				ts.Close()
			}()
			var received atomic.Int64
			var readers sync.WaitGroup
			var conns []*websocket.Conn
			defer func() {
				for _, c := range conns {
					_ = c.Close()
				}
				readers.Wait()
			}()
			url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
			for range clients {
				conn, _, err := websocket.DefaultDialer.Dial(url, nil)
				if err != nil {
					b.Fatal(err)
				}
				conns = append(conns, conn)
				if _, _, err := conn.ReadMessage(); err != nil {
					b.Fatal(err)
				}
				if err := conn.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
					b.Fatal(err)
				}
				if _, _, err := conn.ReadMessage(); err != nil {
					b.Fatal(err)
				}
				raw := conn.NetConn()
				readers.Add(1)
				go func() {
					defer readers.Done()
					buf := make([]byte, 32<<10)
					for {
						n, err := raw.Read(buf)
						received.Add(int64(n))
						if err != nil {
							return
						}
					}
				}()
			}
			waitJoined(b, nsp, clients)
			payload := map[string]any{"type": "tick", "n": 42, "text": "hello"}
			// One broadcast first: its size per client is what every op
			// must deliver.
			if err := nsp.To("all").Emit("m", payload); err != nil {
				b.Fatal(err)
			}
			perOp := waitBytes(b, &received, 1, clients) / int64(clients)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			for b.Loop() {
				if err := nsp.To("all").Emit("m", payload); err != nil {
					b.Fatal(err)
				}
			}
			waitBytes(b, &received, perOp*int64(clients)*int64(b.N+1), 0)
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*clients), "ns/delivery")
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*clients), "cpu-ns/delivery")
		})
	}
}

// waitJoined waits until n sockets are in room "all".
func waitJoined(b *testing.B, nsp *socketio.Namespace, n int) {
	b.Helper()
	deadline := time.Now().Add(wait)
	for len(nsp.Adapter().Sockets([]string{"all"})) < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d sockets joined", len(nsp.Adapter().Sockets([]string{"all"})))
		}
		time.Sleep(time.Millisecond)
	}
}

// waitBytes waits until the clients received at least want bytes; with
// want 1 and n clients it waits until the count is stable (every client has
// its frame) and returns it.
func waitBytes(b *testing.B, received *atomic.Int64, want int64, n int) int64 {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	last, stable := int64(-1), 0
	for {
		got := received.Load()
		if n == 0 && got >= want {
			return got
		}
		if n > 0 {
			if got == last && got > 0 {
				stable++
				if stable > 20 {
					return got
				}
			} else {
				stable = 0
			}
			last = got
		}
		if time.Now().After(deadline) {
			b.Fatalf("received %d bytes, want %d", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}
