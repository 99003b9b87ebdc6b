package redisadapter

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Message types of the sharded adapter (socket.io-adapter's ClusterAdapter
// MessageType enum).
const (
	msgBroadcast              = 3
	msgSocketsJoin            = 4
	msgSocketsLeave           = 5
	msgDisconnectSockets      = 6
	msgFetchSockets           = 7
	msgFetchSocketsResponse   = 8
	msgServerSideEmit         = 9
	msgServerSideEmitResponse = 10
	msgBroadcastClientCount   = 11
	msgBroadcastAck           = 12
)

// shardedMessage is a ClusterMessage of the sharded adapter: {type, data,
// uid, nsp}, JSON, or msgpack when the packet holds binary.
type shardedMessage struct {
	Type int          `json:"type" msgpack:"type"`
	Data *shardedData `json:"data,omitempty" msgpack:"data,omitempty"`
	UID  string       `json:"uid" msgpack:"uid"`
	NSP  string       `json:"nsp" msgpack:"nsp"`
}

// shardedData is the data of every message type; each type uses some of
// the fields.
type shardedData struct {
	// Packet is the broadcast packet (msgBroadcast: a wire packet), the
	// event and its arguments (msgServerSideEmit: [event, ...args]) or one
	// acknowledgement argument (the two response types).
	Packet      any                   `json:"packet" msgpack:"packet"`
	RequestID   string                `json:"requestId,omitempty" msgpack:"requestId,omitempty"`
	Opts        *wireOpts             `json:"opts,omitempty" msgpack:"opts,omitempty"`
	Rooms       []string              `json:"rooms,omitempty" msgpack:"rooms,omitempty"`
	Close       *bool                 `json:"close,omitempty" msgpack:"close,omitempty"`
	Sockets     []socketio.SocketInfo `json:"sockets,omitempty" msgpack:"sockets,omitempty"`
	ClientCount *int                  `json:"clientCount,omitempty" msgpack:"clientCount,omitempty"`
}

// encodeShardedMessage writes JSON, or msgpack when the packet holds binary
// (as Node does for the types that may carry it).
func encodeShardedMessage(m shardedMessage) ([]byte, error) {
	if m.Data != nil && containsBytes(m.Data.Packet) {
		return marshalMsgpack(&m)
	}
	return json.Marshal(m)
}

// decodeShardedMessage reads a JSON or msgpack message into its typed form
// (Data never nil)
// and checks what its type needs: Node fails on join, leave, disconnect,
// fetch or broadcast messages without opts, so "all sockets" is never
// assumed.
func decodeShardedMessage(payload []byte) (shardedMessage, error) {
	env, err := decodeEnvelope(payload)
	if err != nil {
		return shardedMessage{}, err
	}
	return typedMessage(env)
}

// typedMessage types the data of a decoded envelope (Data never nil) and
// checks what its type needs.
func typedMessage(env envelope) (shardedMessage, error) {
	d := env.Data
	m := shardedMessage{Type: env.Type, UID: env.UID, NSP: env.NSP, Data: &shardedData{Packet: d["packet"]}}
	if v, ok := d["requestId"]; ok {
		if m.Data.RequestID, ok = v.(string); !ok {
			return m, fmt.Errorf("requestId: %T, not a string", v)
		}
	}
	if v, ok := d["opts"]; ok {
		o, ok := v.(map[string]any)
		if !ok {
			return m, fmt.Errorf("opts: %T, not an object", v)
		}
		m.Data.Opts = optsFromMap(o)
	}
	if v, ok := d["rooms"]; ok {
		m.Data.Rooms = stringsOf(v)
	}
	if c, ok := d["close"].(bool); ok {
		m.Data.Close = &c
	}
	if v, ok := d["sockets"]; ok {
		b, err := json.Marshal(v)
		if err == nil {
			err = json.Unmarshal(b, &m.Data.Sockets)
		}
		if err != nil {
			return m, fmt.Errorf("sockets: %w", err)
		}
	}
	if n, ok := toInt64(d["clientCount"]); ok {
		c := int(n)
		m.Data.ClientCount = &c
	}
	if m.Type == msgBroadcast && m.Data.Packet != nil {
		wp, err := m.Data.broadcastPacket()
		if err != nil {
			return m, err
		}
		m.Data.Packet = wp
	}
	switch m.Type {
	case msgBroadcast, msgSocketsJoin, msgSocketsLeave, msgDisconnectSockets, msgFetchSockets:
		if m.Data.Opts == nil {
			return m, fmt.Errorf("message of type %d without opts", m.Type)
		}
	}
	return m, nil
}

// broadcastPacket reads the wire packet of a broadcast message.
func (d *shardedData) broadcastPacket() (wirePacket, error) {
	switch p := d.Packet.(type) {
	case wirePacket:
		return p, nil
	case map[string]any:
		args, _ := p["data"].([]any)
		return wirePacket{Type: 2, Data: args}, nil
	}
	return wirePacket{}, errors.New("broadcast without packet")
}

// envelope is a ClusterMessage decoded into generic values ([]byte for
// binary, int64/float64 for numbers), before decodeShardedMessage types it.
type envelope struct {
	Type int            `json:"type" msgpack:"type"`
	Data map[string]any `json:"data,omitempty" msgpack:"data,omitempty"`
	UID  string         `json:"uid" msgpack:"uid"`
	NSP  string         `json:"nsp" msgpack:"nsp"`
}

// decodeEnvelope reads a JSON or msgpack envelope into generic values.
func decodeEnvelope(payload []byte) (envelope, error) {
	var env envelope
	if len(payload) > 0 && payload[0] == '{' {
		var raw struct {
			Type int             `json:"type"`
			Data json.RawMessage `json:"data"`
			UID  string          `json:"uid"`
			NSP  string          `json:"nsp"`
		}
		if err := json.Unmarshal(payload, &raw); err != nil {
			return env, fmt.Errorf("envelope: %w", err)
		}
		env = envelope{Type: raw.Type, UID: raw.UID, NSP: raw.NSP}
		if len(raw.Data) > 0 {
			var err error
			if env.Data, err = jsonObject(raw.Data); err != nil {
				return env, fmt.Errorf("envelope data: %w", err)
			}
		}
		return env, nil
	}
	if err := unmarshalMsgpack(payload, &env); err != nil {
		return env, fmt.Errorf("envelope: %w", err)
	}
	// Nested msgpack maps decode with interface keys.
	env.Data, _ = normalize(env.Data).(map[string]any)
	return env, nil
}

// jsonObject decodes a JSON object (or null) into generic values, integers
// kept as integers.
func jsonObject(data []byte) (map[string]any, error) {
	if !json.Valid(data) {
		return nil, errors.New("invalid JSON")
	}
	v, err := jsonToValues(append(append([]byte("["), data...), ']'), nil)
	if err != nil {
		return nil, err
	}
	if len(v) != 1 {
		return nil, fmt.Errorf("%d values, want one object", len(v))
	}
	m, ok := v[0].(map[string]any)
	if !ok && v[0] != nil {
		return nil, fmt.Errorf("%T, not an object", v[0])
	}
	return m, nil
}

func containsBytes(v any) bool {
	switch x := v.(type) {
	case []byte:
		return true
	case []any:
		for _, e := range x {
			if containsBytes(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if containsBytes(e) {
				return true
			}
		}
	case wirePacket:
		return containsBytes(x.Data)
	}
	return false
}

// optsFromMap reads wire BroadcastOptions from a decoded message.
func optsFromMap(m map[string]any) *wireOpts {
	o := &wireOpts{Rooms: stringsOf(m["rooms"]), Except: stringsOf(m["except"])}
	if flags, ok := m["flags"].(map[string]any); ok {
		o.Flags = &wireFlags{}
		o.Flags.Volatile, _ = flags["volatile"].(bool)
		if c, ok := flags["compress"].(bool); ok {
			o.Flags.Compress = &c
		}
		o.Flags.Timeout, _ = toInt64(flags["timeout"])
	}
	return o
}

// stringsOf reads a list of room names (numbers allowed, as Node allows).
func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// toInt64 reads an integer decoded from JSON or msgpack (whose decoder
// picks the smallest Go integer type).
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), true
	case float64:
		return int64(x), x == float64(int64(x))
	}
	return 0, false
}
