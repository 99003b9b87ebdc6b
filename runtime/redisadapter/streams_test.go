package redisadapter

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

var recovery = socketio.Options{Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: time.Minute, SkipMiddlewares: true}}

// recoveryNode is a streams node with recovery whose new sockets get data.
func recoveryNode(t *testing.T, redisAddr string) *node {
	return startNodeWith(t, "streams", redisAddr, recovery, func(srv *socketio.Server) {
		srv.Of("/").OnConnection(func(s *socketio.Socket) {
			if !s.Recovered() {
				s.SetData(map[string]any{"n": 1})
			}
		})
	})
}

var streamID = regexp.MustCompile(`^[0-9]+-[0-9]+$`)

// offsetOf returns the recovery offset (last argument) of an event.
func offsetOf(t *testing.T, ev sioclient.Event) string {
	t.Helper()
	var offset string
	if len(ev.Args) == 0 || json.Unmarshal(ev.Args[len(ev.Args)-1], &offset) != nil || !streamID.MatchString(offset) {
		t.Fatalf("event %s has no stream offset", ev.Wire)
	}
	return offset
}

func next(t *testing.T, c *sioclient.Client) sioclient.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	ev, err := c.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestRecoveryAcrossServers: a client of server A loses its transport,
// broadcasts happen meanwhile, and it reconnects to server B with its pid
// and last offset: it gets its socket id, rooms and data back and each
// missed broadcast once.
func TestRecoveryAcrossServers(t *testing.T) {
	r := redisserver.Start(t, "")
	a := recoveryNode(t, r.Addr)
	b := recoveryNode(t, r.Addr)
	ctx := context.Background()
	waitfor.True(t, "both servers subscribed", func() bool {
		n, err := a.srv.Of("/").Adapter().ServerCount(ctx)
		return err == nil && n == 2
	})
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()

	c1, err := sioclient.ConnectContext(ctx, a.http.URL, sioclient.Options{Query: "room=red"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c1.PID) != 20 {
		t.Fatalf("pid %q", c1.PID)
	}
	observer := sioclient.Connect(t, b.http.URL, "room=red")

	// The offset is the stream entry id: the same on both servers.
	if err := a.srv.Of("/").To("red").Emit("news", 1); err != nil {
		t.Fatal(err)
	}
	offset := offsetOf(t, next(t, c1))
	if ev := next(t, observer); ev.Wire != `42["news",1,"`+offset+`"]` {
		t.Fatalf("the other server delivered %s, want offset %s", ev.Wire, offset)
	}

	c1.Close() // transport close: a recoverable reason
	waitfor.True(t, "session persisted", func() bool {
		n, err := rdb.Exists(ctx, "sio:session:"+c1.PID).Result()
		return err == nil && n == 1
	})
	if ttl := rdb.PTTL(ctx, "sio:session:"+c1.PID).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("session TTL %v, want up to MaxDisconnectionDuration", ttl)
	}

	// Missed while away: two for red (from each server), two it must not
	// get.
	if err := b.srv.Of("/").To("red").Emit("missed", "x"); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Of("/").To("blue").Emit("not-red"); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.Of("/").Except("red").Emit("except-red"); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.Of("/").Emit("all", 2); err != nil {
		t.Fatal(err)
	}
	missed := offsetOf(t, next(t, observer))
	all := offsetOf(t, next(t, observer))

	c2, err := sioclient.ConnectContext(ctx, b.http.URL, sioclient.Options{Auth: map[string]string{"pid": c1.PID, "offset": offset}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.ID != c1.ID || c2.PID != c1.PID {
		t.Fatalf("reconnected as %s (pid %s), want %s (pid %s): not recovered", c2.ID, c2.PID, c1.ID, c1.PID)
	}
	c2.Expect(t, `42["missed","x","`+missed+`"]`)
	c2.Expect(t, `42["all",2,"`+all+`"]`)
	c2.ExpectNothing(t)

	s := b.srv.Of("/").Socket(c2.ID)
	if s == nil || !s.Recovered() {
		t.Fatal("no recovered socket on B")
	}
	if rooms := b.srv.Of("/").Adapter().SocketRooms(c2.ID); !slices.Contains(rooms, "red") || !slices.Contains(rooms, c2.ID) {
		t.Fatalf("rooms %v", rooms)
	}
	if data, _ := json.Marshal(s.Data()); string(data) != `{"n":1}` {
		t.Fatalf("data %s", data)
	}
	// Its rooms work cluster-wide.
	if err := a.srv.Of("/").To("red").Emit("again"); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, c2); ev.Name != "again" {
		t.Fatalf("got %s", ev.Wire)
	}

	// The session was taken: the same pid does not recover twice.
	c3, err := sioclient.ConnectContext(ctx, a.http.URL, sioclient.Options{Auth: map[string]string{"pid": c1.PID, "offset": offset}})
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if c3.ID == c1.ID || c3.PID == c1.PID {
		t.Fatal("a session recovered twice")
	}
}

// TestRestoreSessionRefuses: what RestoreSession answers nothing to.
func TestRestoreSessionRefuses(t *testing.T) {
	r := redisserver.Start(t, "")
	n := recoveryNode(t, r.Addr)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	ctx := context.Background()
	ad := n.srv.Of("/").Adapter()
	save := func(pid string) {
		t.Helper()
		if err := ad.PersistSession(ctx, &socketio.SessionState{ID: "sid-" + pid, PID: pid, Rooms: []string{"sid-" + pid}}); err != nil {
			t.Fatal(err)
		}
	}
	id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "socket.io", Values: []any{"uid", "x", "nsp", "/other", "type", "3"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pid, offset string
		persisted         bool
	}{
		{"offset not a stream id", "p1", "abc", true},
		{"offset trimmed from the stream", "p2", "1-0", true},
		{"unknown session", "p3", id, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.persisted {
				save(tt.pid)
			}
			s, missed, err := ad.RestoreSession(ctx, tt.pid, tt.offset)
			if s != nil || missed != nil || err != nil {
				t.Fatalf("restored %+v, %d packets, %v", s, len(missed), err)
			}
		})
	}
	// The control: a valid offset restores, and the session is gone after.
	save("p4")
	s, missed, err := ad.RestoreSession(ctx, "p4", id)
	if err != nil || s == nil || s.ID != "sid-p4" || len(missed) != 0 {
		t.Fatalf("restored %+v, %d packets, %v", s, len(missed), err)
	}
	if n, _ := rdb.Exists(ctx, "sio:session:p4").Result(); n != 0 {
		t.Fatal("session kept after restore")
	}
	// A value no server wrote is counted and dropped.
	before := n.cluster.DecodeErrors()
	if err := rdb.Set(ctx, "sio:session:p5", "!!", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if s, _, err := ad.RestoreSession(ctx, "p5", id); s != nil || err == nil || n.cluster.DecodeErrors() != before+1 {
		t.Fatalf("bad session restored %+v (%v), decode errors %d", s, err, n.cluster.DecodeErrors())
	}
}

// TestReplayedPacketsAreNotDeliveredAgain: a reader behind the restore must
// not deliver a replayed entry to the restored socket a second time.
func TestReplayedPacketsAreNotDeliveredAgain(t *testing.T) {
	r := redisserver.Start(t, "")
	n := recoveryNode(t, r.Addr)
	ad := n.srv.Of("/").Adapter().(*StreamsAdapter)
	ad.markReplayed("s1", "100-5")
	ad.markReplayed("s2", "100-7")
	tests := []struct {
		offset string
		want   []string
	}{
		{"100-4", []string{"s1", "s2"}},
		{"100-5", []string{"s1", "s2"}},
		{"100-6", []string{"s2"}},       // s1 passed ...
		{"100-5", []string{"s1", "s2"}}, // ... but an older entry may still come (the local delivery)
		{"101-0", nil},
		{"10101-0", nil}, // over markLinger later: both forgotten
		{"100-1", nil},
	}
	for _, tt := range tests {
		got := ad.replayedTo(tt.offset)
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Fatalf("replayedTo(%s) = %v, want %v", tt.offset, got, tt.want)
		}
	}
}

