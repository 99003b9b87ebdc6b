package redisadapter

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// The streams adapter (@socket.io/redis-streams-adapter 0.3) speaks the
// ClusterAdapter envelope of the sharded adapter, with other encodings:
// Pub/Sub messages are @msgpack/msgpack maps of the whole envelope, stream
// entries carry uid, nsp, type and data fields, data being
// JSON.stringify(message.data), or base64 of its msgpack when it holds
// binary. Map keys keep the order Node writes them in, so that what Go
// writes is byte for byte what Node writes (golden-streams.txt).

// kv is one entry of an orderedMap.
type kv struct {
	key   string
	value any
}

// orderedMap is a JSON object or msgpack map whose keys keep their order.
type orderedMap []kv

// EncodeMsgpack writes the map with its keys in order.
func (m orderedMap) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeMapLen(len(m)); err != nil {
		return err
	}
	for _, e := range m {
		if err := enc.EncodeString(e.key); err != nil {
			return err
		}
		if err := enc.Encode(e.value); err != nil {
			return err
		}
	}
	return nil
}

// MarshalJSON writes the object with its keys in order, like
// JSON.stringify (no HTML escaping).
func (m orderedMap) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, e := range m {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := marshalJSON(e.key)
		if err != nil {
			return nil, err
		}
		v, err := marshalJSON(e.value)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshalJSON is json.Marshal without HTML escaping, as JSON.stringify.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// streamData is the data of a message in the key order of Node's
// ClusterAdapter for its type.
func streamData(typ int, d *shardedData) (orderedMap, error) {
	var m orderedMap
	add := func(k string, v any) { m = append(m, kv{k, v}) }
	requestID := func() {
		if d.RequestID != "" {
			add("requestId", d.RequestID)
		}
	}
	switch typ {
	case msgBroadcast:
		add("packet", d.Packet)
		requestID()
		add("opts", d.Opts)
	case msgSocketsJoin, msgSocketsLeave:
		add("opts", d.Opts)
		add("rooms", nonNil(d.Rooms))
	case msgDisconnectSockets:
		add("opts", d.Opts)
		add("close", d.Close != nil && *d.Close)
	case msgFetchSockets:
		add("opts", d.Opts)
		requestID()
	case msgFetchSocketsResponse:
		requestID()
		sockets, err := socketsValue(nonNilSockets(d.Sockets))
		if err != nil {
			return nil, err
		}
		add("sockets", sockets)
	case msgServerSideEmit:
		requestID()
		add("packet", d.Packet)
	case msgServerSideEmitResponse, msgBroadcastAck:
		requestID()
		add("packet", d.Packet)
	case msgBroadcastClientCount:
		requestID()
		n := 0
		if d.ClientCount != nil {
			n = *d.ClientCount
		}
		add("clientCount", n)
	default:
		return nil, fmt.Errorf("message type %d has no data", typ)
	}
	return m, nil
}

// socketsValue turns socket descriptions into generic values (their JSON
// form), which msgpack encodes as Node's objects.
func socketsValue(sockets []socketio.SocketInfo) ([]any, error) {
	b, err := json.Marshal(sockets)
	if err != nil {
		return nil, fmt.Errorf("sockets: %w", err)
	}
	return jsonToValues(b, nil)
}

// encodeStreamMessage is the Pub/Sub payload of a message: the @msgpack map
// {type, data, uid, nsp}.
func encodeStreamMessage(m shardedMessage) ([]byte, error) {
	env := orderedMap{{"type", m.Type}}
	if m.Data != nil {
		data, err := streamData(m.Type, m.Data)
		if err != nil {
			return nil, err
		}
		env = append(env, kv{"data", data})
	}
	env = append(env, kv{"uid", m.UID}, kv{"nsp", m.NSP})
	return marshalMsgpack(env)
}

// mayHoldBinary lists the types whose data Node encodes as msgpack when it
// holds binary.
func mayHoldBinary(typ int) bool {
	switch typ {
	case msgBroadcast, msgFetchSocketsResponse, msgServerSideEmit, msgServerSideEmitResponse, msgBroadcastAck:
		return true
	}
	return false
}

// encodeStreamEntry returns the fields of the stream entry of a message, in
// Node's order: uid, nsp, type and data (omitted without data). Data is
// JSON, or base64 of msgpack when it holds binary and plaintext is false;
// with plaintext, binary becomes Node's JSON form of a Buffer.
func encodeStreamEntry(m shardedMessage, plaintext bool) ([]any, error) {
	fields := []any{"uid", m.UID, "nsp", m.NSP, "type", strconv.Itoa(m.Type)}
	if m.Data == nil {
		return fields, nil
	}
	data, err := streamData(m.Type, m.Data)
	if err != nil {
		return nil, err
	}
	binary := containsBytes(m.Data.Packet)
	var payload string
	switch {
	case binary && !plaintext && mayHoldBinary(m.Type):
		b, err := marshalMsgpack(data)
		if err != nil {
			return nil, fmt.Errorf("encode data: %w", err)
		}
		payload = base64.StdEncoding.EncodeToString(b)
	default:
		if binary {
			for i := range data {
				data[i].value = bufferJSON(data[i].value)
			}
		}
		b, err := marshalJSON(data)
		if err != nil {
			return nil, fmt.Errorf("encode data: %w", err)
		}
		payload = string(b)
	}
	return append(fields, "data", payload), nil
}

// bufferJSON replaces binary values by JSON.stringify's form of a Node
// Buffer, {"type":"Buffer","data":[bytes]}.
func bufferJSON(v any) any {
	switch x := v.(type) {
	case []byte:
		ints := make([]int, len(x))
		for i, c := range x {
			ints[i] = int(c)
		}
		return orderedMap{{"type", "Buffer"}, {"data", ints}}
	case wirePacket:
		return orderedMap{{"type", x.Type}, {"data", bufferJSON(x.Data)}}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = bufferJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = bufferJSON(e)
		}
		return out
	}
	return v
}

