package adminui_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/runtime/adminui"
	"github.com/socketfleet/socketfleet/runtime/redisadapter"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds every wait; it is a failure guard, not a speed assertion.
const guard = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func hash(t *testing.T, password string) []byte {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNewRefusesBadOptions(t *testing.T) {
	good := hash(t, "secret")
	cases := []struct {
		name string
		opts adminui.Options
		want string
	}{
		{"no username", adminui.Options{PasswordHash: good}, "a username is required"},
		{"no hash", adminui.Options{Username: "admin"}, "valid bcrypt hash"},
		{"plain password", adminui.Options{Username: "admin", PasswordHash: []byte("secret")}, "valid bcrypt hash"},
		{"relative namespace", adminui.Options{NoAuth: true, Namespace: "admin"}, "must start with /"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adminui.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, opts := range []adminui.Options{{Username: "admin", PasswordHash: good}, {NoAuth: true}} {
		if _, err := adminui.New(opts); err != nil {
			t.Errorf("New(%+v): %v", opts, err)
		}
	}
}

// node is one Socket.IO server with the admin UI on a shared Redis.
type node struct {
	srv  *socketio.Server
	http *httptest.Server
	ui   *adminui.UI
}

func startNode(t *testing.T, redisAddr, serverID string, opts adminui.Options) *node {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, MaxRetries: 1, DialTimeout: time.Second})
	cluster := redisadapter.New(rdb, redisadapter.Options{RequestsTimeout: 2 * time.Second, Logger: quiet})
	opts.ServerID, opts.StatsInterval, opts.Logger = serverID, 100*time.Millisecond, quiet
	ui, err := adminui.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := socketio.NewServer(socketio.Options{Adapter: ui.WrapAdapter(cluster.Adapter), Logger: quiet})
	ui.Start(context.Background(), srv)
	ui.Observe(srv.Of("/"))
	n := &node{srv: srv, http: httptest.NewServer(srv), ui: ui}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		_ = srv.Close(ctx)
		ui.Close()
		n.http.Close()
		_ = cluster.Close()
		_ = rdb.Close()
	})
	return n
}

func dial(t *testing.T, n *node, nsp string, auth any) (*sioclient.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := sioclient.ConnectContext(ctx, n.http.URL+"/socket.io/", sioclient.Options{Namespace: nsp, Auth: auth})
	if err == nil {
		t.Cleanup(c.Close)
	}
	return c, err
}

// waitEvent returns the first event named name whose arguments satisfy ok,
// skipping the others.
func waitEvent(t *testing.T, c *sioclient.Client, name string, ok func(args []json.RawMessage) bool) []json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for {
		ev, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", name, err)
		}
		if ev.Name == name && (ok == nil || ok(ev.Args)) {
			return ev.Args
		}
	}
}

