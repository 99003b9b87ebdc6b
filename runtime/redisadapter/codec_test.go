package redisadapter

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Golden vectors recorded from two Node socket.io 4.8.4 servers with
// @socket.io/redis-adapter 8.3.0 (docs/redis-wire.md).
const (
	goldenBroadcastAll   = "93a64c694649514683a47479706502a46461746194a568656c6c6f01a374776f81a5746872656503a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"
	goldenBroadcastBin   = "93a64c694649514683a47479706502a46461746192a362696ec403010203a36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365707490a5666c61677380"
	goldenBroadcastFlags = "93a64c694649514683a47479706502a46461746192a56d756c7469a178a36e7370a12f83a5726f6f6d7392a5726f6f6d31a5726f6f6d32a665786365707491a5726f6f6d33a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c2"
	goldenAckRequest     = "85a3756964a64c6946495146a9726571756573744964a6466d42524b4aa47479706507a67061636b657483a47479706502a46461746192a661636b2d6d65a171a36e7370a12fa46f70747383a5726f6f6d7390a665786365707490a5666c61677381a774696d656f7574cd03e8"
	goldenAckResponse    = "83a47479706509a9726571756573744964a6466d42524b4aa67061636b6574ac61636b2066726f6d20634231"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eventPacket(t *testing.T, args ...any) *parser.Packet {
	t.Helper()
	data, att, err := parser.EncodeArgs(args...)
	if err != nil {
		t.Fatal(err)
	}
	return &parser.Packet{Type: parser.Event, Namespace: "/", Data: data, Attachments: att}
}

func TestEncodeMatchesNode(t *testing.T) {
	no := false
	tests := []struct {
		name   string
		packet *parser.Packet
		opts   socketio.BroadcastOptions
		want   string
	}{
		{"broadcast to all", eventPacket(t, "hello", 1, "two", json.RawMessage(`{"three":3}`)), socketio.BroadcastOptions{}, goldenBroadcastAll},
		{"binary to one room", eventPacket(t, "bin", []byte{1, 2, 3}), socketio.BroadcastOptions{Rooms: []string{"room1"}}, goldenBroadcastBin},
		{"rooms, except, flags", eventPacket(t, "multi", "x"), socketio.BroadcastOptions{
			Rooms: []string{"room1", "room2"}, Except: []string{"room3"},
			Flags: socketio.BroadcastFlags{Volatile: true, Compress: &no}}, goldenBroadcastFlags},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wp, err := toWire(tt.packet, "/")
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshalMsgpack(&broadcastMessage{UID: "LiFIQF", Packet: wp, Opts: optsToWire(tt.opts, true)})
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tt.want {
				t.Fatalf("encoded\n got %x\nwant %s", got, tt.want)
			}
		})
	}

	wp, _ := toWire(eventPacket(t, "ack-me", "q"), "/")
	got, err := marshalMsgpack(&ackBroadcastRequest{UID: "LiFIQF", RequestID: "FmBRKJ", Type: reqBroadcast, Packet: wp,
		Opts: optsToWire(socketio.BroadcastOptions{Flags: socketio.BroadcastFlags{Timeout: 1000 * 1e6}}, true)})
	if err != nil || hex.EncodeToString(got) != goldenAckRequest {
		t.Fatalf("ack request\n got %x (%v)\nwant %s", got, err, goldenAckRequest)
	}
	got, err = marshalMsgpack(&ackResponse{Type: resBroadcastAck, RequestID: "FmBRKJ", Packet: "ack from cB1"})
	if err != nil || hex.EncodeToString(got) != goldenAckResponse {
		t.Fatalf("ack response\n got %x (%v)\nwant %s", got, err, goldenAckResponse)
	}
}

