package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/publish"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	sio      string // Socket.IO URL
	api      string // publish URL
	mu       sync.Mutex
	codes    []int
	timeouts int
	partials int
}

// start serves Socket.IO and the publish API; clients join the room named in
// their auth payload.
func start(t *testing.T, token string) *fixture {
	t.Helper()
	return startWith(t, token, nil, nil)
}

// startWith is start with the server's adapter factory (nil: in-memory) and
// the publish API's Degraded function.
func startWith(t *testing.T, token string, adapter socketio.AdapterFactory, degraded func() string) *fixture {
	t.Helper()
	f := &fixture{}
	srv := socketio.NewServer(socketio.Options{Adapter: adapter})
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		var auth struct {
			Room string `json:"room"`
		}
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		if auth.Room != "" {
			s.Join(auth.Room)
		}
		// The CONNECT reply precedes this handler: clients wait for this ack
		// to know that they joined their room.
		s.On("ready", func(_ context.Context, ev *socketio.Event) { _ = ev.Ack() })
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.Handle(publish.Path, publish.Handler(publish.Options{
		Server:       srv,
		Token:        token,
		MaxBodyBytes: 4096,
		OnResult:     func(code int) { f.mu.Lock(); f.codes = append(f.codes, code); f.mu.Unlock() },
		OnAckTimeout: func() { f.mu.Lock(); f.timeouts++; f.mu.Unlock() },
		Degraded:     degraded,
		OnPartial:    func() { f.mu.Lock(); f.partials++; f.mu.Unlock() },
	}))
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = srv.Close(context.Background())
		hs.Close()
	})
	f.sio, f.api = hs.URL+"/socket.io/", hs.URL+publish.Path
	return f
}

