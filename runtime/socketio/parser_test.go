package socketio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// sendMsgpack writes p as the msgpack client does: one binary message.
func sendMsgpack(t *testing.T, c *sioclient.Conn, p *parser.Packet) {
	t.Helper()
	frames, err := parser.Msgpack.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendBinary(frames[0].Data); err != nil {
		t.Fatal(err)
	}
}

// nextMsgpack reads one packet the server wrote with the msgpack parser.
func nextMsgpack(t *testing.T, c *sioclient.Conn) *parser.Packet {
	t.Helper()
	m, err := c.Next(within(t, wait))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Binary {
		t.Fatalf("text message %q from a msgpack server", m.Data)
	}
	p, err := parser.Msgpack.NewDecoder(0).Decode(m.Data, true)
	if err != nil {
		t.Fatalf("decode %x: %v", m.Data, err)
	}
	return p
}

func TestMsgpackParser(t *testing.T) {
	srv, url := newServer(t, socketio.Options{Parser: parser.Msgpack})
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(_ context.Context, e *socketio.Event) {
			if e.WantsAck() {
				_ = e.Ack(e.Args().Any()...)
				return
			}
			_ = srv.Of("/").Emit("echo", e.Args().Any()...) // a broadcast, encoded once
		})
	})
	var clients [2]*sioclient.Conn
	for i := range clients {
		clients[i] = dial(t, url)
		sendMsgpack(t, clients[i], &parser.Packet{Type: parser.Connect, Namespace: "/"})
		if p := nextMsgpack(t, clients[i]); p.Type != parser.Connect || !bytes.Contains(p.Data, []byte(`"sid"`)) {
			t.Fatalf("connect reply %+v", p)
		}
	}
	data, attachments, err := parser.EncodeArgs("echo", "text", []byte{1, 2, 3}, map[string]any{"nested": []byte{0xff}})
	if err != nil {
		t.Fatal(err)
	}
	sendMsgpack(t, clients[0], &parser.Packet{Type: parser.Event, Namespace: "/", ID: 9, HasID: true, Data: data, Attachments: attachments})
	ack := nextMsgpack(t, clients[0])
	wantArgs := `["text",{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1}}]`
	if ack.Type != parser.Ack || ack.ID != 9 || string(ack.Data) != wantArgs || len(ack.Attachments) != 2 ||
		!bytes.Equal(ack.Attachments[0], []byte{1, 2, 3}) || !bytes.Equal(ack.Attachments[1], []byte{0xff}) {
		t.Fatalf("ack %+v (data %s)", ack, ack.Data)
	}
	sendMsgpack(t, clients[0], &parser.Packet{Type: parser.Event, Namespace: "/", Data: data, Attachments: attachments})
	for _, c := range clients {
		p := nextMsgpack(t, c)
		if p.Type != parser.Event || string(p.Data) != `["echo",`+wantArgs[1:] || !bytes.Equal(p.Attachments[0], []byte{1, 2, 3}) {
			t.Fatalf("broadcast %+v (data %s)", p, p.Data)
		}
	}
	if n := srv.ParserMismatches(); n != 0 {
		t.Fatalf("%d parser mismatches", n)
	}
}

// TestParserMismatch: a client of the other parser is counted and its
// session closed, in both directions.
func TestParserMismatch(t *testing.T) {
	tests := []struct {
		name   string
		server parser.Codec
		send   func(t *testing.T, c *sioclient.Conn)
	}{
		{"default client at a msgpack server", parser.Msgpack, func(t *testing.T, c *sioclient.Conn) { send(t, c, "0") }},
		{"msgpack client at a default server", parser.Default, func(t *testing.T, c *sioclient.Conn) {
			sendMsgpack(t, c, &parser.Packet{Type: parser.Connect, Namespace: "/"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := newServer(t, socketio.Options{Parser: tt.server})
			c := dial(t, url)
			tt.send(t, c)
			if err := c.WaitClosed(within(t, wait)); err != nil {
				t.Fatal(err)
			}
			if n := srv.ParserMismatches(); n != 1 {
				t.Fatalf("%d parser mismatches, want 1", n)
			}
			if srv.Parser() != tt.server {
				t.Fatalf("Parser() = %v", srv.Parser())
			}
		})
	}
	// A malformed packet of the right parser is no mismatch.
	srv, url := newServer(t, socketio.Options{Parser: parser.Msgpack})
	c := dial(t, url)
	if err := c.SendBinary(json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitClosed(within(t, wait)); err != nil {
		t.Fatal(err)
	}
	if n := srv.ParserMismatches(); n != 0 {
		t.Fatalf("%d parser mismatches, want 0", n)
	}
}
