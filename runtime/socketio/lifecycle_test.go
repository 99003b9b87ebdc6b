package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/socketfleet/socketfleet/runtime/socketio"
)

func TestSocketAfterDisconnect(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	socks := connected(srv.Of("/"))
	handled := make(chan string, 4)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("ev", func(ctx context.Context, ev *socketio.Event) { handled <- ev.Name })
		s.On("42", func(ctx context.Context, ev *socketio.Event) { handled <- "numeric " + ev.Name })
	})
	c := dial(t, url)
	connect(t, c, "/", "")
	s := receive(t, socks)
	send(t, c, `2[42,"x"]`)
	if h := receive(t, handled); h != "numeric 42" {
		t.Fatalf("handled %q", h)
	}
	s.Disconnect(false)
	c.Expect(t, "1")
	if s.Context().Err() == nil {
		t.Fatal("socket context not cancelled")
	}
	if err := s.Emit("late"); !errors.Is(err, socketio.ErrDisconnected) {
		t.Fatalf("emit after disconnect: %v", err)
	}
	if _, err := s.EmitWithAck(context.Background(), "late"); !errors.Is(err, socketio.ErrDisconnected) {
		t.Fatalf("emit with ack after disconnect: %v", err)
	}
	s.Join("late-room")
	if rooms := s.Rooms(); len(rooms) != 0 {
		t.Fatalf("rooms after disconnect: %v", rooms)
	}
	send(t, c, `2["ev"]`) // no socket on "/" any more: ignored
	c.ExpectNothing(t)
	select {
	case h := <-handled:
		t.Fatalf("event handled after disconnect: %q", h)
	default:
	}
}

func TestDuplicateConnectReplacesSocket(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	socks := connected(srv.Of("/"))
	reasons := make(chan string, 2)
	srv.Of("/").OnConnection(func(s *socketio.Socket) { s.OnDisconnect(func(r string) { reasons <- r }) })
	c := dial(t, url)
	first := connect(t, c, "/", "")
	old := receive(t, socks)
	second := connect(t, c, "/", "")
	receive(t, socks)
	if first["sid"] == second["sid"] {
		t.Fatal("same sid")
	}
	if r := receive(t, reasons); r != socketio.ReasonClientNamespaceDisconnect || old.Connected() {
		t.Fatalf("old socket: %q %v", r, old.Connected())
	}
	if n := srv.Of("/").SocketCount(); n != 1 {
		t.Fatalf("sockets = %d", n)
	}
}

func TestRoomHooksThroughFactory(t *testing.T) {
	var mu sync.Mutex
	var events []string
	factory := func(nsp *socketio.Namespace) socketio.Adapter {
		return socketio.NewMemoryAdapterWith(nsp, socketio.MemoryAdapterOptions{
			OnCreateRoom: func(room string) {
				if len(room) != 20 {
					mu.Lock()
					events = append(events, "create "+room)
					mu.Unlock()
				}
			},
			OnDeleteRoom: func(room string) {
				if len(room) != 20 {
					mu.Lock()
					events = append(events, "delete "+room)
					mu.Unlock()
				}
			},
		})
	}
	srv, url := newServer(t, socketio.Options{Adapter: factory})
	_, ss := clients(t, srv, url, 2)
	ss[0].Join("r")
	ss[1].Join("r")
	if !srv.Of("/").Adapter().(*socketio.MemoryAdapter).HasRoom("r") {
		t.Fatal("HasRoom")
	}
	ss[0].Leave("r")
	ss[1].Disconnect(false)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(events, ",") != "create r,delete r" {
		t.Fatalf("events = %v", events)
	}
}

func TestConcurrentBroadcasts(t *testing.T) {
	srv, url := newServer(t, socketio.Options{})
	cs, ss := clients(t, srv, url, 4)
	nsp := srv.Of("/")
	for _, s := range ss {
		s.Join("all-a", "all-b")
	}
	const senders, perSender = 4, 25
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perSender; i++ {
				// Two overlapping rooms: each socket must get it once.
				if err := nsp.To("all-a", "all-b").Emit("m", g, i); err != nil {
					t.Error(err)
				}
				ss[g%len(ss)].Join(fmt.Sprintf("churn-%d", i))
				ss[g%len(ss)].Leave(fmt.Sprintf("churn-%d", i))
			}
		}()
	}
	wg.Wait()
	for ci, c := range cs {
		seen := map[string]bool{}
		for n := 0; n < senders*perSender; n++ {
			text, err := c.NextText(within(t, wait))
			if err != nil {
				t.Fatalf("client %d after %d: %v", ci, n, err)
			}
			var all []json.RawMessage
			if err := json.Unmarshal([]byte(text[1:]), &all); err != nil {
				t.Fatal(err)
			}
			key := string(all[1]) + "/" + string(all[2])
			if seen[key] {
				t.Fatalf("client %d got %s twice", ci, key)
			}
			seen[key] = true
		}
		c.ExpectNothing(t)
	}
}
