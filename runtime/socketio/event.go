package socketio

import (
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/socketfleet/socketfleet/runtime/parser"
)

// Arg is one argument of an event as received: its JSON text and its binary
// parts. Decode it with Decode (binary parts as []byte, also in struct
// fields), Value (plain Go values, binary parts as []byte) or Bytes; pass it
// to Emit, Ack or a broadcast to send it again with its binary parts as
// binary. json.Marshal writes it in the binary JSON encoding of the publish
// API and the webhook ({"$binary":"<base64>"}, see docs/binary.md).
type Arg = parser.Arg

// ArgList is an event's argument list; ArgList.Any spreads it into Emit:
// s.Emit("echo", ev.Args().Any()...) sends the same packet back.
type ArgList = parser.ArgList

// Event is one incoming event: from a client (Socket.On, OnAny) or from
// another server (Namespace.OnServerSideEmit).
type Event struct {
	// Name is the event name (the first element of the packet's array; a
	// numeric name is given as its JSON text).
	Name string

	args      ArgList
	socket    *Socket
	id        uint64
	wantsAck  bool
	acked     atomic.Bool
	serverAck func(arg json.RawMessage)
}

// Args returns the event's arguments (the event name excluded). Binary
// attachments stay binary wherever they are in an argument: Arg.Decode and
// Bind give them as []byte, and emitting the arguments again (Args().Any()...,
// or a sub-slice of them) sends them as attachments.
func (e *Event) Args() ArgList { return e.args }

// Bind decodes the arguments into dst positionally with encoding/json
// (dst[i] receives argument i, see Arg.Decode: binary parts decode into
// []byte fields and values, a *any receives []byte for them). Extra
// destinations are left untouched; a nil destination skips its argument.
func (e *Event) Bind(dst ...any) error {
	for i, d := range dst {
		if i >= len(e.args) {
			break
		}
		if d == nil {
			continue
		}
		if err := e.args[i].Decode(d); err != nil {
			return fmt.Errorf("bind argument %d of %q: %w", i, e.Name, err)
		}
	}
	return nil
}

// Socket returns the socket that sent the event (nil for server-side events).
func (e *Event) Socket() *Socket { return e.socket }

// WantsAck reports whether the sender asked for an acknowledgement.
func (e *Event) WantsAck() bool { return e.wantsAck }

// Ack sends the acknowledgement, once; it may be called from any goroutine,
// after the handler returned. Arguments are encoded as for Socket.Emit. A
// server-side event's acknowledgement carries only the first argument.
func (e *Event) Ack(args ...any) error {
	if !e.wantsAck {
		return ErrNoAck
	}
	if !e.acked.CompareAndSwap(false, true) {
		return ErrAlreadyAcked
	}
	if e.socket != nil {
		return e.socket.sendAck(e.id, args)
	}
	first := json.RawMessage("null")
	if len(args) > 0 {
		raw, err := marshalArgs(e.Name, args[:1])
		if err != nil {
			return fmt.Errorf("ack %q: %w", e.Name, err)
		}
		first = raw[0]
	}
	e.serverAck(first)
	return nil
}