// restoreHook is a StreamsAdapter that runs after once a session was
// restored, before the socket joins its rooms, and afterCatchUp once the
// catch-up was read, before the replay is sent.
type restoreHook struct {
	*StreamsAdapter
	after, afterCatchUp func()
}

func (h *restoreHook) CatchUp(ctx context.Context, sid, offset string, rooms []string) ([]*parser.Packet, error) {
	pkts, err := h.StreamsAdapter.CatchUp(ctx, sid, offset, rooms)
	if h.afterCatchUp != nil {
		h.afterCatchUp()
		h.afterCatchUp = nil
	}
	return pkts, err
}

func (h *restoreHook) RestoreSession(ctx context.Context, pid, offset string) (*socketio.SessionState, []*parser.Packet, error) {
	st, pkts, err := h.StreamsAdapter.RestoreSession(ctx, pid, offset)
	if st != nil && h.after != nil {
		h.after()
		h.after = nil
	}
	return st, pkts, err
}

// restoreSetup is two servers on one Redis with recovery: a (recoveryNode)
// and b, whose streams adapter is behind a restoreHook; a client c1 was in
// room red on a, received tick 1 (at offset) and left; observer is in red
// on b and received tick 1 too.
type restoreSetup struct {
	a        *node
	b        *socketio.Server
	bURL     string
	hook     *restoreHook
	rdb      *redis.Client // b's
	c1       *sioclient.Client
	observer *sioclient.Client
	offset   string
}

