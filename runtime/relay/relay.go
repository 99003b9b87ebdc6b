// Package relay is the room relay of socketfleet-runtime: with no
// application code, clients join rooms whose names match configured
// patterns and emit events to the rooms they are in.
//
// Client protocol (each acknowledgement is optional):
//
//	socket.emit("relay:join", room, ack)                // ack({ok: true}) or ack({error})
//	socket.emit("relay:leave", room, ack)
//	socket.emit("relay:emit", room, event, ...args, ack) // the other sockets in room get event(...args)
//
// Room patterns use path.Match syntax ("chat:*", "orders/[0-9]*"; * does not
// match /). A socket may not join the private room of another socket (its
// id), may emit only to rooms it is in, and only events matching the event
// patterns (any non-reserved event when none are configured). Arguments are
// relayed as received: binary ones stay binary (attachments).
package relay

import (
	"context"
	"fmt"
	"path"

	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Event names of the relay protocol.
const (
	EventJoin  = "relay:join"
	EventLeave = "relay:leave"
	EventEmit  = "relay:emit"
)

// Results reported to Options.OnResult.
const (
	ResultOK      = "ok"
	ResultDenied  = "denied"
	ResultInvalid = "invalid"
)

// Options configure a Relay.
type Options struct {
	// Rooms are the patterns of the rooms clients may join.
	Rooms []string
	// Events are the patterns of the events clients may relay (empty: any).
	Events []string
	// OnResult observes every request: action join|leave|emit and a Result*.
	OnResult func(action, result string)
}

// Relay handles the relay events of the sockets it is attached to.
type Relay struct {
	opts Options
}

// New returns a Relay. Patterns are assumed valid (config validation).
func New(opts Options) *Relay {
	if opts.OnResult == nil {
		opts.OnResult = func(string, string) {}
	}
	return &Relay{opts: opts}
}

// RoomAllowed reports whether a room name matches a room pattern.
func (r *Relay) RoomAllowed(room string) bool { return matchAny(r.opts.Rooms, room) }

// EventAllowed reports whether an event may be relayed.
func (r *Relay) EventAllowed(event string) bool {
	switch event {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return false
	}
	return len(r.opts.Events) == 0 || matchAny(r.opts.Events, event)
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// Attach registers the relay events on a socket (a ConnectionHandler).
func (r *Relay) Attach(s *socketio.Socket) {
	s.On(EventJoin, func(_ context.Context, ev *socketio.Event) {
		room, err := roomArg(ev)
		switch {
		case err != nil:
			r.fail(ev, "join", ResultInvalid, err.Error())
		case !r.RoomAllowed(room):
			r.fail(ev, "join", ResultDenied, fmt.Sprintf("room %q is not allowed", room))
		case room != s.ID() && s.Namespace().Socket(room) != nil:
			r.fail(ev, "join", ResultDenied, fmt.Sprintf("room %q is not allowed", room))
		default:
			s.Join(room)
			r.ok(ev, "join")
		}
	})
	s.On(EventLeave, func(_ context.Context, ev *socketio.Event) {
		room, err := roomArg(ev)
		if err != nil {
			r.fail(ev, "leave", ResultInvalid, err.Error())
			return
		}
		if room != s.ID() {
			s.Leave(room)
		}
		r.ok(ev, "leave")
	})
	s.On(EventEmit, func(_ context.Context, ev *socketio.Event) {
		args := ev.Args()
		room, err := roomArg(ev)
		if err != nil {
			r.fail(ev, "emit", ResultInvalid, err.Error())
			return
		}
		var event string
		if len(args) < 2 || args[1].Decode(&event) != nil || event == "" {
			r.fail(ev, "emit", ResultInvalid, "relay:emit needs (room, event, ...args)")
			return
		}
		if !r.EventAllowed(event) {
			r.fail(ev, "emit", ResultDenied, fmt.Sprintf("event %q may not be relayed", event))
			return
		}
		if room == s.ID() || !inRoom(s, room) {
			r.fail(ev, "emit", ResultDenied, fmt.Sprintf("not in room %q", room))
			return
		}
		if err := s.To(room).Emit(event, args[2:].Any()...); err != nil {
			r.fail(ev, "emit", ResultInvalid, err.Error())
			return
		}
		r.ok(ev, "emit")
	})
}

func inRoom(s *socketio.Socket, room string) bool {
	for _, r := range s.Rooms() {
		if r == room {
			return true
		}
	}
	return false
}

func roomArg(ev *socketio.Event) (string, error) {
	var room string
	if len(ev.Args()) == 0 || ev.Args()[0].Decode(&room) != nil || room == "" {
		return "", fmt.Errorf("%s needs a room name (a non-empty string) as first argument", ev.Name)
	}
	return room, nil
}

// okAck is the acknowledgement of a successful request.
type okAck struct {
	OK bool `json:"ok"`
}

// errorAck is the acknowledgement of a refused request.
type errorAck struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

func (r *Relay) ok(ev *socketio.Event, action string) {
	r.opts.OnResult(action, ResultOK)
	if ev.WantsAck() {
		_ = ev.Ack(okAck{OK: true})
	}
}

func (r *Relay) fail(ev *socketio.Event, action, result, msg string) {
	r.opts.OnResult(action, result)
	if ev.WantsAck() {
		_ = ev.Ack(errorAck{Error: msg})
	}
}
