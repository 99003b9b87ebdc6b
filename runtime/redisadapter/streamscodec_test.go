package redisadapter

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Golden vectors of @socket.io/redis-streams-adapter 0.3.1, recorded from
// two Node socket.io 4.8.4 servers (reference/redis-adapter/golden-streams.txt
// and xrange-streams.txt).
const (
	goldenStreamUID       = "a6a3431159d83aae"
	goldenStreamBinary    = "gqZwYWNrZXSCpHR5cGUCpGRhdGGSo2JpbsQDAQIDpG9wdHODpXJvb21zkaVyb29tMaZleGNlcHSQpWZsYWdzgA=="
	goldenStreamAckBcast  = "84a47479706503a46461746183a67061636b657482a47479706502a46461746192a661636b2d6d65a171a9726571756573744964b062323334663761356633663964336463a46f70747383a5726f6f6d7390a665786365707490a5666c61677381a774696d656f7574cd03e8a3756964b061366133343331313539643833616165a36e7370a12f"
	goldenStreamCount     = "84a4747970650ba46461746182a9726571756573744964b062323334663761356633663964336463ab636c69656e74436f756e7402a3756964b066396530316461373864653566663066a36e7370a12f"
	goldenStreamAck       = "84a4747970650ca46461746182a9726571756573744964b062323334663761356633663964336463a67061636b6574ac61636b2066726f6d20634231a3756964b066396530316461373864653566663066a36e7370a12f"
	goldenStreamFetch     = "84a47479706507a46461746182a46f70747383a5726f6f6d7390a665786365707490a5666c61677380a9726571756573744964b064613834303563343031316462666666a3756964b061366133343331313539643833616165a36e7370a12f"
	goldenStreamFetchRoom = "84a47479706507a46461746182a46f70747383a5726f6f6d7391a5726f6f6d31a665786365707490a5666c61677380a9726571756573744964b034646461336332656633633231623761a3756964b061366133343331313539643833616165a36e7370a12f"
	goldenStreamSSE       = "84a47479706509a46461746181a67061636b657493a670696e672d7301a161a3756964b061366133343331313539643833616165a36e7370a12f"
	goldenStreamSSEAck    = "84a47479706509a46461746182a9726571756573744964b031386439346165336130316534396361a67061636b657492a870696e672d61636b07a3756964b061366133343331313539643833616165a36e7370a12f"
	goldenStreamSSEResp   = "84a4747970650aa46461746182a9726571756573744964b031386439346165336130316534396361a67061636b6574b2706f6e672066726f6d203331303220283729a3756964b066396530316461373864653566663066a36e7370a12f"
)

func ptr[T any](v T) *T { return &v }

func wireOptsT(rooms, except []string, flags wireFlags) *wireOpts {
	return &wireOpts{Rooms: nonNil(rooms), Except: nonNil(except), Flags: &flags}
}

