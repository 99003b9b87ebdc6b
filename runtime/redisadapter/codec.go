package redisadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/socketfleet/socketfleet/runtime/msgpackcheck"
	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Request types of @socket.io/redis-adapter 8.3 (its RequestType enum).
const (
	reqSockets              = 0
	reqAllRooms             = 1
	reqRemoteJoin           = 2
	reqRemoteLeave          = 3
	reqRemoteDisconnect     = 4
	reqRemoteFetch          = 5
	reqServerSideEmit       = 6
	reqBroadcast            = 7
	resBroadcastClientCount = 8
	resBroadcastAck         = 9
)

// wirePacket is a Socket.IO packet as servers exchange it: always type 2,
// data [event, ...args] with binary as msgpack bin, and the namespace.
type wirePacket struct {
	Type int    `msgpack:"type" json:"type"`
	Data []any  `msgpack:"data" json:"data"`
	NSP  string `msgpack:"nsp,omitempty" json:"nsp,omitempty"`
}

// wireFlags are the broadcast flags on the wire; absent flags are omitted.
type wireFlags struct {
	Volatile             bool  `msgpack:"volatile,omitempty" json:"volatile,omitempty"`
	Compress             *bool `msgpack:"compress,omitempty" json:"compress,omitempty"`
	Timeout              int64 `msgpack:"timeout,omitempty" json:"timeout,omitempty"`
	ExpectSingleResponse bool  `msgpack:"expectSingleResponse,omitempty" json:"expectSingleResponse,omitempty"`
}

// wireOpts are BroadcastOptions on the wire.
type wireOpts struct {
	Rooms  []string   `msgpack:"rooms" json:"rooms"`
	Except []string   `msgpack:"except" json:"except"`
	Flags  *wireFlags `msgpack:"flags,omitempty" json:"flags,omitempty"`
}

// broadcastMessage is a plain broadcast: the msgpack array [uid, packet, opts].
type broadcastMessage struct {
	_msgpack struct{} `msgpack:",as_array"`
	UID      string
	Packet   wirePacket
	Opts     wireOpts
}

// ackBroadcastRequest is a broadcast expecting acknowledgements (msgpack map).
type ackBroadcastRequest struct {
	UID       string     `msgpack:"uid"`
	RequestID string     `msgpack:"requestId"`
	Type      int        `msgpack:"type"`
	Packet    wirePacket `msgpack:"packet"`
	Opts      wireOpts   `msgpack:"opts"`
}

// ackResponse is a BROADCAST_ACK response (msgpack map).
type ackResponse struct {
	Type      int    `msgpack:"type"`
	RequestID string `msgpack:"requestId"`
	Packet    any    `msgpack:"packet"`
}