func TestAuthentication(t *testing.T) {
	r := redisserver.Start(t, "")
	n := startNode(t, r.Addr, "a", adminui.Options{Username: "admin", PasswordHash: hash(t, "s3cret")})
	cases := []struct {
		name string
		auth any
		ok   bool
	}{
		{"no auth", nil, false},
		{"wrong password", map[string]string{"username": "admin", "password": "nope"}, false},
		{"wrong username", map[string]string{"username": "root", "password": "s3cret"}, false},
		{"unknown session", map[string]string{"sessionId": "0123456789abcdef"}, false},
		{"username not a string", map[string]int{"username": 5}, false},
		{"credentials", map[string]string{"username": "admin", "password": "s3cret"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dial(t, n, "/admin", tc.auth)
			if !tc.ok {
				var ce *sioclient.ConnectError
				if !errors.As(err, &ce) || ce.Message != "invalid credentials" {
					t.Fatalf("connect: %v, want connect_error invalid credentials", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var sid string
			if err := json.Unmarshal(waitEvent(t, c, "session", nil)[0], &sid); err != nil || len(sid) != 16 {
				t.Fatalf("session id %q (%v)", sid, err)
			}
			var cfg struct {
				SupportedFeatures []string `json:"supportedFeatures"`
			}
			if err := json.Unmarshal(waitEvent(t, c, "config", nil)[0], &cfg); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(cfg.SupportedFeatures, ","); got != "EMIT,JOIN,LEAVE,DISCONNECT,MJOIN,MLEAVE,MDISCONNECT,AGGREGATED_EVENTS,ALL_EVENTS" {
				t.Errorf("supportedFeatures %s", got)
			}
			// The session id alone logs in again (the UI's reconnection).
			if _, err := dial(t, n, "/admin", map[string]string{"sessionId": sid}); err != nil {
				t.Errorf("reconnect with the session id: %v", err)
			}
		})
	}
}

func TestReadOnlyAdvertisesNoOperation(t *testing.T) {
	r := redisserver.Start(t, "")
	n := startNode(t, r.Addr, "a", adminui.Options{NoAuth: true, ReadOnly: true})
	admin, err := dial(t, n, "/admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(waitEvent(t, admin, "config", nil)[0]); got != `{"supportedFeatures":["AGGREGATED_EVENTS","ALL_EVENTS"]}` {
		t.Errorf("config %s", got)
	}
	client, err := dial(t, n, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Emit("_disconnect", "/", false, ""); err != nil {
		t.Fatal(err)
	}
	// The stats after the operation still count the client.
	waitEvent(t, admin, "server_stats", nil)
	waitEvent(t, admin, "server_stats", func(a []json.RawMessage) bool { return strings.Contains(string(a[0]), `"clientsCount":2`) })
	select {
	case <-client.Closed():
		t.Fatal("a read-only admin UI disconnected a socket")
	default:
	}
}

// TestAcrossServers: an admin socket on one server sees the sockets, rooms
// and stats of the other and acts on its sockets, through Redis.
func TestAcrossServers(t *testing.T) {
	r := redisserver.Start(t, "")
	opts := adminui.Options{NoAuth: true}
	a := startNode(t, r.Addr, "server-a", opts)
	b := startNode(t, r.Addr, "server-b", opts)

	early, err := dial(t, b, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := dial(t, a, "/admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	earlyID := early.ID

	// all_sockets lists the socket connected to the other server.
	all := waitEvent(t, admin, "all_sockets", nil)
	var listed []struct {
		ID, Nsp, Transport string
		Rooms              []string
		Handshake          struct{ Address string }
	}
	if err := json.Unmarshal(all[0], &listed); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range listed {
		if s.ID == earlyID && s.Nsp == "/" && s.Transport == "websocket" && s.Handshake.Address == "127.0.0.1" {
			found = true
		}
	}
	if !found {
		t.Fatalf("all_sockets %s does not list %s of server-b", all[0], earlyID)
	}

	// server_stats of both servers reach the admin socket.
	seen := map[string]bool{}
	for len(seen) < 2 {
		args := waitEvent(t, admin, "server_stats", nil)
		var st struct {
			ServerID     string `json:"serverId"`
			ClientsCount int    `json:"clientsCount"`
			Namespaces   []struct {
				Name         string
				SocketsCount int
			}
		}
		if err := json.Unmarshal(args[0], &st); err != nil {
			t.Fatal(err)
		}
		seen[st.ServerID] = true
	}
	if !seen["server-a"] || !seen["server-b"] {
		t.Fatalf("server_stats from %v", seen)
	}

	// A socket connecting to server-b is reported to the admin on server-a.
	late, err := dial(t, b, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	lateID := late.ID
	waitEvent(t, admin, "socket_connected", func(args []json.RawMessage) bool {
		return strings.Contains(string(args[0]), fmt.Sprintf(`"id":%q`, lateID))
	})

	// join across servers, then room_joined.
	if err := admin.Emit("join", "/", "blue", lateID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, admin, "room_joined", func(args []json.RawMessage) bool {
		return string(args[0]) == `"/"` && string(args[1]) == `"blue"` && string(args[2]) == fmt.Sprintf("%q", lateID)
	})
	if err := admin.Emit("leave", "/", "blue", lateID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, admin, "room_left", func(args []json.RawMessage) bool {
		return string(args[1]) == `"blue"` && string(args[2]) == fmt.Sprintf("%q", lateID)
	})

	// emit to one socket of the other server.
	if err := admin.Emit("emit", "/", lateID, "hello", 1, "two"); err != nil {
		t.Fatal(err)
	}
	late.Expect(t, `42["hello",1,"two"]`)

	// _disconnect of the early socket only.
	if err := admin.Emit("_disconnect", "/", false, earlyID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, admin, "socket_disconnected", func(args []json.RawMessage) bool {
		return string(args[1]) == fmt.Sprintf("%q", earlyID) && string(args[2]) == `"server namespace disconnect"`
	})
	select {
	case <-early.Closed():
	case <-time.After(guard):
		t.Fatal("the disconnected socket's connection stayed open")
	}
	// An unknown namespace is ignored, and is not created.
	if err := admin.Emit("_disconnect", "/nope", true, ""); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, admin, "server_stats", nil)
	for _, ns := range b.srv.Namespaces() {
		if ns.Name() == "/nope" {
			t.Error("an operation created the namespace /nope")
		}
	}
	select {
	case <-late.Closed():
		t.Fatal("the other socket was disconnected too")
	default:
	}
	if a.ui.Dropped() != 0 || b.ui.Dropped() != 0 {
		t.Errorf("dropped events: %d, %d", a.ui.Dropped(), b.ui.Dropped())
	}
}

// TestEventsForwarded: with Options.Events the events of a socket on another
// server reach the admin socket (event_received, event_sent); without it,
// none does.
func TestEventsForwarded(t *testing.T) {
	for _, forward := range []bool{true, false} {
		t.Run(fmt.Sprint("events=", forward), func(t *testing.T) {
			r := redisserver.Start(t, "")
			opts := adminui.Options{NoAuth: true, Events: forward}
			a := startNode(t, r.Addr, "server-a", opts)
			b := startNode(t, r.Addr, "server-b", opts)
			b.srv.Of("/").OnConnection(func(s *socketio.Socket) {
				s.On("ping", func(context.Context, *socketio.Event) { _ = s.Emit("pong", 2) })
			})
			admin, err := dial(t, a, "/admin", nil)
			if err != nil {
				t.Fatal(err)
			}
			waitEvent(t, admin, "config", nil)
			client, err := dial(t, b, "/", nil)
			if err != nil {
				t.Fatal(err)
			}
			waitEvent(t, admin, "socket_connected", nil)
			if err := client.Emit("ping", 1); err != nil {
				t.Fatal(err)
			}
			client.Expect(t, `42["pong",2]`)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			got := map[string]string{}
			for ctx.Err() == nil && len(got) < 2 {
				ev, err := admin.Next(ctx)
				if err != nil {
					break
				}
				if ev.Name == "event_received" || ev.Name == "event_sent" {
					got[ev.Name] = string(ev.Args[2])
				}
			}
			if !forward {
				if len(got) != 0 {
					t.Fatalf("events forwarded without Options.Events: %v", got)
				}
				return
			}
			if got["event_received"] != `["ping",1]` || got["event_sent"] != `["pong",2]` {
				t.Fatalf("forwarded %v", got)
			}
		})
	}
}