func TestStreamEntriesMatchNode(t *testing.T) {
	packet := func(args ...any) wirePacket { return wirePacket{Type: 2, Data: args} }
	tests := []struct {
		name string
		msg  shardedMessage
		want []string // XADD fields after the id, as recorded
	}{
		{"broadcast to all", shardedMessage{Type: msgBroadcast, UID: goldenStreamUID, NSP: "/", Data: &shardedData{
			Packet: packet("hello", int64(1), "two", map[string]any{"three": int64(3)}), Opts: wireOptsT(nil, nil, wireFlags{})}},
			[]string{"uid", goldenStreamUID, "nsp", "/", "type", "3", "data", `{"packet":{"type":2,"data":["hello",1,"two",{"three":3}]},"opts":{"rooms":[],"except":[],"flags":{}}}`}},
		{"binary to one room", shardedMessage{Type: msgBroadcast, UID: goldenStreamUID, NSP: "/", Data: &shardedData{
			Packet: packet("bin", []byte{1, 2, 3}), Opts: wireOptsT([]string{"room1"}, nil, wireFlags{})}},
			[]string{"uid", goldenStreamUID, "nsp", "/", "type", "3", "data", goldenStreamBinary}},
		{"rooms, except, flags", shardedMessage{Type: msgBroadcast, UID: goldenStreamUID, NSP: "/", Data: &shardedData{
			Packet: packet("multi", "x"), Opts: wireOptsT([]string{"room1", "room2"}, []string{"room3"}, wireFlags{Volatile: true, Compress: ptr(false)})}},
			[]string{"uid", goldenStreamUID, "nsp", "/", "type", "3", "data", `{"packet":{"type":2,"data":["multi","x"]},"opts":{"rooms":["room1","room2"],"except":["room3"],"flags":{"volatile":true,"compress":false}}}`}},
		{"custom namespace", shardedMessage{Type: msgBroadcast, UID: "fea9c86ca752141d", NSP: "/custom", Data: &shardedData{
			Packet: packet("c", int64(42)), Opts: wireOptsT(nil, nil, wireFlags{})}},
			[]string{"uid", "fea9c86ca752141d", "nsp", "/custom", "type", "3", "data", `{"packet":{"type":2,"data":["c",42]},"opts":{"rooms":[],"except":[],"flags":{}}}`}},
		{"socketsJoin", shardedMessage{Type: msgSocketsJoin, UID: goldenStreamUID, NSP: "/", Data: &shardedData{
			Opts: wireOptsT([]string{"room1"}, nil, wireFlags{}), Rooms: []string{"room9"}}},
			[]string{"uid", goldenStreamUID, "nsp", "/", "type", "4", "data", `{"opts":{"rooms":["room1"],"except":[],"flags":{}},"rooms":["room9"]}`}},
		{"socketsLeave", shardedMessage{Type: msgSocketsLeave, UID: goldenStreamUID, NSP: "/", Data: &shardedData{
			Opts: wireOptsT([]string{"room1"}, nil, wireFlags{}), Rooms: []string{"room9"}}},
			[]string{"uid", goldenStreamUID, "nsp", "/", "type", "5", "data", `{"opts":{"rooms":["room1"],"except":[],"flags":{}},"rooms":["room9"]}`}},
		{"disconnectSockets", shardedMessage{Type: msgDisconnectSockets, UID: goldenStreamUID, NSP: "/", Data: &shardedData{
			Opts: wireOptsT([]string{"room3"}, nil, wireFlags{}), Close: ptr(true)}},
			[]string{"uid", goldenStreamUID, "nsp", "/", "type", "6", "data", `{"opts":{"rooms":["room3"],"except":[],"flags":{}},"close":true}`}},
		{"missed while away", shardedMessage{Type: msgBroadcast, UID: goldenStreamUID, NSP: "/", Data: &shardedData{
			Packet: packet("missed", "while-away"), Opts: wireOptsT([]string{"room2"}, nil, wireFlags{})}},
			[]string{"uid", goldenStreamUID, "nsp", "/", "type", "3", "data", `{"packet":{"type":2,"data":["missed","while-away"]},"opts":{"rooms":["room2"],"except":[],"flags":{}}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, err := encodeStreamEntry(tt.msg, false)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(toStrings(fields), tt.want) {
				t.Fatalf("fields\n got %q\nwant %q", toStrings(fields), tt.want)
			}
			// Node's entry decodes into the message, which encodes back
			// into the same bytes.
			values := map[string]any{}
			for i := 0; i < len(tt.want); i += 2 {
				values[tt.want[i]] = tt.want[i+1]
			}
			e, ok := streamEntryOf(values)
			if !ok {
				t.Fatal("entry without nsp")
			}
			m, err := decodeStreamEntry(e)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			again, err := encodeStreamEntry(m, false)
			if err != nil || !reflect.DeepEqual(toStrings(again), tt.want) {
				t.Fatalf("decoded and encoded again\n got %q (%v)\nwant %q", toStrings(again), err, tt.want)
			}
		})
	}
}

func toStrings(v []any) []string {
	out := make([]string, len(v))
	for i, e := range v {
		out[i] = e.(string)
	}
	return out
}

func TestStreamPubSubMessagesMatchNode(t *testing.T) {
	const requester, responder = goldenStreamUID, "f9e01da78de5ff0f"
	tests := []struct {
		name string
		msg  shardedMessage
		want string
	}{
		{"broadcast with ack", shardedMessage{Type: msgBroadcast, UID: requester, NSP: "/", Data: &shardedData{
			Packet: wirePacket{Type: 2, Data: []any{"ack-me", "q"}}, RequestID: "b234f7a5f3f9d3dc",
			Opts: wireOptsT(nil, nil, wireFlags{Timeout: 1000})}}, goldenStreamAckBcast},
		{"client count", shardedMessage{Type: msgBroadcastClientCount, UID: responder, NSP: "/", Data: &shardedData{
			RequestID: "b234f7a5f3f9d3dc", ClientCount: ptr(2)}}, goldenStreamCount},
		{"client ack", shardedMessage{Type: msgBroadcastAck, UID: responder, NSP: "/", Data: &shardedData{
			RequestID: "b234f7a5f3f9d3dc", Packet: "ack from cB1"}}, goldenStreamAck},
		{"fetchSockets", shardedMessage{Type: msgFetchSockets, UID: requester, NSP: "/", Data: &shardedData{
			Opts: wireOptsT(nil, nil, wireFlags{}), RequestID: "da8405c4011dbfff"}}, goldenStreamFetch},
		{"fetchSockets in a room", shardedMessage{Type: msgFetchSockets, UID: requester, NSP: "/", Data: &shardedData{
			Opts: wireOptsT([]string{"room1"}, nil, wireFlags{}), RequestID: "4dda3c2ef3c21b7a"}}, goldenStreamFetchRoom},
		{"serverSideEmit", shardedMessage{Type: msgServerSideEmit, UID: requester, NSP: "/", Data: &shardedData{
			Packet: []any{"ping-s", int64(1), "a"}}}, goldenStreamSSE},
		{"serverSideEmit with ack", shardedMessage{Type: msgServerSideEmit, UID: requester, NSP: "/", Data: &shardedData{
			RequestID: "18d94ae3a01e49ca", Packet: []any{"ping-ack", int64(7)}}}, goldenStreamSSEAck},
		{"serverSideEmit answer", shardedMessage{Type: msgServerSideEmitResponse, UID: responder, NSP: "/", Data: &shardedData{
			RequestID: "18d94ae3a01e49ca", Packet: "pong from 3102 (7)"}}, goldenStreamSSEResp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeStreamMessage(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tt.want {
				t.Fatalf("encoded\n got %x\nwant %s", got, tt.want)
			}
			m, err := decodeShardedMessage(mustHex(t, tt.want))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			again, err := encodeStreamMessage(m)
			if err != nil || hex.EncodeToString(again) != tt.want {
				t.Fatalf("decoded and encoded again\n got %x (%v)\nwant %s", again, err, tt.want)
			}
		})
	}
}

// TestStreamFetchSocketsResponse checks Go's fetch answer against the start
// of Node's recorded one (the rest holds a handshake) and decodes it.
func TestStreamFetchSocketsResponse(t *testing.T) {
	in := shardedMessage{Type: msgFetchSocketsResponse, UID: "f9e01da78de5ff0f", NSP: "/", Data: &shardedData{
		RequestID: "da8405c4011dbfff", Sockets: []socketio.SocketInfo{{ID: "HXyQzNvr3ys1NeBtAAAC",
			Rooms: []string{"HXyQzNvr3ys1NeBtAAAC", "room1"}, Data: json.RawMessage(`{"port":3102}`)}}}}
	b, err := encodeStreamMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	// Node's recorded answer starts like this: {type:8, data:{requestId,
	// sockets:[{id,...}]}}.
	const nodePrefix = "84a47479706508a46461746182a9726571756573744964b064613834303563343031316462666666a7736f636b65747391"
	if !strings.HasPrefix(hex.EncodeToString(b), nodePrefix) {
		t.Fatalf("encoded %x\nwant prefix %s", b, nodePrefix)
	}
	m, err := decodeShardedMessage(b)
	if err != nil || len(m.Data.Sockets) != 1 || m.Data.Sockets[0].ID != "HXyQzNvr3ys1NeBtAAAC" ||
		string(m.Data.Sockets[0].Data) != `{"port":3102}` || len(m.Data.Sockets[0].Rooms) != 2 {
		t.Fatalf("decoded %+v (%v)", m.Data, err)
	}
}

func TestStreamSessionMatchesNode(t *testing.T) {
	s := &socketio.SessionState{ID: "HXyQzNvr3ys1NeBtAAAC", PID: "RgHLyxFrv1Cizu4KAAAD",
		Rooms: []string{"HXyQzNvr3ys1NeBtAAAC", "room1", "room2"},
		Data:  map[string]any{"port": 3102, "rooms": []string{"room1", "room2"}}}
	got, err := encodeStreamSession(s)
	if err != nil {
		t.Fatal(err)
	}
	// The recorded SET value starts with "hKNzaWS0SFh5" and decodes to this
	// map in this key order; @msgpack writes it so.
	want := "84" + "a3736964" + "b4" + hex.EncodeToString([]byte(s.ID)) + "a3706964" + "b4" + hex.EncodeToString([]byte(s.PID)) +
		"a5726f6f6d73" + "93" + "b4" + hex.EncodeToString([]byte(s.ID)) + "a5726f6f6d31" + "a5726f6f6d32" +
		"a464617461" + "82" + "a4706f7274" + "cd0c1e" + "a5726f6f6d73" + "92" + "a5726f6f6d31" + "a5726f6f6d32"
	raw, _ := base64.StdEncoding.DecodeString(got)
	if !strings.HasPrefix(got, "hKNzaWS0SFh5") || hex.EncodeToString(raw) != want {
		t.Fatalf("session %s = %x\nwant %s", got, raw, want)
	}
	back, err := decodeStreamSession(got)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != s.ID || back.PID != s.PID || !reflect.DeepEqual(back.Rooms, s.Rooms) ||
		string(back.Data.(json.RawMessage)) != `{"port":3102,"rooms":["room1","room2"]}` {
		t.Fatalf("decoded %+v", back)
	}
	// A socket without data is stored as Node's default, {}.
	got, _ = encodeStreamSession(&socketio.SessionState{ID: "a", PID: "b"})
	if back, err := decodeStreamSession(got); err != nil || string(back.Data.(json.RawMessage)) != `{}` || back.Rooms == nil {
		t.Fatalf("empty session %+v (%v)", back, err)
	}
}

func TestStreamNames(t *testing.T) {
	tests := []struct {
		nsp   string
		count int
		want  string
	}{
		{"/", 1, "socket.io"},
		{"/custom", 1, "socket.io"},
		{"/", 4, "socket.io-3"},
		{"/custom", 4, "socket.io-0"},
		{"/namespace-0", 4, "socket.io--1"}, // hashCode -1732195153: Node's negative remainder
		{"/é€😀", 3, "socket.io-" + fmt.Sprint(javaHash("/é€😀")%3)},
	}
	for _, tt := range tests {
		if got := streamNameOf("socket.io", tt.count, tt.nsp); got != tt.want {
			t.Errorf("streamNameOf(%q, %d) = %q, want %q", tt.nsp, tt.count, got, tt.want)
		}
	}
	if javaHash("/namespace-0") != -1732195153 {
		t.Fatalf("hash %d", javaHash("/namespace-0"))
	}
}

// javaHash is String.hashCode written over UTF-16 by hand (surrogate pairs
// as two units), to cross-check streamNameOf.
func javaHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = h*31 + int32(0xd800+(r>>10))
			h = h*31 + int32(0xdc00+(r&0x3ff))
			continue
		}
		h = h*31 + r
	}
	return h
}

func TestNextStreamID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1795385497359-0", "1795385497359-1"},
		{"1795385499593-0", "1795385499593-1"},
		{"5-18446744073709551615", "6-0"},
		{"x-1", ""}, {"1-", ""}, {"-1", ""}, {"1", ""}, {"1-2-3", ""}, {"+1-2", ""},
	}
	for _, tt := range tests {
		got, err := nextStreamID(tt.in)
		if (tt.want == "") != (err != nil) || got != tt.want {
			t.Errorf("nextStreamID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestUndecodableStreamEntries(t *testing.T) {
	tests := []struct {
		name  string
		entry streamEntry
	}{
		{"type not a number", streamEntry{UID: "u", NSP: "/", Type: "3x", Data: `{"packet":{"type":2,"data":["a"]},"opts":{"rooms":[],"except":[]}}`}},
		{"bad JSON", streamEntry{UID: "u", NSP: "/", Type: "3", Data: `{"packet":`}},
		{"JSON with trailing data", streamEntry{UID: "u", NSP: "/", Type: "4", Data: `{"opts":{}}]`}},
		{"not base64", streamEntry{UID: "u", NSP: "/", Type: "3", Data: "!!!"}},
		{"hostile msgpack", streamEntry{UID: "u", NSP: "/", Type: "3", Data: base64.StdEncoding.EncodeToString([]byte(issue11Message))}},
		{"msgpack not a map", streamEntry{UID: "u", NSP: "/", Type: "3", Data: base64.StdEncoding.EncodeToString([]byte{0x93, 1, 2, 3})}},
		{"join without opts", streamEntry{UID: "u", NSP: "/", Type: "4", Data: `{"rooms":["a"]}`}},
		{"broadcast without data", streamEntry{UID: "u", NSP: "/", Type: "3"}},
		{"broadcast packet not an object", streamEntry{UID: "u", NSP: "/", Type: "3", Data: `{"packet":1,"opts":{"rooms":[],"except":[]}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := decodeStreamEntry(tt.entry); err == nil {
				t.Fatalf("accepted: %+v", m.Data)
			}
		})
	}
	if _, ok := streamEntryOf(map[string]any{"uid": "u", "type": "3"}); ok {
		t.Fatal("an entry without nsp is not skipped")
	}
}

// FuzzDecodeStreamEntry feeds the stream entry decoder (JSON or base64
// msgpack data) and checks that what it accepts encodes again.
func FuzzDecodeStreamEntry(f *testing.F) {
	f.Add("3", `{"packet":{"type":2,"data":["hello",1,"two",{"three":3}]},"opts":{"rooms":[],"except":[],"flags":{}}}`)
	f.Add("3", goldenStreamBinary)
	f.Add("4", `{"opts":{"rooms":["room1"],"except":[],"flags":{}},"rooms":["room9"]}`)
	f.Add("6", `{"opts":{"rooms":["room3"],"except":[],"flags":{}},"close":true}`)
	f.Add("9", `{"packet":["ev",{"x":1}]}`)
	f.Add("3", base64.StdEncoding.EncodeToString([]byte(issue11Message)))
	f.Fuzz(func(t *testing.T, typ, data string) {
		m, err := decodeStreamEntry(streamEntry{UID: "u", NSP: "/", Type: typ, Data: data})
		if err != nil {
			return
		}
		if m.Data == nil {
			t.Fatal("decoded message without data")
		}
		if wp, err := m.Data.broadcastPacket(); err == nil {
			_, _ = fromWire(wp, "/")
		}
		if _, err := streamData(m.Type, m.Data); err != nil {
			return // a type without data of its own
		}
		if _, err := encodeStreamEntry(m, false); err != nil {
			t.Fatalf("a decoded entry does not encode: %v", err)
		}
		if _, err := encodeStreamEntry(m, true); err != nil {
			t.Fatalf("a decoded entry does not encode as plaintext: %v", err)
		}
	})
}

func TestOnlyPlaintextWritesBuffersAsNode(t *testing.T) {
	m := shardedMessage{Type: msgBroadcast, UID: "u", NSP: "/", Data: &shardedData{
		Packet: wirePacket{Type: 2, Data: []any{"bin", []byte{1, 2, 3}}}, Opts: wireOptsT([]string{"room1"}, nil, wireFlags{})}}
	fields, err := encodeStreamEntry(m, true)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"packet":{"type":2,"data":["bin",{"type":"Buffer","data":[1,2,3]}]},"opts":{"rooms":["room1"],"except":[],"flags":{}}}`
	if fields[7] != want {
		t.Fatalf("data %s\nwant %s", fields[7], want)
	}
}