// request is every JSON request of the request channel; fields depend on
// Type.
type request struct {
	UID       string          `json:"uid,omitempty"`
	RequestID string          `json:"requestId,omitempty"`
	Type      int             `json:"type"`
	Opts      *wireOpts       `json:"opts,omitempty"`
	Rooms     []string        `json:"rooms,omitempty"`
	Close     *bool           `json:"close,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// response is every JSON response of the response channel.
type response struct {
	Type        int                   `json:"type,omitempty"`
	RequestID   string                `json:"requestId"`
	Sockets     []socketio.SocketInfo `json:"sockets,omitempty"`
	Rooms       []string              `json:"rooms,omitempty"`
	ClientCount *int                  `json:"clientCount,omitempty"`
	Data        json.RawMessage       `json:"data,omitempty"`
}

// marshalMsgpack encodes like notepack.io: smallest integer encodings.
func marshalMsgpack(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.UseCompactFloats(true)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unmarshalMsgpack decodes maps as map[string]any and bin as []byte.
// Payloads come from other processes: msgpackcheck.Check bounds what the decoder
// may allocate before it runs, and a decoder panic on hostile input must
// not take the server down either.
func unmarshalMsgpack(data []byte, v any) (err error) {
	if err := msgpackcheck.Check(data); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode msgpack: %v", r)
		}
	}()
	dec := msgpack.NewDecoder(bytes.NewReader(data))
	dec.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return d.DecodeUntypedMap() })
	return dec.Decode(v)
}

// toWire converts a Socket.IO event packet (JSON with placeholders and
// binary attachments) into its server-to-server form.
func toWire(p *parser.Packet, nsp string) (wirePacket, error) {
	args, err := jsonToValues(p.Data, p.Attachments)
	if err != nil {
		return wirePacket{}, err
	}
	return wirePacket{Type: int(parser.Event), Data: args, NSP: nsp}, nil
}

// fromWire converts a server-to-server packet into an event packet.
func fromWire(w wirePacket, nsp string) (*parser.Packet, error) {
	if len(w.Data) == 0 {
		return nil, errors.New("packet without event name")
	}
	data, attachments, err := parser.EncodeArgs(normalize(w.Data).([]any)...)
	if err != nil {
		return nil, fmt.Errorf("encode packet from another server: %w", err)
	}
	return &parser.Packet{Type: parser.Event, Namespace: nsp, Data: data, Attachments: attachments}, nil
}

// jsonToValues decodes a JSON array, placeholders replaced by their
// attachments ([]byte, msgpack bin) and integers kept as integers.
func jsonToValues(data json.RawMessage, attachments [][]byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v []any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode packet data: %w", err)
	}
	out, err := fromJSONValue(v, attachments)
	if err != nil {
		return nil, err
	}
	return out.([]any), nil
}

func fromJSONValue(v any, attachments [][]byte) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		return x.Float64()
	case []any:
		for i, e := range x {
			r, err := fromJSONValue(e, attachments)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
		return x, nil
	case map[string]any:
		if ph, _ := x["_placeholder"].(bool); ph {
			n, err := x["num"].(json.Number).Int64()
			if err != nil || n < 0 || int(n) >= len(attachments) {
				return nil, fmt.Errorf("bad attachment placeholder: %w", parser.ErrInvalidPacket)
			}
			return attachments[n], nil
		}
		for k, e := range x {
			r, err := fromJSONValue(e, attachments)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
		return x, nil
	}
	return v, nil
}

// normalize turns decoded msgpack values into values parser.EncodeArgs
// and encoding/json handle: map[any]any keys become strings, and NaN and
// ±Infinity (which msgpack carries and JSON cannot) become null, as
// JSON.stringify turns them into null on a Node server.
func normalize(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	case float32:
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	}
	return v
}

func optsToWire(o socketio.BroadcastOptions, withFlags bool) wireOpts {
	w := wireOpts{Rooms: nonNil(o.Rooms), Except: nonNil(o.Except)}
	if withFlags {
		w.Flags = &wireFlags{
			Volatile:             o.Flags.Volatile,
			Compress:             o.Flags.Compress,
			Timeout:              o.Flags.Timeout.Milliseconds(),
			ExpectSingleResponse: o.Flags.ExpectSingleResponse,
		}
	}
	return w
}

func optsFromWire(w *wireOpts) socketio.BroadcastOptions {
	if w == nil {
		return socketio.BroadcastOptions{}
	}
	o := socketio.BroadcastOptions{Rooms: w.Rooms, Except: w.Except}
	if w.Flags != nil {
		o.Flags.Volatile = w.Flags.Volatile
		o.Flags.Compress = w.Flags.Compress
	}
	return o
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// serverSideEvent splits the JSON array [event, ...args] of a serverSideEmit
// from another server.
func serverSideEvent(data json.RawMessage) (event string, args []json.RawMessage, err error) {
	all, err := parser.Args(data, nil)
	if err != nil {
		return "", nil, err
	}
	if len(all) == 0 {
		return "", nil, errors.New("no event name")
	}
	if err := json.Unmarshal(all[0], &event); err != nil {
		return "", nil, fmt.Errorf("event name: %w", err)
	}
	return event, all[1:], nil
}

// answerOnce returns the acknowledgement callback of a serverSideEmit: nil
// when the sender expects no answer (no request id), else respond called
// at most once.
func answerOnce(requestID string, respond func(arg json.RawMessage)) func(json.RawMessage) {
	if requestID == "" {
		return nil
	}
	var once sync.Once
	return func(arg json.RawMessage) { once.Do(func() { respond(arg) }) }
}
