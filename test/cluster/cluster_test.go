// Package cluster runs a mixed Socket.IO cluster on one real redis-server:
// a Node socket.io 4.8 server with @socket.io/redis-adapter 8.3 (or
// @socket.io/redis-streams-adapter 0.3), a Go server with
// runtime/redisadapter, and @socket.io/redis-emitter 5.1, with
// plain clients on both servers. Every cluster operation is started from
// Node and from Go and checked at the clients.
package cluster

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/redisadapter"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

const guard = sioclient.Guard

// emit sends an event from c and fails the test if it cannot be written.
func emit(t *testing.T, c *sioclient.Client, event string, args ...any) {
	t.Helper()
	if err := c.Emit(event, args...); err != nil {
		t.Fatal(err)
	}
}

func startNodeServer(t *testing.T, redisURL, mode string, env ...string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	cmd := exec.Command("node", "node-server.mjs")
	cmd.Env = append(append(os.Environ(), "REDIS_URL="+redisURL, "PORT="+port, "MODE="+mode), env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node (npm ci in test/cluster is done by hack/install-deps.sh): %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(guard):
		t.Fatal("node server did not start")
	}
	return "http://127.0.0.1:" + port
}

// goCluster is the part of the two cluster variants the test uses.
type goCluster interface {
	Adapter(*socketio.Namespace) socketio.Adapter
	Close() error
}

func startGoServer(t *testing.T, redisAddr, mode string, recovery bool, options ...func(*socketio.Options)) *socketio.Server {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	var cluster goCluster
	switch mode {
	case "classic":
		cluster = redisadapter.New(rdb, redisadapter.Options{})
	case "sharded":
		cluster = redisadapter.NewSharded(rdb, redisadapter.ShardedOptions{})
	case "streams":
		cluster = redisadapter.NewStreams(rdb, redisadapter.StreamsOptions{})
	default:
		t.Fatalf("mode %q", mode)
	}
	opts := socketio.Options{Adapter: cluster.Adapter}
	if recovery {
		opts.Recovery = &socketio.RecoveryOptions{MaxDisconnectionDuration: time.Minute, SkipMiddlewares: true}
	}
	for _, o := range options {
		o(&opts)
	}
	srv := socketio.NewServer(opts)
	nsp := srv.Of("/")
	nsp.OnConnection(func(s *socketio.Socket) {
		if room := s.Handshake().Query.Get("room"); room != "" {
			s.Join(room)
		}
	})
	nsp.OnConnection(func(s *socketio.Socket) {
		// As node-server.mjs: the client's arguments relayed as received.
		s.On("to-room", func(_ context.Context, ev *socketio.Event) {
			var room string
			if ev.Bind(&room) == nil {
				_ = s.To(room).Emit("room-msg", ev.Args()[1:].Any()...)
			}
		})
	})
	nsp.OnServerSideEmit("ping-go", func(_ context.Context, ev *socketio.Event) {
		var n int
		_ = ev.Bind(&n)
		_ = ev.Ack(fmt.Sprintf("pong from go %d", n))
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		_ = srv.Close(ctx)
		hs.Close()
		_ = cluster.Close()
		_ = rdb.Close()
	})
	t.Setenv("GO_SERVER_URL", hs.URL)
	return srv
}

func emitter(t *testing.T, redisURL string, args ...string) {
	t.Helper()
	cmd := exec.Command("node", append([]string{"emit.mjs"}, args...)...)
	cmd.Env = append(os.Environ(), "REDIS_URL="+redisURL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("emitter: %v\n%s", err, out)
	}
}

func TestMixedNodeAndGoCluster(t *testing.T) {
	for _, mode := range []string{"classic", "sharded", "streams"} {
		t.Run(mode, func(t *testing.T) { testMixedCluster(t, mode) })
	}
}