// newRestoreSetup builds a restoreSetup; wrap, when set, wraps b's adapter
// (as the runtime's metrics do).
func newRestoreSetup(t *testing.T, wrap func(socketio.Adapter) socketio.Adapter) *restoreSetup {
	t.Helper()
	r := redisserver.Start(t, "")
	st := &restoreSetup{a: recoveryNode(t, r.Addr)}
	ctx := context.Background()

	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: 1, DialTimeout: time.Second})
	st.rdb = rdb
	cluster := NewStreams(rdb, StreamsOptions{RequestsTimeout: 2 * time.Second})
	opts := recovery
	opts.Adapter = func(nsp *socketio.Namespace) socketio.Adapter {
		st.hook = &restoreHook{StreamsAdapter: cluster.Adapter(nsp).(*StreamsAdapter)}
		if wrap != nil {
			return wrap(st.hook)
		}
		return st.hook
	}
	st.b = socketio.NewServer(opts)
	st.b.Of("/").OnConnection(func(s *socketio.Socket) {
		if room := s.Handshake().Query.Get("room"); room != "" && !s.Recovered() {
			s.Join(room)
		}
	})
	bhttp := httptest.NewServer(st.b)
	st.bURL = bhttp.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		_ = st.b.Close(ctx)
		bhttp.Close()
		_ = cluster.Close()
		_ = rdb.Close()
	})
	waitfor.True(t, "both servers subscribed", func() bool {
		n, err := st.a.srv.Of("/").Adapter().ServerCount(ctx)
		return err == nil && n == 2
	})

	var err error
	st.c1, err = sioclient.ConnectContext(ctx, st.a.http.URL, sioclient.Options{Query: "room=red"})
	if err != nil {
		t.Fatal(err)
	}
	st.observer = sioclient.Connect(t, bhttp.URL, "room=red")
	if err := st.a.srv.Of("/").To("red").Emit("tick", 1); err != nil {
		t.Fatal(err)
	}
	st.offset = offsetOf(t, next(t, st.c1))
	next(t, st.observer)
	st.c1.Close()
	waitfor.True(t, "session persisted", func() bool {
		n, err := rdb.Exists(ctx, "sio:session:"+st.c1.PID).Result()
		return err == nil && n == 1
	})
	return st
}

