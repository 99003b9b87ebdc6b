package sioclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// echoServer serves "/" (echo: emits "echo" with the arguments; ask: acks
// with the arguments; ask-client: asks the client and emits its answer;
// bye: disconnects) and "/private" (refuses without auth).
func echoServer(t *testing.T) string {
	t.Helper()
	srv := socketio.NewServer(socketio.Options{})
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(ctx context.Context, ev *socketio.Event) {
			args := make([]any, len(ev.Args()))
			for i, a := range ev.Args() {
				args[i] = a
			}
			_ = s.Emit("echo", args...)
		})
		s.On("ask", func(ctx context.Context, ev *socketio.Event) {
			var b []byte
			_ = ev.Bind(&b)
			_ = ev.Ack("got", b)
		})
		s.On("ask-client", func(context.Context, *socketio.Event) {
			// EmitWithAck blocks: not on the socket's handler goroutine.
			go func() {
				ctx, cancel := context.WithTimeout(s.Context(), sioclient.Quiet)
				defer cancel()
				answer, err := s.EmitWithAck(ctx, "question", 1)
				if err != nil {
					_ = s.Emit("answer", "none")
					return
				}
				_ = s.Emit("answer", answer[0])
			}()
		})
		s.On("echo-binary", func(ctx context.Context, ev *socketio.Event) {
			var b []byte
			_ = ev.Bind(&b)
			_ = s.Emit("echo-binary", b)
		})
		s.On("bye", func(ctx context.Context, ev *socketio.Event) { s.Disconnect(false) })
	})
	srv.Of("/private").Use(func(ctx context.Context, s *socketio.Socket) error {
		if string(s.Handshake().Auth) == "{}" {
			return &socketio.ConnectError{Message: "no auth"}
		}
		return nil
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close(context.Background())
		ts.Close()
	})
	return ts.URL
}

func TestEventLayer(t *testing.T) {
	url := echoServer(t)
	for _, tr := range []sioclient.Transport{sioclient.WebSocket, sioclient.Polling} {
		t.Run(string(tr), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), sioclient.Guard)
			defer cancel()
			c, err := sioclient.ConnectContext(ctx, url, sioclient.Options{Transport: tr})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(c.ID) != 20 {
				t.Fatalf("socket id %q", c.ID)
			}
			if err := c.Emit("echo", 1, "two"); err != nil {
				t.Fatal(err)
			}
			c.Expect(t, `42["echo",1,"two"]`)
			c.ExpectNothing(t)

			args, err := c.EmitWithAck(ctx, "ask", []byte{1, 2})
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			if len(args) != 2 || string(args[0]) != `"got"` || json.Unmarshal(args[1], &got) != nil ||
				string(got) != "\x01\x02" {
				t.Fatalf("ack args %s", args)
			}

			if err := c.Emit("ask-client"); err != nil {
				t.Fatal(err)
			}
			question, err := c.Next(ctx)
			if err != nil || question.Name != "question" || question.Wire[:2] != "42" {
				t.Fatalf("question %+v %v", question, err)
			}
			c.Expect(t, `42["answer","none"]`)
			c.AnswerAcks(func(sioclient.Event) []any { return []any{"yes"} })
			if err := c.Emit("ask-client"); err != nil {
				t.Fatal(err)
			}
			c.Expect(t, `42["answer","yes"]`)

			if err := c.Emit("bye"); err != nil {
				t.Fatal(err)
			}
			c.Expect(t, sioclient.Disconnected)
			<-c.Closed()
			if !c.ServerDisconnected() {
				t.Fatal("DISCONNECT not recorded")
			}
		})
	}
}

func TestConnectAnswersWithTheSocketID(t *testing.T) {
	srv := socketio.NewServer(socketio.Options{})
	connected := make(chan struct{}, 1)
	srv.Of("/").OnConnection(func(*socketio.Socket) { connected <- struct{}{} })
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close(context.Background())
		ts.Close()
	})
	c := sioclient.Connect(t, ts.URL, "x=1")
	<-connected
	ctx, cancel := context.WithTimeout(context.Background(), sioclient.Guard)
	defer cancel()
	acks, err := srv.Of("/").Timeout(sioclient.Guard).EmitWithAck(ctx, "who", []byte{7})
	if err != nil || len(acks) != 1 || string(acks[0]) != `"`+c.ID+`"` {
		t.Fatalf("acks %s %v", acks, err)
	}
	if err := srv.Of("/").Emit("bin", []byte{7}); err != nil {
		t.Fatal(err)
	}
	c.Expect(t, `451-["bin",{"_placeholder":true,"num":0}]`)
}

func TestConnectError(t *testing.T) {
	url := echoServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), sioclient.Guard)
	defer cancel()
	_, err := sioclient.ConnectContext(ctx, url, sioclient.Options{Namespace: "/private"})
	var ce *sioclient.ConnectError
	if !errors.As(err, &ce) || ce.Message != "no auth" {
		t.Fatalf("err = %v", err)
	}
	c, err := sioclient.ConnectContext(ctx, url, sioclient.Options{Namespace: "/private", Auth: map[string]string{"k": "v"},
		Transport: sioclient.Polling})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestRawLayer(t *testing.T) {
	url := echoServer(t)
	for _, tr := range []sioclient.Transport{sioclient.WebSocket, sioclient.Polling} {
		t.Run(string(tr), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), sioclient.Guard)
			defer cancel()
			c, err := sioclient.Dial(ctx, url+"/socket.io/", sioclient.Options{Transport: tr})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.SID == "" || c.Open == "" {
				t.Fatalf("open packet %q", c.Open)
			}
			if err := c.Send("0"); err != nil {
				t.Fatal(err)
			}
			if text, err := c.NextText(ctx); err != nil || text[:2] != "0{" {
				t.Fatalf("CONNECT reply %q %v", text, err)
			}
			if err := c.Send(`51-["echo-binary",{"_placeholder":true,"num":0}]`); err != nil {
				t.Fatal(err)
			}
			if err := c.SendBinary([]byte{9, 8}); err != nil {
				t.Fatal(err)
			}
			p, err := c.NextPacket(ctx)
			if err != nil || len(p.Attachments) != 1 || string(p.Attachments[0]) != "\x09\x08" {
				t.Fatalf("echoed packet %+v %v", p, err)
			}
			c.ExpectNothing(t)
			if err := c.SendEngineIO("1"); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitClosed(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
