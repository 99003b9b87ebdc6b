package relay_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/runtime/relay"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type results struct {
	mu  sync.Mutex
	got []string
}

func (r *results) add(action, result string) {
	r.mu.Lock()
	r.got = append(r.got, action+":"+result)
	r.mu.Unlock()
}

func start(t *testing.T, opts relay.Options) string {
	t.Helper()
	srv := socketio.NewServer(socketio.Options{})
	rl := relay.New(opts)
	srv.Of("/").OnConnection(rl.Attach)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close(context.Background())
		hs.Close()
	})
	return hs.URL + "/socket.io/"
}

func connect(t *testing.T, url string) *sioclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sioclient.ConnectContext(ctx, url, sioclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ack(t *testing.T, c *sioclient.Client, event string, args ...any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := c.EmitWithAck(ctx, event, args...)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%s ack %v, want one argument", event, got)
	}
	return string(got[0])
}

func TestRelayPermissions(t *testing.T) {
	res := &results{}
	url := start(t, relay.Options{Rooms: []string{"chat:*"}, Events: []string{"msg", "typing"}, OnResult: res.add})
	a, b, outsider := connect(t, url), connect(t, url), connect(t, url)

	tests := []struct {
		name   string
		client *sioclient.Client
		event  string
		args   []any
		want   string
	}{
		{"join allowed", a, relay.EventJoin, []any{"chat:lobby"}, `{"ok":true}`},
		{"join allowed b", b, relay.EventJoin, []any{"chat:lobby"}, `{"ok":true}`},
		{"join outside patterns", a, relay.EventJoin, []any{"admin"}, `{"ok":false,"error":"room \"admin\" is not allowed"}`},
		{"pattern does not cross /", a, relay.EventJoin, []any{"chat:a/b"}, `{"ok":false,"error":"room \"chat:a/b\" is not allowed"}`},
		{"join another socket's room", a, relay.EventJoin, []any{b.ID}, `{"ok":false,"error":"room \"` + b.ID + `\" is not allowed"}`},
		{"join without room", a, relay.EventJoin, []any{42}, `{"ok":false,"error":"relay:join needs a room name (a non-empty string) as first argument"}`},
		{"emit to a room not joined", outsider, relay.EventEmit, []any{"chat:lobby", "msg", "hi"}, `{"ok":false,"error":"not in room \"chat:lobby\""}`},
		{"emit an event not allowed", a, relay.EventEmit, []any{"chat:lobby", "ban", "x"}, `{"ok":false,"error":"event \"ban\" may not be relayed"}`},
		{"emit without event", a, relay.EventEmit, []any{"chat:lobby"}, `{"ok":false,"error":"relay:emit needs (room, event, ...args)"}`},
		{"emit to a joined room", a, relay.EventEmit, []any{"chat:lobby", "msg", map[string]string{"text": "hello"}, 7}, `{"ok":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ack(t, tt.client, tt.event, tt.args...); got != tt.want {
				t.Errorf("ack = %s, want %s", got, tt.want)
			}
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := b.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Name != "msg" || len(ev.Args) != 2 || string(ev.Args[0]) != `{"text":"hello"}` || string(ev.Args[1]) != "7" {
		t.Errorf("b received %s %s", ev.Name, ev.Args)
	}

	// Neither the sender, nor the outsider, nor a member that left, gets
	// anything.
	if got := ack(t, a, relay.EventLeave, "chat:lobby"); got != `{"ok":true}` {
		t.Fatalf("leave ack %s", got)
	}
	if got := ack(t, b, relay.EventEmit, "chat:lobby", "msg", "after leave"); got != `{"ok":true}` {
		t.Fatalf("emit ack %s", got)
	}
	if got := ack(t, b, relay.EventJoin, "chat:other"); got != `{"ok":true}` {
		t.Fatalf("join ack %s", got)
	}
	shortCtx, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	for _, c := range []*sioclient.Client{a, outsider} {
		if ev, err := c.Next(shortCtx); err == nil {
			t.Errorf("a non-member received %s %s", ev.Name, ev.Args)
		}
	}

	res.mu.Lock()
	defer res.mu.Unlock()
	joined := strings.Join(res.got, " ")
	for _, want := range []string{"join:ok", "join:denied", "join:invalid", "emit:denied", "emit:invalid", "emit:ok", "leave:ok"} {
		if !strings.Contains(joined, want) {
			t.Errorf("results %q lack %q", joined, want)
		}
	}
}

func TestRelayKeepsBinary(t *testing.T) {
	url := start(t, relay.Options{Rooms: []string{"files"}, Events: []string{"file"}})
	a, b := connect(t, url), connect(t, url)
	for _, c := range []*sioclient.Client{a, b} {
		if got := ack(t, c, relay.EventJoin, "files"); got != `{"ok":true}` {
			t.Fatalf("join %s", got)
		}
	}
	tests := []struct {
		name        string
		args        []any
		wire        string
		attachments []string
	}{
		{"top level", []any{[]byte{1, 2, 3, 0xff}}, `451-["file",{"_placeholder":true,"num":0}]`, []string{"\x01\x02\x03\xff"}},
		{"nested after text", []any{"x", map[string]any{"part": []byte{}}, []any{[]byte("b")}},
			`452-["file","x",{"part":{"_placeholder":true,"num":0}},[{"_placeholder":true,"num":1}]]`, []string{"", "b"}},
		{"text only", []any{map[string]any{"$binary": "AQ=="}}, `42["file",{"$binary":"AQ=="}]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ack(t, a, relay.EventEmit, append([]any{"files", "file"}, tt.args...)...); got != `{"ok":true}` {
				t.Fatalf("emit ack %s", got)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ev, err := b.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := ev.Check(tt.wire, tt.attachments...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEventAllowed(t *testing.T) {
	r := relay.New(relay.Options{Rooms: []string{"*"}})
	for event, want := range map[string]bool{"chat": true, "disconnect": false, "connect": false, "x:y": true} {
		if got := r.EventAllowed(event); got != want {
			t.Errorf("EventAllowed(%q) = %v", event, got)
		}
	}
	if !r.RoomAllowed("anything") || r.RoomAllowed("a/b") {
		t.Error("RoomAllowed with *")
	}
}
