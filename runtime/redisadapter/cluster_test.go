package redisadapter

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// guard bounds every wait; it is a failure guard, not a speed assertion.
const guard = 10 * time.Second

// variants are the three protocols; every cluster test runs on each.
var variants = []string{"classic", "sharded", "streams"}

// linked is what the tests use of a Cluster or ShardedCluster.
type linked interface {
	Adapter(*socketio.Namespace) socketio.Adapter
	Ping(context.Context) error
	DecodeErrors() uint64
	Outbox() OutboxStats
	Close() error
}

// node is one Socket.IO server of the cluster.
type node struct {
	srv     *socketio.Server
	http    *httptest.Server
	cluster linked
}

func startNode(t *testing.T, variant, redisAddr string, setup func(*socketio.Server)) *node {
	t.Helper()
	return startNodeWith(t, variant, redisAddr, socketio.Options{}, setup)
}

// startNodeWith starts a node with server options (the adapter is set
// here).
func startNodeWith(t *testing.T, variant, redisAddr string, opts socketio.Options, setup func(*socketio.Server)) *node {
	t.Helper()
	return startNodeOn(t, variant, redis.NewClient(&redis.Options{Addr: redisAddr, MaxRetries: 1, DialTimeout: time.Second}), opts, setup)
}

// startNodeOn starts a node on a client of its own, which it closes.
func startNodeOn(t *testing.T, variant string, rdb redis.UniversalClient, opts socketio.Options, setup func(*socketio.Server)) *node {
	t.Helper()
	var c linked
	switch variant {
	case "classic":
		c = New(rdb, Options{RequestsTimeout: 2 * time.Second})
	case "sharded":
		c = NewSharded(rdb, ShardedOptions{RequestsTimeout: 2 * time.Second})
	case "streams":
		c = NewStreams(rdb, StreamsOptions{RequestsTimeout: 2 * time.Second})
	default:
		t.Fatalf("variant %q", variant)
	}
	opts.Adapter = c.Adapter
	srv := socketio.NewServer(opts)
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

func TestTwoServersShareBroadcastsAndRooms(t *testing.T) {
	for _, v := range variants {
		t.Run(v, func(t *testing.T) { testTwoServers(t, v) })
	}
}

func testTwoServers(t *testing.T, variant string) {
	r := redisserver.Start(t, "")
	a := startNode(t, variant, r.Addr, nil)
	b := startNode(t, variant, r.Addr, func(srv *socketio.Server) {
		srv.Of("/").OnServerSideEmit("hello-servers", func(ctx context.Context, ev *socketio.Event) {
			var n int
			_ = ev.Bind(&n)
			_ = ev.Ack(fmt.Sprintf("b got %d", n))
		})
	})
	ctx := context.Background()
	waitfor.True(t, "both servers subscribed", func() bool {
		n, err := a.srv.Of("/").Adapter().ServerCount(ctx)
		return err == nil && n == 2
	})
	onA := sioclient.Connect(t, a.http.URL, "room=red")
	onB := sioclient.Connect(t, b.http.URL, "room=blue")
	onB2 := sioclient.Connect(t, b.http.URL, "room=red")

	// Broadcast to everyone, from A.
	if err := a.srv.Of("/").Emit("news", "all", 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*sioclient.Client{onA, onB, onB2} {
		c.Expect(t, `42["news","all",1]`)
	}
	// A room, from B; binary crosses servers as an attachment.
	if err := b.srv.Of("/").To("red").Emit("bin", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	onA.Expect(t, `451-["bin",{"_placeholder":true,"num":0}]`)
	onB2.Expect(t, `451-["bin",{"_placeholder":true,"num":0}]`)
	onB.ExpectNothing(t)
	// Except.
	if err := a.srv.Of("/").Except("red").Emit("not-red"); err != nil {
		t.Fatal(err)
	}
	onB.Expect(t, `42["not-red"]`)
	onA.ExpectNothing(t)
	onB2.ExpectNothing(t)

	// socketsJoin from A moves B's sockets too.
	if err := a.srv.Of("/").In("blue").SocketsJoin("green"); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, "remote join", func() bool {
		return b.srv.Of("/").Adapter().(interface{ HasRoom(string) bool }).HasRoom("green")
	})
	if variant == "sharded" { // the room's own channel is subscribed asynchronously, as in Node
		rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
		defer rdb.Close()
		waitfor.True(t, "room channel subscribed", func() bool {
			n, err := rdb.PubSubShardNumSub(ctx, "socket.io#/#green#").Result()
			return err == nil && n["socket.io#/#green#"] == 1
		})
	}
	if err := a.srv.Of("/").To("green").Emit("green"); err != nil {
		t.Fatal(err)
	}
	onB.Expect(t, `42["green"]`)

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
	want := []string{onA.ID, onB.ID, onB2.ID}
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
	onA.Expect(t, "disconnected")
	onB2.Expect(t, "disconnected")
}

// twoLinkedNodes starts a redis-server and two nodes of variant on it, waits
// until both are subscribed, and connects a client to each.
func twoLinkedNodes(t *testing.T, variant string) (r *redisserver.Server, a, b *node, onA, onB *sioclient.Client) {
	t.Helper()
	r = redisserver.Start(t, "")
	a = startNode(t, variant, r.Addr, nil)
	b = startNode(t, variant, r.Addr, nil)
	waitfor.True(t, "both servers subscribed", func() bool {
		n, err := a.srv.Of("/").Adapter().ServerCount(context.Background())
		return err == nil && n == 2
	})
	return r, a, b, sioclient.Connect(t, a.http.URL, ""), sioclient.Connect(t, b.http.URL, "")
}

func TestRedisOutage(t *testing.T) {
	for _, v := range variants {
		t.Run(v, func(t *testing.T) { testRedisOutage(t, v) })
	}
}

func testRedisOutage(t *testing.T, variant string) {
	r, a, _, onA, onB := twoLinkedNodes(t, variant)
	ctx := context.Background()

	r.Stop()
	if a.cluster.Ping(ctx) == nil {
		t.Fatal("Ping succeeds with Redis down")
	}
	// Local clients are still served; the other server's get the broadcast
	// once Redis is back (the outbox, see TestBroadcastsWaitForRedis).
	if err := a.srv.Of("/").Emit("late"); err != nil {
		t.Fatal(err)
	}
	onA.Expect(t, `42["late"]`)
	// An acknowledged broadcast reaches the local clients and says it is
	// partial.
	acks, err := a.srv.Of("/").Timeout(guard).EmitWithAck(ctx, "ask-local")
	if !errors.Is(err, socketio.ErrPartialBroadcast) || len(acks) != 1 || !strings.Contains(string(acks[0]), onA.ID) {
		t.Fatalf("emitWithAck with Redis down = %s, %v; want the local client's answer and ErrPartialBroadcast", acks, err)
	}

	// Redis comes back on the same port: delivery across servers resumes
	// once the subscription is re-established (go-redis reconnects it).
	redisserver.Start(t, r.Port())
	waitfor.True(t, "subscriptions restored", func() bool {
		n, err := a.srv.Of("/").Adapter().ServerCount(ctx)
		return err == nil && n == 2 && a.cluster.Ping(ctx) == nil
	})
	if err := a.srv.Of("/").Emit("back"); err != nil {
		t.Fatal(err)
	}
	onA.Expect(t, `42["back"]`)
	onB.Expect(t, `42["late"]`)
	onB.Expect(t, `42["back"]`)
}

// TestUndecodableMessagesAreCountedAndDropped publishes messages no server
// sends on the namespace channels of each variant: they are counted, and a
// broadcast after them still arrives.
func TestUndecodableMessagesAreCountedAndDropped(t *testing.T) {
	for _, v := range variants {
		t.Run(v, func(t *testing.T) {
			r := redisserver.Start(t, "")
			a := startNode(t, v, r.Addr, nil)
			b := startNode(t, v, r.Addr, nil)
			ctx := context.Background()
			waitfor.True(t, "both servers subscribed", func() bool {
				n, err := a.srv.Of("/").Adapter().ServerCount(ctx)
				return err == nil && n == 2
			})
			onB := sioclient.Connect(t, b.http.URL, "")
			rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
			defer rdb.Close()
			bad := []string{issue11Message, `{"type":`, `{"uid":"x","type":4}`, "\x93\x01\x02\x03"}
			publish := rdb.Publish
			channels := []string{"socket.io#/#", "socket.io-request#/#", "socket.io-response#/#"}
			// On the response channel, a JSON object is a response to a
			// request that is not ours: ignored, not malformed.
			want := uint64(len(channels)*len(bad) - 1)
			switch v {
			case "sharded":
				publish, channels, want = rdb.SPublish, []string{"socket.io#/#"}, uint64(len(bad))
			case "streams":
				// Pub/Sub carries the ephemeral messages; the stream gets
				// entries no server writes, plus one without nsp that
				// readers skip (not counted) as Node's do.
				channels, want = []string{"socket.io#/#"}, uint64(len(bad)+len(badEntries))
				for _, e := range append(badEntries, map[string]any{"uid": "x", "type": "3"}) {
					if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "socket.io", Values: e}).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, ch := range channels {
				for _, m := range bad {
					if err := publish(ctx, ch, m).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := a.srv.Of("/").Emit("after"); err != nil {
				t.Fatal(err)
			}
			onB.Expect(t, `42["after"]`)
			waitfor.True(t, "every bad message counted", func() bool {
				return b.cluster.DecodeErrors() == want
			})
		})
	}
}

// badEntries are stream entries of namespace "/" that cannot be decoded.
var badEntries = []map[string]any{
	{"uid": "x", "nsp": "/", "type": "3", "data": "not base64!"},
	{"uid": "x", "nsp": "/", "type": "three", "data": `{"packet":{"type":2,"data":["a"]},"opts":{"rooms":[],"except":[]}}`},
	{"uid": "x", "nsp": "/", "type": "3", "data": `{"packet":`},
	{"uid": "x", "nsp": "/", "type": "3", "data": base64.StdEncoding.EncodeToString([]byte(issue11Message))},
	{"uid": "x", "nsp": "/", "type": "4", "data": `{"rooms":["a"]}`},
}

// TestBroadcastWhileRedisStalls: a Redis that stops answering (SIGSTOP, its
// connections open) holds a broadcast at most broadcastPublishWait, not the
// client's read timeout on every retry: the emit returns, the local client
// has it, and the other server's client gets it once Redis answers again.
func TestBroadcastWhileRedisStalls(t *testing.T) {
	for _, v := range variants {
		t.Run(v, func(t *testing.T) {
			r := redisserver.Start(t, "")
			client := func() redis.UniversalClient {
				return redis.NewClient(&redis.Options{Addr: r.Addr, ContextTimeoutEnabled: true, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
			}
			a := startNodeOn(t, v, client(), socketio.Options{}, nil)
			b := startNodeOn(t, v, client(), socketio.Options{}, nil)
			waitfor.True(t, "both servers subscribed", func() bool {
				n, err := a.srv.Of("/").Adapter().ServerCount(context.Background())
				return err == nil && n == 2
			})
			onA, onB := sioclient.Connect(t, a.http.URL, ""), sioclient.Connect(t, b.http.URL, "")
			if err := r.Pause(); err != nil {
				t.Fatal(err)
			}
			resumed := false
			t.Cleanup(func() {
				if !resumed {
					_ = r.Resume()
				}
			})
			emitted := make(chan error, 1)
			go func() { emitted <- a.srv.Of("/").Emit("stalled") }()
			select {
			case err := <-emitted:
				if err != nil {
					t.Fatalf("Emit: %v", err)
				}
			case <-time.After(guard):
				t.Fatal("the broadcast waited for the stalled Redis")
			}
			onA.Expect(t, `42["stalled"]`)
			if err := r.Resume(); err != nil {
				t.Fatal(err)
			}
			resumed = true
			onB.Expect(t, `42["stalled"]`)
		})
	}
}