func testMixedCluster(t *testing.T, mode string) {
	rs := redisserver.Start(t, "")
	redisURL := "redis://" + rs.Addr
	nodeURL := startNodeServer(t, redisURL, mode)
	goSrv := startGoServer(t, rs.Addr, mode, false)
	goURL := os.Getenv("GO_SERVER_URL")
	nsp := goSrv.Of("/")
	ctx := context.Background()

	waitfor.NoError(t, "two servers", func() error {
		if n, _ := nsp.Adapter().ServerCount(ctx); n != 2 {
			return fmt.Errorf("server count %d, want 2", n)
		}
		return nil
	})

	nodeRed := sioclient.Connect(t, nodeURL, "room=red")
	nodeBlue := sioclient.Connect(t, nodeURL, "room=blue")
	goRed := sioclient.Connect(t, goURL, "room=red")
	goBlue := sioclient.Connect(t, goURL, "room=blue")
	all := []*sioclient.Client{nodeRed, nodeBlue, goRed, goBlue}

	t.Run("Node broadcast reaches Go clients", func(t *testing.T) {
		emit(t, nodeRed, "node-broadcast", nil, "hi")
		for _, c := range all {
			c.Expect(t, `42["from-node","hi"]`)
		}
		emit(t, nodeRed, "node-broadcast", "red", "r")
		nodeRed.Expect(t, `42["from-node","r"]`)
		goRed.Expect(t, `42["from-node","r"]`)
		goBlue.ExpectNothing(t)
		nodeBlue.ExpectNothing(t)
		emit(t, nodeRed, "node-binary", "blue")
		goBlue.Expect(t, `451-["node-bin",{"_placeholder":true,"num":0}]`)
		nodeBlue.Expect(t, `451-["node-bin",{"_placeholder":true,"num":0}]`)
	})

	t.Run("Go broadcast reaches Node clients", func(t *testing.T) {
		if err := nsp.Emit("from-go", 1, map[string]any{"k": "v"}); err != nil {
			t.Fatal(err)
		}
		for _, c := range all {
			c.Expect(t, `42["from-go",1,{"k":"v"}]`)
		}
		if err := nsp.To("blue").Emit("bin", []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		nodeBlue.Expect(t, `451-["bin",{"_placeholder":true,"num":0}]`)
		goBlue.Expect(t, `451-["bin",{"_placeholder":true,"num":0}]`)
		if err := nsp.Except("blue").Emit("not-blue"); err != nil {
			t.Fatal(err)
		}
		nodeRed.Expect(t, `42["not-blue"]`)
		goRed.Expect(t, `42["not-blue"]`)
		nodeBlue.ExpectNothing(t)
	})

	t.Run("a client's binary relayed by a handler crosses both ways", func(t *testing.T) {
		const wire = `452-["room-msg",{"f":{"_placeholder":true,"num":0},"n":1},{"_placeholder":true,"num":1}]`
		for _, from := range []*sioclient.Client{goRed, nodeRed} {
			if err := from.Emit("to-room", "blue", map[string]any{"f": []byte{1, 2}, "n": 1}, []byte{0xff}); err != nil {
				t.Fatal(err)
			}
			for _, to := range []*sioclient.Client{goBlue, nodeBlue} {
				ctx, cancel := context.WithTimeout(ctx, guard)
				ev, err := to.Next(ctx)
				cancel()
				if err != nil || ev.Wire != wire || len(ev.Attachments) != 2 ||
					string(ev.Attachments[0]) != "\x01\x02" || string(ev.Attachments[1]) != "\xff" {
					t.Fatalf("received %q %q (%v), want %s", ev.Wire, ev.Attachments, err, wire)
				}
			}
		}
	})

	ids := []string{nodeRed.ID, nodeBlue.ID, goRed.ID, goBlue.ID}
	sort.Strings(ids)
	t.Run("fetchSockets from both sides", func(t *testing.T) {
		sockets, err := nsp.FetchSockets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range sockets {
			got = append(got, s.ID)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Fatalf("Go fetchSockets = %v, want %v", got, ids)
		}
		emit(t, nodeRed, "node-fetch")
		nodeRed.Expect(t, `42["fetched",["`+strings.Join(ids, `","`)+`"]]`)
	})

	t.Run("serverSideEmit with ack both ways", func(t *testing.T) {
		answers, err := nsp.ServerSideEmitWithAck(ctx, "ping-node", 3)
		if err != nil || len(answers) != 1 || string(answers[0]) != `"pong from node 3"` {
			t.Fatalf("Go → Node: %s, %v", answers, err)
		}
		emit(t, nodeRed, "node-ssa", 4)
		nodeRed.Expect(t, `42["ssa",["pong from go 4"]]`)
	})

	t.Run("broadcast with acks across servers", func(t *testing.T) {
		ackCtx, cancel := context.WithTimeout(ctx, guard)
		defer cancel()
		acks, err := nsp.Timeout(guard).EmitWithAck(ackCtx, "ask")
		if err != nil || len(acks) != 4 {
			t.Fatalf("Go emitWithAck: %d answers, %v", len(acks), err)
		}
		emit(t, nodeRed, "node-ack-broadcast")
		nodeRed.Expect(t, `42["acks",4]`)
	})

	t.Run("socketsJoin from Node moves Go sockets", func(t *testing.T) {
		emit(t, nodeRed, "node-join", "blue", "purple")
		waitfor.True(t, "the Go socket to join purple", func() bool {
			return nsp.Adapter().(interface{ HasRoom(string) bool }).HasRoom("purple")
		})
		if mode == "sharded" {
			// A room's own channel is subscribed asynchronously by both servers (as Node does): a broadcast
			// published before Node's SSUBSCRIBE reaches no Node socket.
			rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
			defer func() { _ = rdb.Close() }()
			waitfor.True(t, "both servers subscribed to purple's channel", func() bool {
				ch := "socket.io#/#purple#"
				n, err := rdb.PubSubShardNumSub(ctx, ch).Result()
				return err == nil && n[ch] == 2
			})
		}
		if err := nsp.To("purple").Emit("purple"); err != nil {
			t.Fatal(err)
		}
		goBlue.Expect(t, `42["purple"]`)
		nodeBlue.Expect(t, `42["purple"]`)
	})

	// @socket.io/redis-emitter speaks the classic protocol only.
	emitterTest := func(t *testing.T) {
		emitter(t, redisURL, "red", "from-emitter", "x")
		goRed.Expect(t, `42["from-emitter","x"]`)
		nodeRed.Expect(t, `42["from-emitter","x"]`)
		emitter(t, redisURL, "blue", "emitter-bin", "binary")
		goBlue.Expect(t, `451-["emitter-bin",{"_placeholder":true,"num":0}]`)
		goRed.ExpectNothing(t)
	}
	if mode == "classic" {
		t.Run("redis-emitter reaches Go clients", emitterTest)
	}

	t.Run("disconnectSockets from Go reaches Node sockets", func(t *testing.T) {
		if err := nsp.In("red").DisconnectSockets(false); err != nil {
			t.Fatal(err)
		}
		nodeRed.Expect(t, "disconnected")
		goRed.Expect(t, "disconnected")
	})
}
