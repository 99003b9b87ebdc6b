package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/engineio"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// wait is the failure guard for things that must happen; quiet is the window
// in which something must not happen.
const (
	wait  = 5 * time.Second
	quiet = 150 * time.Millisecond
)

func newServer(t *testing.T, opts socketio.Options) (*socketio.Server, string) {
	t.Helper()
	srv := socketio.NewServer(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close server: %v", err)
		}
		ts.Close()
	})
	return srv, ts.URL + "/socket.io/"
}

func dial(t *testing.T, url string) *sioclient.Conn {
	t.Helper()
	return dialQuery(t, url, "")
}

func dialQuery(t *testing.T, url, query string) *sioclient.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := sioclient.Dial(ctx, url, sioclient.Options{Query: query, Header: http.Header{"Origin": {"http://test"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// connect joins namespace nsp ("/" or "/x") with an optional auth JSON and
// returns the CONNECT reply payload.
func connect(t *testing.T, c *sioclient.Conn, nsp, auth string) map[string]string {
	t.Helper()
	prefix := ""
	if nsp != "/" {
		prefix = nsp + ","
	}
	if err := c.Send("0" + prefix + auth); err != nil {
		t.Fatal(err)
	}
	got, err := c.NextText(within(t, wait))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "0"+prefix+"{") {
		t.Fatalf("connect %s: got %q", nsp, got)
	}
	var reply map[string]string
	if err := json.Unmarshal([]byte(got[1+len(prefix):]), &reply); err != nil {
		t.Fatalf("connect reply %q: %v", got, err)
	}
	return reply
}

// within returns a context that ends after d (or with the test).
func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func send(t *testing.T, c *sioclient.Conn, text string) {
	t.Helper()
	if err := c.Send(text); err != nil {
		t.Fatal(err)
	}
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("timeout waiting for the server")
	}
	var zero T
	return zero
}

// connected returns a channel receiving every socket connected to nsp.
func connected(nsp *socketio.Namespace) <-chan *socketio.Socket {
	ch := make(chan *socketio.Socket, 16)
	nsp.OnConnection(func(s *socketio.Socket) { ch <- s })
	return ch
}

func TestConnectMainNamespace(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	socks := connected(srv.Of("/"))
	c := dial(t, url)
	reply := connect(t, c, "/", "")
	s := receive(t, socks)
	if reply["sid"] != s.ID() || len(s.ID()) != 20 {
		t.Fatalf("sid %q, socket %q", reply["sid"], s.ID())
	}
	if _, ok := reply["pid"]; ok {
		t.Fatal("pid sent without recovery")
	}
	if s.ID() == s.Conn().ID() {
		t.Fatal("socket id must differ from the engine.io id")
	}
	if !slices.Equal(s.Rooms(), []string{s.ID()}) {
		t.Fatalf("rooms = %v", s.Rooms())
	}
	h := s.Handshake()
	if string(h.Auth) != "{}" || h.Query.Get("EIO") != "4" || !h.XDomain || h.Address != "127.0.0.1" {
		t.Fatalf("handshake = %+v", h)
	}
	if s.Transport() != engineio.WebSocket || !s.Connected() || s.Recovered() {
		t.Fatal("socket state")
	}
}

func TestConnectCustomNamespaceWithAuth(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	socks := connected(srv.Of("chat"))
	c := dial(t, url)
	connect(t, c, "/chat", `{"token":"abc"}`)
	s := receive(t, socks)
	if s.Namespace().Name() != "/chat" || string(s.Handshake().Auth) != `{"token":"abc"}` {
		t.Fatalf("namespace %q auth %s", s.Namespace().Name(), s.Handshake().Auth)
	}
}

func TestInvalidNamespace(t *testing.T) {
	_, url := newServer(t, socketio.Options{})
	c := dial(t, url)
	send(t, c, "0/nope,")
	c.Expect(t, `4/nope,{"message":"Invalid namespace"}`)
	connect(t, c, "/", "") // the session is still usable
}

func TestConnectMiddleware(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	nsp := srv.Of("/private")
	var calls []string
	var mu sync.Mutex
	nsp.Use(func(ctx context.Context, s *socketio.Socket) error {
		mu.Lock()
		calls = append(calls, "first")
		mu.Unlock()
		var auth struct{ Token string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		switch auth.Token {
		case "":
			return &socketio.ConnectError{Message: "unauthorized", Data: map[string]int{"code": 401}}
		case "bad":
			return errors.New("plain failure")
		}
		s.SetData(auth.Token)
		return nil
	})
	nsp.Use(func(ctx context.Context, s *socketio.Socket) error {
		mu.Lock()
		calls = append(calls, "second")
		mu.Unlock()
		return nil
	})
	socks := connected(nsp)
	c := dial(t, url)
	send(t, c, "0/private,")
	c.Expect(t, `4/private,{"message":"unauthorized","data":{"code":401}}`)
	send(t, c, `0/private,{"token":"bad"}`)
	c.Expect(t, `4/private,{"message":"plain failure"}`)
	connect(t, c, "/private", `{"token":"good"}`)
	s := receive(t, socks)
	if s.Data() != "good" {
		t.Fatalf("data = %v", s.Data())
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(calls, []string{"first", "first", "first", "second"}) {
		t.Fatalf("middleware calls = %v", calls)
	}
}

func TestEventsAndAcks(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	type got struct {
		name string
		args socketio.ArgList
		a    string
		b    int
	}
	events := make(chan got, 4)
	for _, name := range []string{"/", "/chat"} {
		srv.Of(name).OnConnection(func(s *socketio.Socket) {
			s.On("hello", func(ctx context.Context, ev *socketio.Event) {
				var g got
				g.name, g.args = ev.Name, ev.Args()
				if err := ev.Bind(&g.a, &g.b); err != nil {
					t.Errorf("bind: %v", err)
				}
				if ev.WantsAck() {
					if err := ev.Ack("ok", g.b+1); err != nil {
						t.Errorf("ack: %v", err)
					}
					if err := ev.Ack("again"); !errors.Is(err, socketio.ErrAlreadyAcked) {
						t.Errorf("second ack: %v", err)
					}
				} else if err := ev.Ack(); !errors.Is(err, socketio.ErrNoAck) {
					t.Errorf("ack without id: %v", err)
				}
				events <- g
			})
		})
	}
	c := dial(t, url)
	connect(t, c, "/", "")
	connect(t, c, "/chat", "")

	send(t, c, `2["hello","world",41]`)
	g := receive(t, events)
	if g.name != "hello" || g.a != "world" || g.b != 41 || len(g.args) != 2 {
		t.Fatalf("event = %+v", g)
	}
	c.ExpectNothing(t)

	send(t, c, `27["hello","x",1]`)
	receive(t, events)
	c.Expect(t, `37["ok",2]`)

	send(t, c, `2/chat,12["hello","y",5]`)
	receive(t, events)
	c.Expect(t, `3/chat,12["ok",6]`)
}

func TestServerEmit(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	socks := connected(srv.Of("/"))
	c := dial(t, url)
	connect(t, c, "/", "")
	s := receive(t, socks)
	if err := s.Emit("news", 1, "a", map[string]any{"k": true}, json.RawMessage(`[1,2]`)); err != nil {
		t.Fatal(err)
	}
	c.Expect(t, `2["news",1,"a",{"k":true},[1,2]]`)
	if err := s.Emit("disconnect"); !errors.Is(err, socketio.ErrReservedEvent) {
		t.Fatalf("reserved event: %v", err)
	}
}

func TestServerEmitWithAck(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	socks := connected(srv.Of("/"))
	c := dial(t, url)
	connect(t, c, "/", "")
	s := receive(t, socks)

	type result struct {
		args []json.RawMessage
		err  error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		args, err := s.EmitWithAck(ctx, "question", "q")
		done <- result{args, err}
	}()
	p, err := c.NextPacket(within(t, wait))
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasID || string(p.Data) != `["question","q"]` {
		t.Fatalf("packet = %+v", p)
	}
	send(t, c, "3"+itoa(p.ID)+`["answer",42]`)
	r := receive(t, done)
	if r.err != nil || len(r.args) != 2 || string(r.args[1]) != "42" {
		t.Fatalf("ack = %v %v", r.args, r.err)
	}

	// Timeout through the context deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "ignored"); !errors.Is(err, socketio.ErrAckTimeout) {
		t.Fatalf("timeout err = %v", err)
	}
	if _, err := c.NextPacket(within(t, wait)); err != nil {
		t.Fatal(err)
	}

	// Callback form.
	acks := make(chan result, 1)
	if err := s.EmitWithAckFunc(wait, func(args []json.RawMessage, err error) { acks <- result{args, err} }, "cb"); err != nil {
		t.Fatal(err)
	}
	p, err = c.NextPacket(within(t, wait))
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, "3"+itoa(p.ID)+`[true]`)
	if r := receive(t, acks); r.err != nil || string(r.args[0]) != "true" {
		t.Fatalf("callback ack = %v %v", r.args, r.err)
	}
	if err := s.EmitWithAckFunc(20*time.Millisecond, func(args []json.RawMessage, err error) { acks <- result{args, err} }, "cb"); err != nil {
		t.Fatal(err)
	}
	if r := receive(t, acks); !errors.Is(r.err, socketio.ErrAckTimeout) {
		t.Fatalf("callback timeout = %v", r.err)
	}

	// Disconnection fails pending acks.
	go func() {
		args, err := s.EmitWithAck(context.Background(), "never")
		done <- result{args, err}
	}()
	if _, err := c.NextPacket(within(t, wait)); err != nil {
		t.Fatal(err)
	}
	s.Disconnect(false)
	if r := receive(t, done); !errors.Is(r.err, socketio.ErrDisconnected) {
		t.Fatalf("after disconnect: %v", r.err)
	}
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestBinary(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	type bin struct {
		data  []byte
		label string
	}
	got := make(chan bin, 1)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("upload", func(ctx context.Context, ev *socketio.Event) {
			var b bin
			if err := ev.Bind(&b.label, &b.data); err != nil {
				t.Errorf("bind: %v", err)
			}
			got <- b
			_ = ev.Ack([]byte{9, 8})
		})
		s.On("download", func(ctx context.Context, ev *socketio.Event) {
			_ = s.Emit("file", []byte{1, 2, 3}, map[string]any{"inner": []byte{4}})
		})
		s.On("echo", func(ctx context.Context, ev *socketio.Event) {
			_ = s.Emit("echo", ev.Args().Any()...)
		})
		s.On("tail", func(ctx context.Context, ev *socketio.Event) {
			_ = s.Broadcast().Emit("never", 1) // nobody else: only checks it does not disturb
			_ = ev.Ack(ev.Args()[1:].Any()...)
		})
		s.On("struct", func(ctx context.Context, ev *socketio.Event) {
			var doc struct {
				Name string `json:"name"`
				File []byte `json:"file"`
			}
			var whole any
			if err := ev.Bind(&doc, &whole); err != nil {
				t.Errorf("bind struct: %v", err)
			}
			inner, _ := whole.(map[string]any)["deep"].([]any)
			b, _ := inner[0].([]byte)
			_ = ev.Ack(doc.Name, doc.File, b)
		})
	})
	c := dial(t, url)
	connect(t, c, "/", "")
	send(t, c, `51-3["upload","name",{"_placeholder":true,"num":0}]`)
	if err := c.SendBinary([]byte{0xde, 0xad}); err != nil {
		t.Fatal(err)
	}
	b := receive(t, got)
	if b.label != "name" || string(b.data) != "\xde\xad" {
		t.Fatalf("binary event = %+v", b)
	}
	c.Expect(t, `61-3[{"_placeholder":true,"num":0}]`)
	if m, err := c.Next(within(t, wait)); err != nil || !m.Binary || string(m.Data) != "\x09\x08" {
		t.Fatalf("ack attachment = %v %v", m, err)
	}

	send(t, c, `2["download"]`)
	c.Expect(t, `52-["file",{"_placeholder":true,"num":0},{"inner":{"_placeholder":true,"num":1}}]`)
	expectAttachments(t, c, "\x01\x02\x03", "\x04")

	// A Go handler's echo reproduces the packet: placeholders and attachments
	// (numbered in text order, as every socket.io-parser writes them).
	echo := `52-["echo",{"b":{"_placeholder":true,"num":0},"n":12345678901234567890},{"_placeholder":true,"num":1},"x"]`
	send(t, c, echo)
	sendBinary(t, c, "\x00\xff", "\x07")
	c.Expect(t, echo)
	expectAttachments(t, c, "\x00\xff", "\x07")

	// A sub-slice is renumbered in order.
	send(t, c, `52-4["tail",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]]`)
	sendBinary(t, c, "A", "B")
	c.Expect(t, `61-4[[{"_placeholder":true,"num":0}]]`)
	expectAttachments(t, c, "B")

	// Structs with []byte fields and *any (binary as []byte, nested).
	send(t, c, `52-5["struct",{"name":"n","file":{"_placeholder":true,"num":0}},{"deep":[{"_placeholder":true,"num":1}]}]`)
	sendBinary(t, c, "F", "D")
	c.Expect(t, `62-5["n",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	expectAttachments(t, c, "F", "D")
}

func sendBinary(t *testing.T, c *sioclient.Conn, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if err := c.SendBinary([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
}

func expectAttachments(t *testing.T, c *sioclient.Conn, want ...string) {
	t.Helper()
	for _, w := range want {
		if m, err := c.Next(within(t, wait)); err != nil || !m.Binary || string(m.Data) != w {
			t.Fatalf("attachment = %v %v, want %q", m, err, w)
		}
	}
}

func TestClientNamespaceDisconnect(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	reasons := make(chan string, 4)
	srv.Of("/a").OnConnection(func(s *socketio.Socket) {
		s.OnDisconnect(func(reason string) { reasons <- reason })
	})
	c := dial(t, url)
	connect(t, c, "/a", "")
	send(t, c, "1/a,")
	if r := receive(t, reasons); r != socketio.ReasonClientNamespaceDisconnect {
		t.Fatalf("reason = %q", r)
	}
	if srv.Of("/a").SocketCount() != 0 {
		t.Fatal("socket still registered")
	}
	// Leaving the last namespace keeps the Engine.IO session open.
	connect(t, c, "/a", "")
	send(t, c, `2/a,["x"]`)
	c.ExpectNothing(t)
}

func TestServerDisconnect(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	reasons := make(chan string, 4)
	// The disconnect handlers first: a socket reaches main or other (and the
	// test disconnects it) as soon as the handler after them has run.
	for _, n := range []string{"/", "/other"} {
		srv.Of(n).OnConnection(func(s *socketio.Socket) {
			s.OnDisconnect(func(reason string) { reasons <- s.Namespace().Name() + " " + reason })
		})
	}
	main := connected(srv.Of("/"))
	other := connected(srv.Of("/other"))
	c := dial(t, url)
	connect(t, c, "/", "")
	connect(t, c, "/other", "")
	s := receive(t, main)
	o := receive(t, other)

	s.Disconnect(false)
	c.Expect(t, "1")
	if r := receive(t, reasons); r != "/ server namespace disconnect" {
		t.Fatalf("reason = %q", r)
	}
	if s.Connected() || !o.Connected() {
		t.Fatal("only the main namespace must be disconnected")
	}
	connect(t, c, "/", "")
	receive(t, main)

	o.Disconnect(true)
	got := map[string]bool{}
	for i := 0; i < 2; i++ {
		text, err := c.NextText(within(t, wait))
		if err != nil {
			t.Fatal(err)
		}
		got[text] = true
	}
	if !got["1"] || !got["1/other,"] {
		t.Fatalf("disconnect packets = %v", got)
	}
	if err := c.WaitClosed(within(t, wait)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if r := receive(t, reasons); !strings.HasSuffix(r, " server namespace disconnect") {
			t.Fatalf("reason = %q", r)
		}
	}
}

func TestTransportCloseSeesRooms(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	type closing struct {
		reason string
		rooms  []string
	}
	ch := make(chan closing, 2)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.Join("room1")
		s.OnDisconnecting(func(reason string) { ch <- closing{reason, s.Rooms()} })
		s.OnDisconnect(func(reason string) { ch <- closing{reason, s.Rooms()} })
	})
	c := dial(t, url)
	connect(t, c, "/", "")
	c.Close()
	first := receive(t, ch)
	if first.reason != socketio.ReasonTransportClose || !slices.Contains(first.rooms, "room1") || len(first.rooms) != 2 {
		t.Fatalf("disconnecting = %+v", first)
	}
	if second := receive(t, ch); second.reason != socketio.ReasonTransportClose || len(second.rooms) != 0 {
		t.Fatalf("disconnect = %+v", second)
	}
	if rooms := srv.Of("/").Adapter().Rooms(); len(rooms) != 0 {
		t.Fatalf("rooms left behind: %v", rooms)
	}
}

func TestConnectTimeout(t *testing.T) {
	_, url := newServer(t, socketio.Options{ConnectTimeout: 100 * time.Millisecond})
	idle := dial(t, url)
	active := dial(t, url)
	connect(t, active, "/", "")
	if err := idle.WaitClosed(within(t, wait)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-active.Done():
		t.Fatal("a session with a namespace was closed")
	case <-time.After(quiet):
	}
}

func TestParseErrorClosesSession(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	errs := make(chan error, 1)
	srv.Of("/").OnConnection(func(s *socketio.Socket) { s.OnError(func(err error) { errs <- err }) })
	c := dial(t, url)
	connect(t, c, "/", "")
	send(t, c, `2{"not":"an array"}`)
	receive(t, errs)
	if err := c.WaitClosed(within(t, wait)); err != nil {
		t.Fatal(err)
	}
}

func TestCatchAllAndMiddleware(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	errs := make(chan error, 1)
	handled := make(chan string, 4)
	outgoing := make(chan string, 4)
	socks := connected(srv.Of("/"))
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.OnAny(func(ctx context.Context, ev *socketio.Event) { note("any " + ev.Name) })
		s.Use(func(ctx context.Context, ev *socketio.Event) error {
			note("mw " + ev.Name)
			if ev.Name == "forbidden" {
				return errors.New("not allowed")
			}
			return nil
		})
		s.OnError(func(err error) { errs <- err })
		for _, name := range []string{"ok", "forbidden"} {
			s.On(name, func(ctx context.Context, ev *socketio.Event) { note("on " + ev.Name); handled <- ev.Name })
		}
		s.OnAnyOutgoing(func(event string, args []json.RawMessage) {
			outgoing <- event + " " + string(args[0])
		})
	})
	c := dial(t, url)
	connect(t, c, "/", "")
	s := receive(t, socks)
	send(t, c, `2["forbidden"]`)
	if err := receive(t, errs); err.Error() != "not allowed" {
		t.Fatalf("error = %v", err)
	}
	send(t, c, `2["ok"]`)
	if h := receive(t, handled); h != "ok" {
		t.Fatalf("handled %q", h)
	}
	c.ExpectNothing(t)
	mu.Lock()
	want := []string{"any forbidden", "mw forbidden", "any ok", "mw ok", "on ok"}
	if !slices.Equal(order, want) {
		t.Fatalf("order = %v", order)
	}
	mu.Unlock()

	_ = s.Emit("direct", 1)
	_ = srv.Of("/").Emit("broadcast", 2)
	if o := receive(t, outgoing); o != "direct 1" {
		t.Fatalf("outgoing %q", o)
	}
	if o := receive(t, outgoing); o != "broadcast 2" {
		t.Fatalf("outgoing %q", o)
	}
}

// clients connects n clients to "/" and returns them with their sockets.
func clients(t *testing.T, srv *socketio.Server, url string, n int) ([]*sioclient.Conn, []*socketio.Socket) {
	t.Helper()
	socks := connected(srv.Of("/"))
	var conns []*sioclient.Conn
	var ss []*socketio.Socket
	for i := 0; i < n; i++ {
		c := dial(t, url)
		connect(t, c, "/", "")
		conns = append(conns, c)
		ss = append(ss, receive(t, socks))
	}
	return conns, ss
}

func TestRoomsAndBroadcast(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	cs, ss := clients(t, srv, url, 4)
	ss[0].Join("red", "blue")
	ss[1].Join("red")
	ss[2].Join("blue")
	nsp := srv.Of("/")

	tests := []struct {
		name string
		emit func() error
		want []int
	}{
		{"all", func() error { return nsp.Emit("m", "all") }, []int{0, 1, 2, 3}},
		{"room", func() error { return nsp.To("red").Emit("m", "room") }, []int{0, 1}},
		{"union dedupes", func() error { return nsp.To("red").In("blue").Emit("m", "union") }, []int{0, 1, 2}},
		{"except", func() error { return nsp.Except("blue").Emit("m", "except") }, []int{1, 3}},
		{"to except", func() error { return nsp.To("red", "blue").Except("red").Emit("m", "toexcept") }, []int{2}},
		{"socket to", func() error { return ss[0].To("red").Emit("m", "sockto") }, []int{1}},
		{"socket broadcast", func() error { return ss[0].Broadcast().Emit("m", "sockbc") }, []int{1, 2, 3}},
		{"socket id room", func() error { return nsp.To(ss[3].ID()).Emit("m", "direct") }, []int{3}},
		{"volatile", func() error { return nsp.Volatile().Compress(false).Emit("m", "vol") }, []int{0, 1, 2, 3}},
		{"local", func() error { return nsp.Local().To("blue").Emit("m", "local") }, []int{0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.emit(); err != nil {
				t.Fatal(err)
			}
			for i, c := range cs {
				if slices.Contains(tt.want, i) {
					text, err := c.NextText(within(t, wait))
					if err != nil {
						t.Fatalf("client %d: %v", i, err)
					}
					if !strings.HasPrefix(text, `2["m",`) {
						t.Fatalf("client %d got %q", i, text)
					}
				}
			}
			for i, c := range cs {
				if m, err := c.Next(within(t, quiet/3)); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("client %d: unexpected message %q (%v)", i, m.Data, err)
				}
			}
		})
	}

	ss[0].Leave("red")
	if rooms := ss[0].Rooms(); !slices.Equal(rooms, sorted(ss[0].ID(), "blue")) {
		t.Fatalf("rooms after leave = %v", rooms)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

func TestBroadcastWithAck(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	cs, ss := clients(t, srv, url, 3)
	ss[0].Join("r")
	ss[1].Join("r")
	nsp := srv.Of("/")

	type result struct {
		res []json.RawMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := nsp.To("r").Timeout(wait).EmitWithAck(context.Background(), "vote", 1)
		done <- result{res, err}
	}()
	var ids []uint64
	for i := 0; i < 2; i++ {
		p, err := cs[i].NextPacket(within(t, wait))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
		send(t, cs[i], "3"+itoa(p.ID)+`["yes-`+itoa(uint64(i))+`","ignored"]`)
	}
	if ids[0] != ids[1] {
		t.Fatalf("targets got different ack ids %v", ids)
	}
	r := receive(t, done)
	if r.err != nil || len(r.res) != 2 {
		t.Fatalf("acks = %v %v", r.res, r.err)
	}
	got := []string{string(r.res[0]), string(r.res[1])}
	slices.Sort(got)
	if !slices.Equal(got, []string{`"yes-0"`, `"yes-1"`}) {
		t.Fatalf("acks = %v", got)
	}
	cs[2].ExpectNothing(t)

	// One client never answers: partial result and ErrAckTimeout.
	go func() {
		res, err := nsp.Timeout(200*time.Millisecond).EmitWithAck(context.Background(), "vote", 2)
		done <- result{res, err}
	}()
	for i := 0; i < 3; i++ {
		p, err := cs[i].NextPacket(within(t, wait))
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			send(t, cs[i], "3"+itoa(p.ID)+`[true]`)
		}
	}
	r = receive(t, done)
	if !errors.Is(r.err, socketio.ErrAckTimeout) || len(r.res) != 2 {
		t.Fatalf("partial = %v %v", r.res, r.err)
	}

	// No target: completes at once.
	res, err := nsp.To("empty").Timeout(wait).EmitWithAck(context.Background(), "vote", 3)
	if err != nil || len(res) != 0 {
		t.Fatalf("no target = %v %v", res, err)
	}
}

func TestClusterOperations(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	cs, ss := clients(t, srv, url, 3)
	nsp := srv.Of("/")
	ss[0].Join("a")
	ss[1].Join("a")
	ss[0].SetData(map[string]int{"n": 1})
	ctx := context.Background()

	remote, err := nsp.In("a").FetchSockets(ctx)
	if err != nil || len(remote) != 2 {
		t.Fatalf("fetch = %v %v", remote, err)
	}
	slices.SortFunc(remote, func(x, y *socketio.RemoteSocket) int {
		return indexOf(ss, x.ID) - indexOf(ss, y.ID)
	})
	if remote[0].ID != ss[0].ID() || string(remote[0].Data) != `{"n":1}` || string(remote[1].Data) != `{}` ||
		!slices.Contains(remote[0].Rooms, "a") || remote[0].Handshake.Query.Get("EIO") != "4" {
		t.Fatalf("remote socket = %+v", remote[0].SocketInfo)
	}
	if raw, err := json.Marshal(remote[0].SocketInfo); err != nil || !strings.Contains(string(raw), `"handshake":{"headers":{`) {
		t.Fatalf("socket info json = %s %v", raw, err)
	}

	if err := nsp.In("a").Except(ss[1].ID()).SocketsJoin("b", "c"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ss[0].Rooms(), "b") || slices.Contains(ss[1].Rooms(), "b") {
		t.Fatalf("join: %v %v", ss[0].Rooms(), ss[1].Rooms())
	}
	if err := nsp.SocketsLeave("c"); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ss[0].Rooms(), "c") {
		t.Fatal("leave")
	}

	if err := remote[1].Emit("hi", "remote"); err != nil {
		t.Fatal(err)
	}
	cs[1].Expect(t, `2["hi","remote"]`)
	if err := remote[1].Join("z"); err != nil || !slices.Contains(ss[1].Rooms(), "z") {
		t.Fatalf("remote join %v %v", err, ss[1].Rooms())
	}
	if err := remote[1].Leave("z"); err != nil || slices.Contains(ss[1].Rooms(), "z") {
		t.Fatalf("remote leave %v %v", err, ss[1].Rooms())
	}
	go func() {
		p, err := cs[1].NextPacket(within(t, wait))
		if err == nil {
			_ = cs[1].Send("3" + itoa(p.ID) + `["pong","extra"]`)
		}
	}()
	ans, err := remote[1].EmitWithAck(ctx, "ping")
	if err != nil || string(ans) != `"pong"` {
		t.Fatalf("remote ack = %s %v", ans, err)
	}

	if err := nsp.In("b").DisconnectSockets(false); err != nil {
		t.Fatal(err)
	}
	cs[0].Expect(t, "1")
	if ss[0].Connected() || !ss[1].Connected() {
		t.Fatal("disconnect sockets")
	}
	if err := remote[1].Disconnect(true); err != nil {
		t.Fatal(err)
	}
	if err := cs[1].WaitClosed(within(t, wait)); err != nil {
		t.Fatal(err)
	}
	if nsp.SocketCount() != 1 {
		t.Fatalf("sockets left = %d", nsp.SocketCount())
	}

	// Single server: server-side emits reach no one and acks complete at once.
	if err := nsp.ServerSideEmit("sync", 1); err != nil {
		t.Fatal(err)
	}
	if res, err := nsp.ServerSideEmitWithAck(ctx, "sync", 1); err != nil || len(res) != 0 {
		t.Fatalf("server-side ack = %v %v", res, err)
	}
}

func indexOf(ss []*socketio.Socket, id string) int {
	return slices.IndexFunc(ss, func(s *socketio.Socket) bool { return s.ID() == id })
}

func TestServerSideEmitHandler(t *testing.T) {
	srv, _ := newServer(t, socketio.Options{})
	nsp := srv.Of("/")
	got := make(chan string, 1)
	nsp.OnServerSideEmit("sync", func(ctx context.Context, ev *socketio.Event) {
		var n int
		_ = ev.Bind(&n)
		got <- ev.Name
		_ = ev.Ack(n*2, "dropped")
	})
	var answer json.RawMessage
	nsp.HandleServerSideEmit(context.Background(), "sync", []json.RawMessage{json.RawMessage(`21`)},
		func(arg json.RawMessage) { answer = arg })
	if receive(t, got) != "sync" || string(answer) != "42" {
		t.Fatalf("answer = %s", answer)
	}
}

func TestDynamicNamespaces(t *testing.T) {
	srv, url := newServer(t, socketio.Options{CleanupEmptyChildNamespaces: true})
	parent := srv.OfRegexp(regexp.MustCompile(`^/room-\d+$`))
	byFunc := srv.OfFunc(func(ctx context.Context, name string, auth json.RawMessage) bool {
		return strings.HasPrefix(name, "/team-") && strings.Contains(string(auth), "member")
	})
	parent.Use(func(ctx context.Context, s *socketio.Socket) error {
		if s.Handshake().Auth == nil || string(s.Handshake().Auth) == `{"deny":true}` {
			return errors.New("denied")
		}
		return nil
	})
	socks := make(chan *socketio.Socket, 4)
	parent.OnConnection(func(s *socketio.Socket) { socks <- s })
	byFunc.OnConnection(func(s *socketio.Socket) { socks <- s })

	c := dial(t, url)
	connect(t, c, "/room-12", "")
	s := receive(t, socks)
	if s.Namespace().Name() != "/room-12" || s.Namespace().Parent() != parent {
		t.Fatalf("child = %q", s.Namespace().Name())
	}
	send(t, c, `0/room-13,{"deny":true}`)
	c.Expect(t, `4/room-13,{"message":"denied"}`)
	send(t, c, "0/room-x,")
	c.Expect(t, `4/room-x,{"message":"Invalid namespace"}`)
	send(t, c, `0/team-1,{"guest":1}`)
	c.Expect(t, `4/team-1,{"message":"Invalid namespace"}`)
	connect(t, c, "/team-1", `{"member":1}`)
	receive(t, socks)

	if err := parent.Emit("hello", "children"); err != nil {
		t.Fatal(err)
	}
	c.Expect(t, `2/room-12,["hello","children"]`)
	if len(parent.Children()) != 1 {
		t.Fatalf("children = %d", len(parent.Children()))
	}
	send(t, c, "1/room-12,")
	waitfor.True(t, "the empty child namespace to be removed", func() bool { return len(parent.Children()) == 0 })
	connect(t, c, "/room-12", "") // created again
	receive(t, socks)
}

func TestConnectionStateRecovery(t *testing.T) {
	srv, url := newServer(t, socketio.Options{
		Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: time.Minute, SkipMiddlewares: true},
	})
	nsp := srv.Of("/")
	middlewareRuns := make(chan string, 4)
	nsp.Use(func(ctx context.Context, s *socketio.Socket) error {
		middlewareRuns <- s.ID()
		return nil
	})
	socks := connected(nsp)
	c := dial(t, url)
	reply := connect(t, c, "/", "")
	if reply["pid"] == "" || len(reply["pid"]) != 20 {
		t.Fatalf("reply = %v", reply)
	}
	s := receive(t, socks)
	receive(t, middlewareRuns)
	s.Join("news")
	s.SetData("payload")

	if err := s.Emit("direct", 1); err != nil {
		t.Fatal(err)
	}
	offset := lastOffset(t, c, `2["direct",1,`)
	// Volatile: no offset. It is dropped while the writer is still finishing the previous write (as Node drops
	// it when the transport is not writable), so emit until one arrives.
	for i := 0; ; i++ {
		if err := nsp.Volatile().Emit("vol", 1); err != nil {
			t.Fatal(err)
		}
		text, err := c.NextText(within(t, quiet))
		if err == nil {
			if text != `2["vol",1]` {
				t.Fatalf("got %q, want the volatile packet", text)
			}
			break
		}
		if i == 20 {
			t.Fatal("no volatile packet arrived")
		}
	}

	c.Close()
	deadline := time.Now().Add(wait)
	for nsp.SocketCount() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_ = nsp.To("news").Emit("missed", "a")
	_ = nsp.Emit("missed", "b")
	_ = nsp.To("other").Emit("not-for-you", 1)
	_ = nsp.Except("news").Emit("not-for-you", 2)
	_ = nsp.Volatile().Emit("not-for-you", 3)

	c2 := dial(t, url)
	send(t, c2, `0{"pid":"`+reply["pid"]+`","offset":"`+offset+`","token":"t"}`)
	for _, want := range []string{`2["missed","a",`, `2["missed","b",`} {
		text, err := c2.NextText(within(t, wait))
		if err != nil || !strings.HasPrefix(text, want) {
			t.Fatalf("missed packet %q %v, want %s", text, err, want)
		}
	}
	c2.Expect(t, `0{"sid":"`+reply["sid"]+`","pid":"`+reply["pid"]+`"}`)
	r := receive(t, socks)
	if !r.Recovered() || r.ID() != s.ID() || r.Data() != "payload" || !slices.Contains(r.Rooms(), "news") {
		t.Fatalf("recovered socket %v %q %v %v", r.Recovered(), r.ID(), r.Data(), r.Rooms())
	}
	select {
	case id := <-middlewareRuns:
		t.Fatalf("middleware ran on recovery for %s", id)
	default:
	}
	if string(r.Handshake().Auth) != `{"pid":"`+reply["pid"]+`","offset":"`+offset+`","token":"t"}` {
		t.Fatalf("auth = %s", r.Handshake().Auth)
	}

	// A session is recovered once; a bad offset gives a new session.
	c3 := dial(t, url)
	reply3 := connect(t, c3, "/", `{"pid":"`+reply["pid"]+`","offset":"`+offset+`"}`)
	if reply3["sid"] == reply["sid"] || receive(t, socks).Recovered() {
		t.Fatal("session recovered twice")
	}
	receive(t, middlewareRuns)
}

func lastOffset(t *testing.T, c *sioclient.Conn, prefix string) string {
	t.Helper()
	text, err := c.NextText(within(t, wait))
	if err != nil || !strings.HasPrefix(text, prefix) {
		t.Fatalf("got %q %v, want prefix %s", text, err, prefix)
	}
	var all []json.RawMessage
	if err := json.Unmarshal([]byte(text[1:]), &all); err != nil {
		t.Fatal(err)
	}
	var off string
	if err := json.Unmarshal(all[len(all)-1], &off); err != nil || off == "" {
		t.Fatalf("offset in %q: %v", text, err)
	}
	return off
}

func TestServerClose(t *testing.T) {
	srv := socketio.NewServer(socketio.Options{})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	reasons := make(chan string, 1)
	srv.Of("/").OnConnection(func(s *socketio.Socket) { s.OnDisconnect(func(r string) { reasons <- r }) })
	c := dial(t, ts.URL+"/socket.io/")
	connect(t, c, "/", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if r := receive(t, reasons); r != socketio.ReasonServerShutdown {
		t.Fatalf("reason = %q", r)
	}
	if err := c.WaitClosed(within(t, wait)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestPathPrefix(t *testing.T) {
	srv, url := newServer(t, socketio.Options{Path: "/rt"})
	_ = srv
	base := strings.TrimSuffix(url, "/socket.io/")
	resp, err := http.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status outside the path = %d", resp.StatusCode)
	}
	c := dial(t, base+"/rt/")
	connect(t, c, "/", "")
}

// persistCounter counts the sessions the adapter was asked to store.
type persistCounter struct {
	socketio.Adapter
	n atomic.Int32
}

func (a *persistCounter) PersistSession(ctx context.Context, st *socketio.SessionState) error {
	a.n.Add(1)
	return a.Adapter.PersistSession(ctx, st)
}

// TestServerCloseStoresTheSessionFirst: when the server closes a session's
// transport (a drain, a shed), the sockets' recoverable state is stored
// before the close, so a client that reconnects to another server at once
// finds it; it is stored once.
func TestServerCloseStoresTheSessionFirst(t *testing.T) {
	var adapter *persistCounter
	srv, url := newServer(t, socketio.Options{
		Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: time.Minute},
		Adapter: func(nsp *socketio.Namespace) socketio.Adapter {
			adapter = &persistCounter{Adapter: socketio.NewMemoryAdapter(nsp)}
			return adapter
		},
	})
	disconnected := make(chan string, 1)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.OnDisconnect(func(reason string) { disconnected <- reason })
	})
	c := dial(t, url)
	connect(t, c, "/", "")
	sessions := srv.Engine().Sessions()
	if len(sessions) != 1 {
		t.Fatalf("%d engine sessions", len(sessions))
	}
	sessions[0].Close()
	if n := adapter.n.Load(); n != 1 {
		t.Fatalf("%d sessions stored when Close returned, want 1 (before the client sees the close)", n)
	}
	select {
	case reason := <-disconnected:
		if reason != engineio.ReasonForcedClose {
			t.Fatalf("disconnect reason %q", reason)
		}
	case <-time.After(wait):
		t.Fatal("no disconnect")
	}
	if n := adapter.n.Load(); n != 1 {
		t.Fatalf("%d sessions stored in all, want 1", n)
	}
}

// TestBroadcastToLargeRoomFollowsMembership broadcasts to a room large
// enough for the adapter to keep its target list between broadcasts, and
// changes the room and the namespace's sockets in between: every broadcast
// reaches exactly the members of the moment. Each step ends with a marker
// sent to every socket, which a client not in the room sees first.
func TestBroadcastToLargeRoomFollowsMembership(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	const n = 70 // above the adapter's smallest kept room
	cs, ss := clients(t, srv, url, n)
	nsp := srv.Of("/")
	for _, s := range ss {
		s.Join("big")
	}
	var late *sioclient.Conn
	tests := []struct {
		name    string
		change  func(t *testing.T)
		missing []int // clients of cs not in the room
		late    bool  // the late client is in the room
	}{
		{"every member", func(*testing.T) {}, nil, false},
		{"again, nothing changed", func(*testing.T) {}, nil, false},
		{"a member left the room", func(*testing.T) { ss[0].Leave("big") }, []int{0}, false},
		{"it joined again and another disconnected", func(t *testing.T) {
			ss[0].Join("big")
			ss[1].Disconnect(false)
			if text, err := cs[1].NextText(within(t, wait)); err != nil || text != "1" { // DISCONNECT of "/"
				t.Fatalf("client 1: %q %v", text, err)
			}
		}, []int{1}, false},
		{"a new socket joined", func(t *testing.T) {
			socks := connected(nsp)
			late = dial(t, url)
			connect(t, late, "/", "")
			receive(t, socks).Join("big")
		}, []int{1}, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change(t)
			event := "step" + itoa(uint64(i))
			if err := nsp.To("big").Emit("m", event); err != nil {
				t.Fatal(err)
			}
			if err := nsp.Emit("marker", event); err != nil {
				t.Fatal(err)
			}
			check := func(name string, c *sioclient.Conn, member bool) {
				t.Helper()
				if member {
					if text, err := c.NextText(within(t, wait)); err != nil || text != `2["m","`+event+`"]` {
						t.Fatalf("%s: got %q (%v), want the room's broadcast", name, text, err)
					}
				}
				if text, err := c.NextText(within(t, wait)); err != nil || text != `2["marker","`+event+`"]` {
					t.Fatalf("%s: got %q (%v), want the marker", name, text, err)
				}
			}
			for j, c := range cs {
				if j == 1 && slices.Contains(tt.missing, 1) {
					continue // disconnected from the namespace: no marker either
				}
				check("client "+itoa(uint64(j)), c, !slices.Contains(tt.missing, j))
			}
			if late != nil {
				check("late client", late, tt.late)
			}
		})
	}
}