// reconnect connects c1 again, to b, with its pid and offset, and fails
// unless it was recovered.
func (st *restoreSetup) reconnect(t *testing.T) *sioclient.Client {
	t.Helper()
	c2, err := sioclient.ConnectContext(context.Background(), st.bURL,
		sioclient.Options{Auth: map[string]string{"pid": st.c1.PID, "offset": st.offset}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c2.Close)
	if c2.ID != st.c1.ID {
		t.Fatal("not recovered")
	}
	return c2
}

// TestBroadcastsDuringRestoreAreDeliveredOnce: broadcasts added to the
// stream after RestoreSession read it, but delivered to the room before the
// restored socket joined it (by the stream reader, from another server, and
// by the restoring server itself), reach the restored socket once each, in
// order. The fleet test saw recovered clients miss such a tick (the
// namespace read the missed packets, then joined the rooms).
func TestBroadcastsDuringRestoreAreDeliveredOnce(t *testing.T) {
	st := newRestoreSetup(t, nil)
	a, bsrv, hook, observer := st.a, st.b, st.hook, st.observer
	if err := a.srv.Of("/").To("red").Emit("tick", 2); err != nil { // missed while away: replayed
		t.Fatal(err)
	}
	tick2 := offsetOf(t, next(t, observer))

	// Between the restore's read and the join: tick 3 from A, delivered on
	// B by its stream reader, and tick 4 from B itself.
	var tick3, tick4 string
	hook.after = func() {
		if err := a.srv.Of("/").To("red").Emit("tick", 3); err != nil {
			t.Error(err)
		}
		tick3 = offsetOf(t, next(t, observer))
		if err := bsrv.Of("/").To("red").Emit("tick", 4); err != nil {
			t.Error(err)
		}
		tick4 = offsetOf(t, next(t, observer))
	}
	// After the catch-up read, before the replay is sent: tick 5 (held,
	// then sent after the replay).
	var tick5 string
	hook.afterCatchUp = func() {
		if err := a.srv.Of("/").To("red").Emit("tick", 5); err != nil {
			t.Error(err)
		}
		tick5 = offsetOf(t, next(t, observer))
	}
	c2 := st.reconnect(t)
	c2.Expect(t, `42["tick",2,"`+tick2+`"]`)
	c2.Expect(t, `42["tick",3,"`+tick3+`"]`)
	c2.Expect(t, `42["tick",4,"`+tick4+`"]`)
	c2.Expect(t, `42["tick",5,"`+tick5+`"]`)
	// Live again, once each.
	if err := a.srv.Of("/").To("red").Emit("tick", 6); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, c2); ev.Name != "tick" || string(ev.Args[0]) != "6" {
		t.Fatalf("got %s, want tick 6", ev.Wire)
	}
	c2.ExpectNothing(t)
}

// TestRestoreBetweenAddAndLocalDeliveryGetsEntryOnce: a broadcast of B is
// added to the stream, then a whole restore of c1 on B reads it (replayed)
// before B delivers it to its own sockets: the restored socket, by then in
// the room, gets it once. The fleet test saw such a tick twice when the
// restore fell between the local delivery's check of the replay marks and
// its choice of targets (they are now one step under replayMu).
func TestRestoreBetweenAddAndLocalDeliveryGetsEntryOnce(t *testing.T) {
	st := newRestoreSetup(t, nil)
	var c2 *sioclient.Client
	st.rdb.AddHook(afterCommand{name: "xadd", run: func() { c2 = st.reconnect(t) }, once: new(sync.Once)})
	if err := st.b.Of("/").To("red").Emit("tick", 2); err != nil {
		t.Fatal(err)
	}
	tick2 := offsetOf(t, next(t, st.observer))
	c2.Expect(t, `42["tick",2,"`+tick2+`"]`)
	if err := st.b.Of("/").To("red").Emit("tick", 3); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, c2); ev.Name != "tick" || string(ev.Args[0]) != "3" {
		t.Fatalf("got %s, want tick 3", ev.Wire)
	}
	c2.ExpectNothing(t)
}

// afterCommand is a go-redis hook that runs run once, after the first
// command called name succeeded.
type afterCommand struct {
	name string
	run  func()
	once *sync.Once
}

func (h afterCommand) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h afterCommand) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h afterCommand) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil && cmd.Name() == h.name {
			h.once.Do(h.run)
		}
		return err
	}
}