func TestDecodeNodeBroadcasts(t *testing.T) {
	var m broadcastMessage
	if err := unmarshalMsgpack(mustHex(t, goldenBroadcastBin), &m); err != nil {
		t.Fatal(err)
	}
	p, err := fromWire(m.Packet, "/")
	if err != nil {
		t.Fatal(err)
	}
	if m.UID != "LiFIQF" || len(m.Opts.Rooms) != 1 || m.Opts.Rooms[0] != "room1" {
		t.Fatalf("message %+v", m)
	}
	if string(p.Data) != `["bin",{"_placeholder":true,"num":0}]` || len(p.Attachments) != 1 || !bytes.Equal(p.Attachments[0], []byte{1, 2, 3}) {
		t.Fatalf("packet %s %v", p.Data, p.Attachments)
	}

	m = broadcastMessage{}
	if err := unmarshalMsgpack(mustHex(t, goldenBroadcastAll), &m); err != nil {
		t.Fatal(err)
	}
	if p, err = fromWire(m.Packet, "/"); err != nil || string(p.Data) != `["hello",1,"two",{"three":3}]` {
		t.Fatalf("packet %s (%v)", p.Data, err)
	}

	m = broadcastMessage{}
	if err := unmarshalMsgpack(mustHex(t, goldenBroadcastFlags), &m); err != nil {
		t.Fatal(err)
	}
	o := optsFromWire(&m.Opts)
	if !o.Flags.Volatile || o.Flags.Compress == nil || *o.Flags.Compress || len(o.Except) != 1 {
		t.Fatalf("opts %+v", o)
	}

	var req ackBroadcastRequest
	if err := unmarshalMsgpack(mustHex(t, goldenAckRequest), &req); err != nil || req.RequestID != "FmBRKJ" || req.Opts.Flags.Timeout != 1000 {
		t.Fatalf("ack request %+v (%v)", req, err)
	}
}

func TestParseChannel(t *testing.T) {
	c := &Cluster{opts: Options{Key: "socket.io"}}
	tests := []struct{ ch, kind, nsp, room string }{
		{"socket.io#/#", "broadcast", "/", ""},
		{"socket.io#/#room1#", "broadcast", "/", "room1"},
		{"socket.io#/custom#ZDzXBL6zlDV9BAg1AAAB#", "broadcast", "/custom", "ZDzXBL6zlDV9BAg1AAAB"},
		{"socket.io-request#/#", "request", "/", ""},
		{"socket.io-response#/chat#", "response", "/chat", ""},
		{"socket.io-response#/#LiFIQF#", "response", "/", ""},
	}
	for _, tt := range tests {
		kind, nsp, room, ok := c.parseChannel(tt.ch)
		if !ok || kind != tt.kind || nsp != tt.nsp || room != tt.room {
			t.Errorf("parseChannel(%q) = %q %q %q %v", tt.ch, kind, nsp, room, ok)
		}
	}
}

// FuzzDecodeBroadcast checks that no payload from Redis panics the decoder.
// FuzzDecodeBroadcast feeds the msgpack decoders of the classic adapter
// (broadcasts, acknowledged broadcasts and their acknowledgements) with
// arbitrary bytes: none may panic or allocate beyond what the input
// justifies (the run would die of it), and what they accept converts to a
// packet or fails with an error.
func FuzzDecodeBroadcast(f *testing.F) {
	for _, s := range []string{goldenBroadcastAll, goldenBroadcastBin, goldenBroadcastFlags, goldenAckRequest, goldenAckResponse} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Add([]byte(issue11Message))
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m broadcastMessage
		if unmarshalMsgpack(b, &m) == nil {
			_, _ = fromWire(m.Packet, "/")
		}
		var r ackBroadcastRequest
		if unmarshalMsgpack(b, &r) == nil {
			_, _ = fromWire(r.Packet, "/")
		}
		var a ackResponse
		if unmarshalMsgpack(b, &a) == nil {
			_, _ = json.Marshal(normalize(a.Packet))
		}
	})
}

