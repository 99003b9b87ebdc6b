package socketio

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/socketfleet/socketfleet/runtime/parser"
)

func newTestRooms(hooks MemoryAdapterOptions) *MemoryAdapter {
	return &MemoryAdapter{
		hooks: hooks,
		rooms: make(map[string]map[string]struct{}),
		sids:  make(map[string]socketRooms),
	}
}

func selected(a *MemoryAdapter, opts BroadcastOptions) []string {
	var out []string
	a.mu.RLock()
	a.forEachIDLocked(opts, func(id string) { out = append(out, id) })
	a.mu.RUnlock()
	sort.Strings(out)
	return out
}

func TestRoomMembership(t *testing.T) {
	var events []string
	var mu sync.Mutex
	log := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	a := newTestRooms(MemoryAdapterOptions{
		OnCreateRoom: func(r string) { log("create " + r) },
		OnDeleteRoom: func(r string) { log("delete " + r) },
		OnJoinRoom:   func(r, id string) { log("join " + r + " " + id) },
		OnLeaveRoom:  func(r, id string) { log("leave " + r + " " + id) },
	})
	a.AddAll("s1", []string{"s1", "r"})
	a.AddAll("s2", []string{"s2", "r"})
	a.AddAll("s1", []string{"r"}) // no-op
	if got := a.SocketRooms("s1"); !slices.Equal(got, []string{"r", "s1"}) {
		t.Fatalf("rooms of s1 = %v", got)
	}
	a.Del("s1", "r")
	a.Del("s1", "unknown")
	a.DelAll("s2")
	a.DelAll("nobody")
	if got := a.SocketRooms("s2"); got != nil {
		t.Fatalf("rooms of removed socket = %v", got)
	}
	if got := a.Rooms(); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("rooms = %v", got)
	}
	want := []string{
		"create s1", "join s1 s1", "create r", "join r s1",
		"create s2", "join s2 s2", "join r s2",
		"leave r s1",
	}
	// DelAll iterates a map: check the tail as a set.
	tail := []string{"leave s2 s2", "delete s2", "leave r s2", "delete r"}
	if len(events) != len(want)+len(tail) || !slices.Equal(events[:len(want)], want) {
		t.Fatalf("events = %v", events)
	}
	for _, e := range tail {
		if !slices.Contains(events[len(want):], e) {
			t.Fatalf("missing %q in %v", e, events)
		}
	}
}

// TestOwnRoomJoinedByOthers: a socket's own room is implicit in the adapter;
// another socket may still join a room of that name, and the room lives as
// long as either is in it, with the hooks of one room.
func TestOwnRoomJoinedByOthers(t *testing.T) {
	var events []string
	a := newTestRooms(MemoryAdapterOptions{
		OnCreateRoom: func(r string) { events = append(events, "create "+r) },
		OnDeleteRoom: func(r string) { events = append(events, "delete "+r) },
	})
	steps := []struct {
		do        func()
		members   []string
		hasRoom   bool
		wantEvent []string
	}{
		{func() { a.AddAll("s1", []string{"s1"}) }, []string{"s1"}, true, []string{"create s1"}},
		{func() { a.AddAll("s2", []string{"s2", "s1"}) }, []string{"s1", "s2"}, true, []string{"create s2"}},
		{func() { a.Del("s1", "s1") }, []string{"s2"}, true, nil},
		{func() { a.AddAll("s1", []string{"s1"}) }, []string{"s1", "s2"}, true, nil},
		{func() { a.DelAll("s2") }, []string{"s1"}, true, []string{"delete s2"}},
		{func() { a.DelAll("s1") }, nil, false, []string{"delete s1"}},
	}
	for i, st := range steps {
		events = nil
		st.do()
		if got := selected(a, BroadcastOptions{Rooms: []string{"s1"}}); !slices.Equal(got, st.members) {
			t.Fatalf("step %d: members of s1 = %v, want %v", i, got, st.members)
		}
		if a.HasRoom("s1") != st.hasRoom || slices.Contains(a.Rooms(), "s1") != st.hasRoom {
			t.Fatalf("step %d: room s1 listed %v / %v, want %v", i, a.HasRoom("s1"), a.Rooms(), st.hasRoom)
		}
		if !slices.Equal(events, st.wantEvent) {
			t.Fatalf("step %d: events %v, want %v", i, events, st.wantEvent)
		}
	}
}

