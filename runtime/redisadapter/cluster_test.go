package redisadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// guard bounds every wait; it is a failure guard, not a speed assertion.
const guard = 10 * time.Second

// redisServer is a real redis-server process on a free loopback port.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
}

func startRedis(t *testing.T, port string) *redisServer {
	t.Helper()
	if port == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ = net.SplitHostPort(l.Addr().String())
		l.Close()
	}
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server (installed by hack/install-deps.sh): %v", err)
	}
	r := &redisServer{addr: "127.0.0.1:" + port, cmd: cmd}
	t.Cleanup(r.stop)
	waitUntil(t, "redis-server up", func() bool {
		c, err := net.Dial("tcp", r.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return r
}

func (r *redisServer) stop() {
	if r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

// node is one Socket.IO server of the cluster.
type node struct {
	srv     *socketio.Server
	http    *httptest.Server
	cluster *Cluster
}

func startNode(t *testing.T, redisAddr string, setup func(*socketio.Server)) *node {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, MaxRetries: 1, DialTimeout: time.Second})
	c := New(rdb, Options{RequestsTimeout: 2 * time.Second})
	srv := socketio.NewServer(socketio.Options{Adapter: c.Adapter})
	nsp := srv.Of("/")
	nsp.OnConnection(func(s *socketio.Socket) {
		if room := s.Handshake().Query.Get("room"); room != "" {
			s.Join(room)
		}
		s.On("answer-me", func(ctx context.Context, ev *socketio.Event) {})
	})
	if setup != nil {
		setup(srv)
	}
	n := &node{srv: srv, http: httptest.NewServer(srv), cluster: c}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		_ = srv.Close(ctx)
		n.http.Close()
		_ = c.Close()
		_ = rdb.Close()
	})
	return n
}

// client is a minimal Socket.IO client over WebSocket.
type client struct {
	conn   *websocket.Conn
	id     string
	events chan string // raw "42..." packets
}

func connect(t *testing.T, n *node, query string) *client {
	t.Helper()
	url := "ws" + strings.TrimPrefix(n.http.URL, "http") + "/socket.io/?EIO=4&transport=websocket&" + query
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(guard))
	if _, _, err := conn.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	_ = conn.WriteMessage(websocket.TextMessage, []byte("40"))
	_, msg, err := conn.ReadMessage()
	if err != nil || !strings.HasPrefix(string(msg), "40{") {
		t.Fatalf("connect: %q %v", msg, err)
	}
	var reply struct{ SID string }
	_ = json.Unmarshal(msg[2:], &reply)
	_ = conn.SetReadDeadline(time.Time{})
	c := &client{conn: conn, id: reply.SID, events: make(chan string, 64)}
	go func() {
		defer close(c.events)
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			switch s := string(msg); {
			case s == "2":
				_ = conn.WriteMessage(websocket.TextMessage, []byte("3"))
			case strings.HasPrefix(s, "42") && len(s) > 2 && s[2] >= '0' && s[2] <= '9':
				// An event expecting an ack: answer with the socket id.
				id := s[2:strings.IndexByte(s, '[')]
				_ = conn.WriteMessage(websocket.TextMessage, []byte("43"+id+`["`+c.id+`"]`))
			case strings.HasPrefix(s, "42"), strings.HasPrefix(s, "45"):
				c.events <- s
			case strings.HasPrefix(s, "41"):
				c.events <- "disconnected"
			}
		}
	}()
	return c
}

func (c *client) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-c.events:
		if got != want {
			t.Fatalf("client got %q, want %q", got, want)
		}
	case <-time.After(guard):
		t.Fatalf("client did not get %q", want)
	}
}