func (f *fixture) client(t *testing.T, room string) *sioclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sioclient.ConnectContext(ctx, f.sio, sioclient.Options{Auth: map[string]string{"room": room}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if _, err := c.EmitWithAck(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	return c
}

func post(t *testing.T, url, method, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestRequestValidation(t *testing.T) {
	f := start(t, "s3cret")
	const ok = "Bearer s3cret"
	tests := []struct {
		name, method, auth, body string
		code                     int
		want                     string
	}{
		{"no token", "POST", "", `{"event":"x"}`, 401, `{"error":"unauthorized"}`},
		{"wrong token", "POST", "Bearer nope", `{"event":"x"}`, 401, `{"error":"unauthorized"}`},
		{"basic auth", "POST", "Basic czNjcmV0", `{"event":"x"}`, 401, `{"error":"unauthorized"}`},
		{"GET", "GET", ok, ``, 405, `{"error":"use POST"}`},
		{"invalid JSON", "POST", ok, `{`, 400, `invalid JSON body`},
		{"unknown field", "POST", ok, `{"event":"x","room":"a"}`, 400, `unknown field \"room\"`},
		{"trailing data", "POST", ok, `{"event":"x"} {}`, 400, `trailing data`},
		{"missing event", "POST", ok, `{"rooms":["a"]}`, 400, `{"error":"\"event\" is required"}`},
		{"reserved event", "POST", ok, `{"event":"disconnect"}`, 400, `reserved event name`},
		{"unknown namespace", "POST", ok, `{"namespace":"/nope","event":"x"}`, 404, `{"error":"unknown namespace \"/nope\""}`},
		{"bad ack timeout", "POST", ok, `{"event":"x","ackTimeout":"forever"}`, 400, `ackTimeout \"forever\"`},
		{"too large", "POST", ok, `{"event":"x","args":["` + strings.Repeat("a", 5000) + `"]}`, 413, `body larger than 4096 bytes`},
		{"no clients", "POST", ok, `{"event":"x","rooms":["empty"]}`, 200, `{"ok":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, f.api, tt.method, tt.auth, tt.body)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("got %d %s, want %d containing %s", code, body, tt.code, tt.want)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.codes) != len(tests) || f.codes[0] != 401 {
		t.Errorf("observed codes %v", f.codes)
	}
}

func TestDeliveryToARoom(t *testing.T) {
	f := start(t, "s3cret")
	members := []*sioclient.Client{f.client(t, "order:42"), f.client(t, "order:42"), f.client(t, "order:42")}
	other := f.client(t, "order:7")

	code, body := post(t, f.api, "POST", "Bearer s3cret",
		`{"rooms":["order:42"],"event":"order:update","args":[{"status":"shipped"},3]}`)
	if code != 200 || body != `{"ok":true}` {
		t.Fatalf("got %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, c := range members {
		ev, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		if ev.Name != "order:update" || len(ev.Args) != 2 || string(ev.Args[0]) != `{"status":"shipped"}` || string(ev.Args[1]) != "3" {
			t.Errorf("member %d got %s %s", i, ev.Name, ev.Args)
		}
	}
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	if ev, err := other.Next(short); err == nil {
		t.Errorf("a client of another room got %s", ev.Name)
	}
}

func TestBinaryArguments(t *testing.T) {
	f := start(t, "s3cret")
	c := f.client(t, "files")
	tests := []struct {
		name, args, wire string
		attachments      []string
	}{
		{"top level", `[{"$binary":"AQID/w=="}]`, `451-["file",{"_placeholder":true,"num":0}]`, []string{"\x01\x02\x03\xff"}},
		{"nested and empty", `[{"name":"a","parts":[{"$binary":""},{"$binary":"Bw=="}]}]`,
			`452-["file",{"name":"a","parts":[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]}]`, []string{"", "\x07"}},
		{"escaped data", `[{"$literal":{"$binary":"not binary"}}]`, `42["file",{"$binary":"not binary"}]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, f.api, "POST", "Bearer s3cret", `{"rooms":["files"],"event":"file","args":`+tt.args+`}`)
			if code != 200 {
				t.Fatalf("got %d %s", code, body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ev, err := c.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := ev.Check(tt.wire, tt.attachments...); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, bad := range []string{`[{"$binary":"%%"}]`, `[{"$binary":"AQ=="},{"_placeholder":true,"num":0}]`} {
		if code, body := post(t, f.api, "POST", "Bearer s3cret", `{"event":"file","args":`+bad+`}`); code != 400 || !strings.Contains(body, "args[") {
			t.Errorf("%s: got %d %s, want 400 naming the argument", bad, code, body)
		}
	}
}

func TestAckRoundTripAndTimeout(t *testing.T) {
	f := start(t, "s3cret")
	answering := f.client(t, "poll")
	answering.AnswerAcks(func(ev sioclient.Event) []any { return []any{map[string]any{"vote": "yes"}} })
	f.client(t, "poll") // never answers

	code, body := post(t, f.api, "POST", "Bearer s3cret", `{"rooms":["poll"],"event":"vote","ackTimeout":"300ms"}`)
	if code != 200 {
		t.Fatalf("got %d %s", code, body)
	}
	var resp publish.Response
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.TimedOut || len(resp.Acks) != 1 || string(resp.Acks[0]) != `{"vote":"yes"}` {
		t.Errorf("response %s", body)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timeouts != 1 {
		t.Errorf("ack timeouts observed %d, want 1", f.timeouts)
	}
}

func TestNoTokenConfigured(t *testing.T) {
	f := start(t, "")
	if code, body := post(t, f.api, "POST", "", `{"event":"x"}`); code != 200 {
		t.Errorf("got %d %s", code, body)
	}
}

// clusterLink simulates a cluster adapter's link to Redis: while down,
// publishing to the other servers fails; known is set once a failure was
// observed (what the adapter health monitor does).
type clusterLink struct {
	down, known atomic.Bool
	remote      atomic.Int32 // publish attempts to the other servers
}

func (l *clusterLink) degraded() string {
	if l.known.Load() {
		return "redis unavailable: delivered to this pod's clients only"
	}
	return ""
}

// publish is one attempt to reach the other servers.
func (l *clusterLink) publish() error {
	l.remote.Add(1)
	if l.down.Load() {
		l.known.Store(true)
		return errors.New("redis: connection refused")
	}
	return nil
}

// linkedAdapter is the in-memory adapter with the cluster adapter's
// behaviour on a failed publish: a plain broadcast is delivered locally
// anyway, an acknowledged one fails before delivering anything.
type linkedAdapter struct {
	socketio.Adapter
	link *clusterLink
}

func (a *linkedAdapter) Broadcast(p *parser.Packet, opts socketio.BroadcastOptions) error {
	if !opts.Flags.Local {
		_ = a.link.publish()
	}
	return a.Adapter.Broadcast(p, opts)
}

func (a *linkedAdapter) BroadcastWithAck(ctx context.Context, p *parser.Packet, opts socketio.BroadcastOptions,
	clientCount func(n int), ack func(arg json.RawMessage)) error {
	if !opts.Flags.Local {
		if err := a.link.publish(); err != nil { // as the Redis adapters do: local delivery, partial
			if err := a.Adapter.BroadcastWithAck(ctx, p, opts, clientCount, ack); err != nil {
				return err
			}
			return fmt.Errorf("%w: %w", socketio.ErrPartialBroadcast, err)
		}
	}
	return a.Adapter.BroadcastWithAck(ctx, p, opts, clientCount, ack)
}

// TestPartialDelivery: while the cluster link is down the API delivers to
// its own clients, exactly once, hands the emit to the adapter (which keeps
// it for the other servers, or not), and answers "partial".
func TestPartialDelivery(t *testing.T) {
	tests := []struct {
		name        string
		down, known bool // link down; failure already observed
		body        string
		partial     bool
		acks        int
		remote      int32 // publish attempts expected
	}{
		{"up", false, false, `{"rooms":["r"],"event":"m","args":[1]}`, false, 0, 1},
		{"up with acks", false, false, `{"rooms":["r"],"event":"m","ackTimeout":"2s"}`, false, 1, 1},
		{"known down", true, true, `{"rooms":["r"],"event":"m","args":[1]}`, true, 0, 1},
		{"known down with acks", true, true, `{"rooms":["r"],"event":"m","ackTimeout":"2s"}`, true, 1, 1},
		{"goes down during the emit", true, false, `{"rooms":["r"],"event":"m","args":[1]}`, true, 0, 1},
		{"goes down during an emit with acks", true, false, `{"rooms":["r"],"event":"m","ackTimeout":"2s"}`, true, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link := &clusterLink{}
			f := startWith(t, "", func(nsp *socketio.Namespace) socketio.Adapter {
				return &linkedAdapter{Adapter: socketio.NewMemoryAdapter(nsp), link: link}
			}, link.degraded)
			c := f.client(t, "r")
			c.AnswerAcks(func(sioclient.Event) []any { return []any{"got it"} })
			link.down.Store(tt.down)
			link.known.Store(tt.known)

			code, body := post(t, f.api, "POST", "", tt.body)
			var resp publish.Response
			if err := json.Unmarshal([]byte(body), &resp); code != 200 || err != nil {
				t.Fatalf("got %d %s", code, body)
			}
			if !resp.OK || resp.Partial != tt.partial || (resp.Reason != "") != tt.partial || len(resp.Acks) != tt.acks {
				t.Errorf("response %s", body)
			}
			if got := link.remote.Load(); got != tt.remote {
				t.Errorf("%d publish attempts to the other servers, want %d", got, tt.remote)
			}
			if tt.acks == 0 {
				// With acks, the client's one ack proves the one delivery.
				c.Expect(t, `42["m",1]`)
				c.ExpectNothing(t) // delivered once
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if want := map[bool]int{true: 1}[tt.partial]; f.partials != want {
				t.Errorf("OnPartial called %d times, want %d", f.partials, want)
			}
		})
	}
}