// streamEntry is the fields of a stream entry as Node writes them.
type streamEntry struct {
	UID, NSP, Type, Data string
}

// streamEntryOf reads the fields of an entry read from Redis; ok is false
// for an entry without nsp, which Node's readers skip.
func streamEntryOf(values map[string]any) (e streamEntry, ok bool) {
	str := func(k string) string {
		s, _ := values[k].(string)
		return s
	}
	nsp, ok := values["nsp"].(string)
	return streamEntry{UID: str("uid"), NSP: nsp, Type: str("type"), Data: str("data")}, ok && nsp != ""
}

// decodeStreamEntry decodes a stream entry into its typed message. Data is
// JSON when it starts with "{", else base64 of msgpack; the msgpack goes
// through the bound check of unmarshalMsgpack.
func decodeStreamEntry(e streamEntry) (shardedMessage, error) {
	typ, err := strconv.Atoi(e.Type)
	if err != nil {
		return shardedMessage{}, fmt.Errorf("stream entry type %q: %w", e.Type, err)
	}
	env := envelope{Type: typ, UID: e.UID, NSP: e.NSP}
	switch {
	case e.Data == "":
	case e.Data[0] == '{':
		if env.Data, err = jsonObject([]byte(e.Data)); err != nil {
			return shardedMessage{}, fmt.Errorf("stream entry data: %w", err)
		}
	default:
		b, err := base64.StdEncoding.DecodeString(e.Data)
		if err != nil {
			if b, err = base64.RawStdEncoding.DecodeString(e.Data); err != nil {
				return shardedMessage{}, fmt.Errorf("stream entry data: %w", err)
			}
		}
		var data any
		if err := unmarshalMsgpack(b, &data); err != nil {
			return shardedMessage{}, fmt.Errorf("stream entry data: %w", err)
		}
		var ok bool
		if env.Data, ok = normalize(data).(map[string]any); !ok && data != nil {
			return shardedMessage{}, fmt.Errorf("stream entry data: %T, not a map", data)
		}
	}
	return typedMessage(env)
}

// encodeStreamSession is a persisted session as Node stores it: base64 of
// the @msgpack map {sid, pid, rooms, data}.
func encodeStreamSession(s *socketio.SessionState) (string, error) {
	var data any = map[string]any{}
	if s.Data != nil {
		raw, err := json.Marshal(s.Data)
		if err != nil {
			return "", fmt.Errorf("session data: %w", err)
		}
		v, err := jsonToValues(append(append([]byte("["), raw...), ']'), nil)
		if err != nil {
			return "", fmt.Errorf("session data: %w", err)
		}
		data = v[0]
	}
	b, err := marshalMsgpack(orderedMap{{"sid", s.ID}, {"pid", s.PID}, {"rooms", nonNil(s.Rooms)}, {"data", data}})
	if err != nil {
		return "", fmt.Errorf("encode session: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// decodeStreamSession reads a session stored by a Node or Go server; its
// data comes back as JSON.
func decodeStreamSession(stored string) (*socketio.SessionState, error) {
	b, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	var raw struct {
		SID   string `msgpack:"sid"`
		PID   string `msgpack:"pid"`
		Rooms []any  `msgpack:"rooms"`
		Data  any    `msgpack:"data"`
	}
	if err := unmarshalMsgpack(b, &raw); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if raw.SID == "" || raw.PID == "" {
		return nil, errors.New("session: no sid or pid")
	}
	s := &socketio.SessionState{ID: raw.SID, PID: raw.PID, Rooms: stringsOf(raw.Rooms)}
	if raw.Data != nil {
		data, err := json.Marshal(normalize(raw.Data))
		if err != nil {
			return nil, fmt.Errorf("session data: %w", err)
		}
		s.Data = json.RawMessage(data)
	}
	return s, nil
}

// streamNameOf is the stream of a namespace: name when count is 1, else
// name-(hashCode(nsp) % count) with Java's String.hashCode over UTF-16 code
// units, which can be negative (as Node computes it; readers only read the
// streams 0 to count-1).
func streamNameOf(name string, count int, nsp string) string {
	if count <= 1 {
		return name
	}
	var h int32
	for _, c := range utf16.Encode([]rune(nsp)) {
		h = h*31 + int32(c)
	}
	return name + "-" + strconv.Itoa(int(h%int32(count)))
}

// nextStreamID is the id right after id ("<ms>-<seq+1>"), for exclusive
// ranges.
func nextStreamID(id string) (string, error) {
	ms, seq, ok := parseStreamID(id)
	if !ok {
		return "", fmt.Errorf("stream id %q", id)
	}
	if seq == ^uint64(0) {
		return strconv.FormatUint(ms+1, 10) + "-0", nil
	}
	return strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq+1, 10), nil
}

// parseStreamID reads "<ms>-<seq>" (both decimal, as /^[0-9]+-[0-9]+$/).
func parseStreamID(id string) (ms, seq uint64, ok bool) {
	i := bytes.IndexByte([]byte(id), '-')
	if i <= 0 || i == len(id)-1 {
		return 0, 0, false
	}
	for _, c := range []byte(id[:i] + id[i+1:]) {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
	}
	ms, err1 := strconv.ParseUint(id[:i], 10, 64)
	seq, err2 := strconv.ParseUint(id[i+1:], 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}
