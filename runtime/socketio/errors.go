package socketio

import (
	"errors"
	"fmt"
)

var (
	// ErrAckTimeout is returned (wrapped) by the EmitWithAck methods when the
	// timeout or the context deadline passes before every acknowledgement
	// arrived.
	ErrAckTimeout = errors.New("socketio: operation has timed out")
	// ErrDisconnected is returned when the socket is (or gets) disconnected
	// while an operation needs it connected.
	ErrDisconnected = errors.New("socketio: socket is disconnected")
	// ErrReservedEvent is returned when emitting one of the event names the
	// protocol reserves (connect, connect_error, disconnect, disconnecting,
	// newListener, removeListener).
	ErrReservedEvent = errors.New("socketio: reserved event name")
	// ErrNoAck is returned by Event.Ack when the client did not ask for an
	// acknowledgement.
	ErrNoAck = errors.New("socketio: event has no acknowledgement")
	// ErrAlreadyAcked is returned by Event.Ack when the event was already
	// acknowledged.
	ErrAlreadyAcked = errors.New("socketio: event already acknowledged")
	// ErrServerClosed is returned by operations on a closed server.
	ErrServerClosed = errors.New("socketio: server closed")
	// ErrPartialBroadcast is returned (wrapped) by a cluster adapter's
	// BroadcastWithAck, and then by EmitWithAck, when the packet reached
	// this server's sockets but not the other servers (their link is down):
	// the answers returned are those of this server's sockets.
	ErrPartialBroadcast = errors.New("socketio: delivered to this server's sockets only")
)

// ConnectError is the error a connect middleware returns to refuse a
// connection with a message and optional data: the client gets a
// CONNECT_ERROR packet `{"message":Message,"data":Data}` (its connect_error
// event). Any other error refuses with its Error() text as the message.
type ConnectError struct {
	// Message is sent as the error's message.
	Message string
	// Data is sent as the error's data (encoded with encoding/json); nil omits it.
	Data any
}

// Error returns the message.
func (e *ConnectError) Error() string { return e.Message }

// checkEventName refuses the event names neither side may emit.
func checkEventName(event string) error {
	switch event {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return fmt.Errorf("emit %q: %w", event, ErrReservedEvent)
	}
	return nil
}