// FuzzDecodeRequest feeds the JSON decoders of the classic adapter's
// request and response channels, and the event arguments they carry.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"uid":"LiFIQF","requestId":"FmBRKJ","type":5,"opts":{"rooms":["r"],"except":[]}}`,
		`{"uid":"LiFIQF","type":2,"opts":{"rooms":[],"except":[]},"rooms":["a","b"]}`,
		`{"uid":"LiFIQF","requestId":"x","type":6,"data":["ping",1,{"a":[true,null]}]}`,
		`{"type":8,"requestId":"FmBRKJ","clientCount":3}`,
		`{"requestId":"x","sockets":[{"id":"a","handshake":{},"rooms":["a"],"data":null}]}`,
		`{"requestId":"x","data":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req request
		if json.Unmarshal(b, &req) == nil && req.Data != nil {
			_, _ = parser.Args(req.Data, nil)
		}
		var res response
		_ = json.Unmarshal(b, &res)
	})
}

// FuzzDecodeEnvelope feeds the sharded adapter's envelope decoder (JSON or
// msgpack) and the packets it carries.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(mustHexF(f, goldenShardedBinary))
	f.Add([]byte(`{"type":3,"data":{"packet":{"type":2,"data":["m",1],"nsp":"/"},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"de9d9e8ad9c53754","nsp":"/"}`))
	f.Add([]byte(`{"type":9,"data":{"requestId":"a1","packet":["ev",{"x":1}]},"uid":"u","nsp":"/"}`))
	f.Add([]byte(issue11Message))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeShardedMessage(b)
		if err != nil || m.Data == nil {
			return
		}
		if wp, err := m.Data.broadcastPacket(); err == nil {
			_, _ = fromWire(wp, "/")
		}
		if _, err := encodeShardedMessage(m); err != nil {
			t.Fatalf("a decoded message does not encode: %v", err)
		}
	})
}

// TestDecodeNaNFromMsgpack: msgpack carries NaN and ±Infinity, JSON cannot;
// a Node server's notepack message with them is delivered as null (what
// JSON.stringify makes of them), never refused at re-encoding.
func TestDecodeNaNFromMsgpack(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), float32(math.Inf(-1))} {
		b, err := marshalMsgpack(map[string]any{
			"type": msgBroadcast, "uid": "u", "nsp": "/",
			"data": map[string]any{
				"packet": map[string]any{"type": 2, "nsp": "/", "data": []any{"m", v, []byte{1}}},
				"opts":   map[string]any{"rooms": []any{}, "except": []any{}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		m, err := decodeShardedMessage(b)
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		if _, err := encodeShardedMessage(m); err != nil {
			t.Fatalf("%v: a decoded message does not encode: %v", v, err)
		}
		wp, err := m.Data.broadcastPacket()
		if err != nil {
			t.Fatal(err)
		}
		p, err := fromWire(wp, "/")
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		if string(p.Data) != `["m",null,{"_placeholder":true,"num":0}]` {
			t.Fatalf("%v: packet %s", v, p.Data)
		}
	}
}

func mustHexF(f *testing.F, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// goldenShardedBinary is Node's sharded broadcast of a binary argument to
// room1: a notepack envelope (golden-sharded.txt).
const goldenShardedBinary = "84a47479706503a46461746182a67061636b657482a47479706502a46461746192a362696ec403010203a46f70747383a5726f6f6d7391a5726f6f6d31a665786365707490a5666c61677380a3756964b064653964396538616439633533373534a36e7370a12f"

func TestDecodeShardedMessage(t *testing.T) {
	m, err := decodeShardedMessage(mustHex(t, goldenShardedBinary))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != msgBroadcast || m.UID != "de9d9e8ad9c53754" || m.NSP != "/" || m.Data == nil {
		t.Fatalf("message %+v", m)
	}
	wp, err := m.Data.broadcastPacket()
	if err != nil {
		t.Fatal(err)
	}
	p, err := fromWire(wp, "/")
	if err != nil || string(p.Data) != `["bin",{"_placeholder":true,"num":0}]` || !bytes.Equal(p.Attachments[0], []byte{1, 2, 3}) {
		t.Fatalf("packet %s %v (%v)", p.Data, p.Attachments, err)
	}
	if o := optsFromWire(m.Data.Opts); len(o.Rooms) != 1 || o.Rooms[0] != "room1" || len(o.Except) != 0 {
		t.Fatalf("opts %+v", o)
	}

	json := []byte(`{"type":11,"data":{"requestId":"26c684df60e0847d","clientCount":2},"uid":"0aebd59e7bd95802","nsp":"/"}`)
	m, err = decodeShardedMessage(json)
	if err != nil || m.Type != msgBroadcastClientCount || m.Data.RequestID != "26c684df60e0847d" || m.Data.ClientCount == nil || *m.Data.ClientCount != 2 {
		t.Fatalf("JSON message %+v (%v)", m, err)
	}
}