func TestTargetSelection(t *testing.T) {
	a := newTestRooms(MemoryAdapterOptions{})
	a.AddAll("a", []string{"a", "r1", "r2"})
	a.AddAll("b", []string{"b", "r1"})
	a.AddAll("c", []string{"c", "r2", "r3"})
	a.AddAll("d", []string{"d"})
	tests := []struct {
		name string
		opts BroadcastOptions
		want []string
	}{
		{"all", BroadcastOptions{}, []string{"a", "b", "c", "d"}},
		{"one room", BroadcastOptions{Rooms: []string{"r1"}}, []string{"a", "b"}},
		{"union dedupes", BroadcastOptions{Rooms: []string{"r1", "r2"}}, []string{"a", "b", "c"}},
		{"except socket", BroadcastOptions{Except: []string{"a"}}, []string{"b", "c", "d"}},
		{"except rooms", BroadcastOptions{Rooms: []string{"r1", "r2"}, Except: []string{"r3", "b"}}, []string{"a"}},
		{"unknown room", BroadcastOptions{Rooms: []string{"nope"}}, nil},
		{"socket id room", BroadcastOptions{Rooms: []string{"d"}}, []string{"d"}},
		{"except unknown", BroadcastOptions{Rooms: []string{"r3"}, Except: []string{"x", "y"}}, []string{"c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := selected(a, tt.opts); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := a.Sockets([]string{"r2"}); len(got) != 2 {
		t.Fatalf("Sockets(r2) = %v", got)
	}
}

func TestAckCollector(t *testing.T) {
	tests := []struct {
		name string
		run  func(c *ackCollector)
		done bool
		n    int
	}{
		{"no servers yet", func(c *ackCollector) { c.clientCount(0) }, false, 0},
		{"zero clients one server", func(c *ackCollector) { c.clientCount(0); c.setServers(1) }, true, 0},
		{"waits for answers", func(c *ackCollector) { c.clientCount(2); c.setServers(1); c.ack(nil) }, false, 1},
		{"all answered", func(c *ackCollector) {
			c.clientCount(2)
			c.ack(json.RawMessage(`1`))
			c.setServers(1)
			c.ack(json.RawMessage(`2`))
		}, true, 2},
		{"waits for second server", func(c *ackCollector) { c.setServers(2); c.clientCount(1); c.ack(nil) }, false, 1},
		{"two servers", func(c *ackCollector) { c.setServers(2); c.clientCount(1); c.ack(nil); c.clientCount(0) }, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newAckCollector()
			tt.run(c)
			select {
			case <-c.done:
				if !tt.done {
					t.Fatal("completed early")
				}
			default:
				if tt.done {
					t.Fatal("not completed")
				}
			}
			res := c.finish()
			if len(res) != tt.n {
				t.Fatalf("responses = %v", res)
			}
			c.ack(json.RawMessage(`"late"`)) // ignored after finish
			if got := c.finish(); len(got) != tt.n {
				t.Fatalf("late answer counted: %v", got)
			}
		})
	}
}

func TestAppendOffset(t *testing.T) {
	tests := []struct{ in, want string }{
		{`["ev"]`, `["ev","o1"]`},
		{`["ev",1,{"a":[2]}]`, `["ev",1,{"a":[2]},"o1"]`},
		{"[\"ev\"]\n", `["ev","o1"]`},
		{`[]`, `["o1"]`},
		{`{}`, `{}`},
	}
	for _, tt := range tests {
		if got := string(appendOffset(json.RawMessage(tt.in), "o1")); got != tt.want {
			t.Errorf("appendOffset(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestSplitEvent(t *testing.T) {
	name, args, err := splitEvent([]json.RawMessage{json.RawMessage(`"hi"`), json.RawMessage(`1`)})
	if err != nil || name != "hi" || len(args) != 1 {
		t.Fatalf("got %q %v %v", name, args, err)
	}
	name, _, err = splitEvent([]json.RawMessage{json.RawMessage(`42`)})
	if err != nil || name != "42" {
		t.Fatalf("numeric name %q %v", name, err)
	}
	if _, _, err := splitEvent(nil); !errors.Is(err, parser.ErrInvalidPacket) {
		t.Fatalf("empty payload err = %v", err)
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func eventPacket(data string) *parser.Packet {
	return &parser.Packet{Type: parser.Event, Namespace: "/", Data: json.RawMessage(data)}
}

func offsetOf(t *testing.T, p *parser.Packet) uint64 {
	t.Helper()
	var all []json.RawMessage
	if err := json.Unmarshal(p.Data, &all); err != nil {
		t.Fatal(err)
	}
	var off string
	if err := json.Unmarshal(all[len(all)-1], &off); err != nil {
		t.Fatal(err)
	}
	seq, err := strconv.ParseUint(off, 36, 64)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestPacketBuffer(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	b := newPacketBuffer(time.Minute, 1000, clock.now)
	p1 := eventPacket(`["a"]`)
	b.record(p1, BroadcastOptions{})
	p2 := eventPacket(`["b"]`)
	b.record(p2, BroadcastOptions{Rooms: []string{"r1"}})
	p3 := eventPacket(`["c"]`)
	b.record(p3, BroadcastOptions{Except: []string{"r2"}})
	p4 := eventPacket(`["d"]`)
	b.record(p4, BroadcastOptions{Rooms: []string{"sid"}})

	first := offsetOf(t, p1)
	if offsetOf(t, p2) <= first {
		t.Fatal("offsets must increase")
	}
	tests := []struct {
		name  string
		rooms []string
		want  []*parser.Packet
	}{
		{"only own room", []string{"sid"}, []*parser.Packet{p3, p4}},
		{"in r1", []string{"x", "r1"}, []*parser.Packet{p2, p3}},
		{"excluded by r2", []string{"x", "r2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := b.since(first, tt.rooms)
			if !ok || !slices.Equal(got, tt.want) {
				t.Fatalf("since = %v %v", got, ok)
			}
		})
	}
	if _, ok := b.since(first-1, []string{"sid"}); ok {
		t.Fatal("unknown offset accepted")
	}
	clock.advance(2 * time.Minute)
	if _, ok := b.since(first, []string{"sid"}); ok {
		t.Fatal("expired offset accepted")
	}
	if b.len() != 0 {
		t.Fatalf("buffer not pruned: %d", b.len())
	}

	small := newPacketBuffer(time.Hour, 3, clock.now)
	var pkts []*parser.Packet
	for i := 0; i < 200; i++ {
		p := eventPacket(`["x"]`)
		small.record(p, BroadcastOptions{})
		pkts = append(pkts, p)
	}
	if small.len() != 3 {
		t.Fatalf("count bound not applied: %d", small.len())
	}
	got, ok := small.since(offsetOf(t, pkts[197]), nil)
	if !ok || len(got) != 2 {
		t.Fatalf("since after count prune = %v %v", got, ok)
	}
}

func TestIncludesPacket(t *testing.T) {
	tests := []struct {
		session, rooms, except []string
		want                   bool
	}{
		{[]string{"s"}, nil, nil, true},
		{[]string{"s"}, []string{"r"}, nil, false},
		{[]string{"s", "r"}, []string{"r"}, nil, true},
		{[]string{"s", "r"}, nil, []string{"r"}, false},
		{[]string{"s", "r"}, []string{"s"}, []string{"x"}, true},
	}
	for _, tt := range tests {
		if got := includesPacket(tt.session, tt.rooms, tt.except); got != tt.want {
			t.Errorf("includesPacket(%v,%v,%v) = %v", tt.session, tt.rooms, tt.except, got)
		}
	}
}

func TestMemorySessionStore(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	st := NewMemorySessionStore()
	st.now = clock.now
	ctx := t.Context()
	if err := st.Save(ctx, &SessionState{ID: "a", PID: "p1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := st.Take(ctx, "p1")
	if err != nil || got == nil || got.ID != "a" {
		t.Fatalf("take = %v %v", got, err)
	}
	if got, _ := st.Take(ctx, "p1"); got != nil {
		t.Fatal("session taken twice")
	}
	_ = st.Save(ctx, &SessionState{ID: "b", PID: "p2"}, time.Minute)
	clock.advance(2 * time.Minute)
	if got, _ := st.Take(ctx, "p2"); got != nil {
		t.Fatal("expired session returned")
	}
	for i := 0; i < 300; i++ {
		_ = st.Save(ctx, &SessionState{PID: strings.Repeat("x", i%7) + string(rune('a'+i%26))}, time.Second)
		clock.advance(time.Second)
	}
	if n := st.Len(); n > 2 {
		t.Fatalf("expired sessions not pruned: %d", n)
	}
}

func TestIDFormat(t *testing.T) {
	var g idGenerator
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := g.next()
		if len(id) != 20 || strings.ContainsAny(id, "+/=") || seen[id] {
			t.Fatalf("bad id %q", id)
		}
		seen[id] = true
	}
	if id := g.next(); !strings.HasSuffix(id, "AABk") { // counter 100
		t.Fatalf("counter suffix of %q", id)
	}
}

func TestRecoveryAuth(t *testing.T) {
	tests := []struct {
		auth        string
		pid, offset string
		ok          bool
	}{
		{``, "", "", false},
		{`{}`, "", "", false},
		{`{"pid":"p","offset":"o","token":1}`, "p", "o", true},
		{`{"pid":"p"}`, "", "", false},
		{`{"pid":1,"offset":"o"}`, "", "", false},
		{`[1]`, "", "", false},
	}
	for _, tt := range tests {
		pid, off, ok := recoveryAuth(json.RawMessage(tt.auth))
		if pid != tt.pid || off != tt.offset || ok != tt.ok {
			t.Errorf("recoveryAuth(%s) = %q %q %v", tt.auth, pid, off, ok)
		}
	}
}

func TestConnectPackets(t *testing.T) {
	if got := string(connectReplyPacket("/", "S", "").Data); got != `{"sid":"S"}` {
		t.Errorf("reply = %s", got)
	}
	if got := string(connectReplyPacket("/", "S", "P").Data); got != `{"sid":"S","pid":"P"}` {
		t.Errorf("reply with pid = %s", got)
	}
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("nope"), `{"message":"nope"}`},
		{&ConnectError{Message: "unauthorized", Data: map[string]int{"code": 7}}, `{"message":"unauthorized","data":{"code":7}}`},
		{&ConnectError{Message: "bad data", Data: func() {}}, `{"message":"bad data"}`},
	}
	for _, tt := range tests {
		p := connectErrorPacket("/x", tt.err)
		if p.Type != parser.ConnectError || p.Namespace != "/x" || string(p.Data) != tt.want {
			t.Errorf("connect error %v = %s", tt.err, p.Data)
		}
	}
}

func TestHandshakeJSON(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/socket.io/?EIO=4&transport=polling&a=1&a=2", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r.Header.Set("Origin", "http://other")
	r.Header.Add("X-Multi", "one")
	r.Header.Add("X-Multi", "two")
	base := newHandshakeBase(r, nil)
	now := time.UnixMilli(1795385478356).UTC()
	h := base.handshake(nil, now)
	if h.Address != "127.0.0.1" || !h.XDomain || h.Secure || string(h.Auth) != "{}" || h.Issued() != 1795385478356 {
		t.Fatalf("handshake = %+v", h)
	}
	raw, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	headers := generic["headers"].(map[string]any)
	if headers["x-multi"] != "one, two" || headers["host"] != "example.com" {
		t.Fatalf("headers = %v", headers)
	}
	query := generic["query"].(map[string]any)
	if query["EIO"] != "4" || len(query["a"].([]any)) != 2 {
		t.Fatalf("query = %v", query)
	}
	if generic["time"] != "Sun Nov 22 2026 22:11:18 GMT+0000 (Coordinated Universal Time)" {
		t.Fatalf("time = %v", generic["time"])
	}
	if generic["url"] != "/socket.io/?EIO=4&transport=polling&a=1&a=2" {
		t.Fatalf("url = %v", generic["url"])
	}
	var back Handshake
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Issued() != h.Issued() || back.Headers.Get("X-Multi") != "one, two" || back.Query["a"][1] != "2" || back.Address != h.Address {
		t.Fatalf("round trip = %+v", back)
	}
}

// TestHandshakeSharedStrings: consecutive handshakes with an equal address
// or URL keep one copy of it, and a different one is kept as it is.
func TestHandshakeSharedStrings(t *testing.T) {
	var shared sharedStrings
	request := func(target, remote string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.RemoteAddr = remote
		return r
	}
	for _, tt := range []struct {
		name, target, remote string
		wantURL, wantAddr    string
		sameURL, sameAddress bool
	}{
		{"same proxy and URL", "http://h/socket.io/?EIO=4&transport=websocket", "10.0.0.1:2000",
			"/socket.io/?EIO=4&transport=websocket", "10.0.0.1", true, true},
		{"other client address", "http://h/socket.io/?EIO=4&transport=websocket", "10.0.0.2:2000",
			"/socket.io/?EIO=4&transport=websocket", "10.0.0.2", true, false},
		{"own query", "http://h/socket.io/?EIO=4&transport=websocket&token=x", "10.0.0.1:3000",
			"/socket.io/?EIO=4&transport=websocket&token=x", "10.0.0.1", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			shared = sharedStrings{}
			first := newHandshakeBase(request("http://h/socket.io/?EIO=4&transport=websocket", "10.0.0.1:1000"), &shared)
			b := newHandshakeBase(request(tt.target, tt.remote), &shared)
			if b.url != tt.wantURL || b.address != tt.wantAddr {
				t.Fatalf("url %q address %q, want %q %q", b.url, b.address, tt.wantURL, tt.wantAddr)
			}
			if same := unsafe.StringData(b.url) == unsafe.StringData(first.url); same != tt.sameURL {
				t.Fatalf("URL shared: %v, want %v", same, tt.sameURL)
			}
			if same := unsafe.StringData(b.address) == unsafe.StringData(first.address); same != tt.sameAddress {
				t.Fatalf("address shared: %v, want %v", same, tt.sameAddress)
			}
		})
	}
}