func (c *client) expectNothing(t *testing.T) {
	t.Helper()
	select {
	case got := <-c.events:
		t.Fatalf("client got unexpected %q", got)
	case <-time.After(200 * time.Millisecond):
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTwoServersShareBroadcastsAndRooms(t *testing.T) {
	r := startRedis(t, "")
	a := startNode(t, r.addr, nil)
	b := startNode(t, r.addr, func(srv *socketio.Server) {
		srv.Of("/").OnServerSideEmit("hello-servers", func(ctx context.Context, ev *socketio.Event) {
			var n int
			_ = ev.Bind(&n)
			_ = ev.Ack(fmt.Sprintf("b got %d", n))
		})
	})
	ctx := context.Background()
	waitUntil(t, "both servers subscribed", func() bool {
		n, err := a.srv.Of("/").Adapter().ServerCount(ctx)
		return err == nil && n == 2
	})
	onA := connect(t, a, "room=red")
	onB := connect(t, b, "room=blue")
	onB2 := connect(t, b, "room=red")

	// Broadcast to everyone, from A.
	if err := a.srv.Of("/").Emit("news", "all", 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{onA, onB, onB2} {
		c.expect(t, `42["news","all",1]`)
	}
	// A room, from B; binary crosses servers as an attachment.
	if err := b.srv.Of("/").To("red").Emit("bin", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	onA.expect(t, `451-["bin",{"_placeholder":true,"num":0}]`)
	onB2.expect(t, `451-["bin",{"_placeholder":true,"num":0}]`)
	onB.expectNothing(t)
	// Except.
	if err := a.srv.Of("/").Except("red").Emit("not-red"); err != nil {
		t.Fatal(err)
	}
	onB.expect(t, `42["not-red"]`)
	onA.expectNothing(t)
	onB2.expectNothing(t)

	// socketsJoin from A moves B's sockets too.
	if err := a.srv.Of("/").In("blue").SocketsJoin("green"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "remote join", func() bool { return b.srv.Of("/").Adapter().(*Adapter).HasRoom("green") })
	if err := a.srv.Of("/").To("green").Emit("green"); err != nil {
		t.Fatal(err)
	}
	onB.expect(t, `42["green"]`)

	// fetchSockets sees both servers.
	sockets, err := a.srv.Of("/").FetchSockets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range sockets {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	want := []string{onA.id, onB.id, onB2.id}
	sort.Strings(want)
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("fetchSockets = %v, want %v", ids, want)
	}

	// serverSideEmit with an acknowledgement.
	answers, err := a.srv.Of("/").ServerSideEmitWithAck(ctx, "hello-servers", 7)
	if err != nil || len(answers) != 1 || string(answers[0]) != `"b got 7"` {
		t.Fatalf("serverSideEmitWithAck = %s, %v", answers, err)
	}

	// A broadcast with acks collects every client's answer on both servers.
	ackCtx, cancel := context.WithTimeout(ctx, guard)
	defer cancel()
	acks, err := a.srv.Of("/").Timeout(guard).EmitWithAck(ackCtx, "ask")
	if err != nil || len(acks) != 3 {
		t.Fatalf("emitWithAck = %s, %v; want 3 answers", acks, err)
	}

	// disconnectSockets from B reaches A's socket.
	if err := b.srv.Of("/").In("red").DisconnectSockets(false); err != nil {
		t.Fatal(err)
	}
	onA.expect(t, "disconnected")
	onB2.expect(t, "disconnected")
}

func TestRedisOutage(t *testing.T) {
	r := startRedis(t, "")
	_, port, _ := net.SplitHostPort(r.addr)
	a := startNode(t, r.addr, nil)
	b := startNode(t, r.addr, nil)
	ctx := context.Background()
	waitUntil(t, "both servers subscribed", func() bool {
		n, err := a.srv.Of("/").Adapter().ServerCount(ctx)
		return err == nil && n == 2
	})
	onA := connect(t, a, "")
	onB := connect(t, b, "")

	r.stop()
	if a.cluster.Ping(ctx) == nil {
		t.Fatal("Ping succeeds with Redis down")
	}
	// Local clients are still served.
	if err := a.srv.Of("/").Emit("local-only"); err != nil {
		t.Fatal(err)
	}
	onA.expect(t, `42["local-only"]`)

	// Redis comes back on the same port: delivery across servers resumes
	// once the subscription is re-established (go-redis reconnects it).
	startRedis(t, port)
	waitUntil(t, "subscriptions restored", func() bool {
		n, err := a.srv.Of("/").Adapter().ServerCount(ctx)
		return err == nil && n == 2
	})
	if err := a.srv.Of("/").Emit("back"); err != nil {
		t.Fatal(err)
	}
	onA.expect(t, `42["back"]`)
	onB.expect(t, `42["back"]`)
}
