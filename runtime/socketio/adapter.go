package socketio

import (
	"context"
	"encoding/json"
	"time"

	"github.com/socketfleet/socketfleet/runtime/parser"
)

// Adapter keeps the room membership of one namespace and fans packets out to
// the sockets that a BroadcastOptions selects. There is one Adapter per
// Namespace, created by the server's AdapterFactory when the namespace is
// created. It is the Go counterpart of socket.io-adapter's Adapter class.
//
// # Local and cluster-wide operations
//
// Membership methods (AddAll, Del, DelAll, SocketRooms, Sockets, Rooms) are
// always local: they describe the sockets connected to this process.
//
// The other methods are cluster-wide for an adapter that links several
// servers (a Redis adapter): Broadcast delivers to the matching local sockets
// and forwards the packet to the other servers unless opts.Flags.Local is
// set; FetchSockets, AddSockets, DelSockets and DisconnectSockets act on the
// matching sockets of every server; ServerSideEmit reaches the other servers
// only; ServerCount counts every server, this one included.
//
// The in-memory adapter (NewMemoryAdapter) implements all of them for a single
// process. A cluster adapter is expected to wrap it (embed the Adapter value
// returned by NewMemoryAdapter or NewMemoryAdapterWith) and call it for the
// local part of every operation, exactly as Node's adapters subclass the
// in-memory one: on a message from another server it calls the wrapped
// adapter's Broadcast (with Flags.Local set), BroadcastWithAck, FetchSockets,
// AddSockets, DelSockets or DisconnectSockets, and Namespace.HandleServerSideEmit
// for server-side events.
//
// A cluster adapter in outline:
//
//	type clusterAdapter struct {
//		*socketio.MemoryAdapter // local rooms and delivery
//		bus                     // the link to the other servers
//	}
//
//	func newCluster(nsp *socketio.Namespace) socketio.Adapter {
//		a := &clusterAdapter{}
//		a.MemoryAdapter = socketio.NewMemoryAdapterWith(nsp, socketio.MemoryAdapterOptions{
//			DisableRecovery: true,       // unless the bus can replay packets
//			OnCreateRoom:    a.subscribe, // e.g. per-room channels
//			OnDeleteRoom:    a.unsubscribe,
//		})
//		return a
//	}
//
//	func (a *clusterAdapter) Broadcast(p *parser.Packet, opts socketio.BroadcastOptions) error {
//		if !opts.Flags.Local {
//			a.publish(p, opts) // before the local delivery, which may modify p
//		}
//		return a.MemoryAdapter.Broadcast(p, opts)
//	}
//
//	// on a broadcast from another server:
//	//	a.MemoryAdapter.Broadcast(p, socketio.BroadcastOptions{Rooms: r, Except: e, Flags: f})
//
// # Packets
//
// Broadcast packets are *parser.Packet values of type parser.Event whose Data
// is the JSON array [event, ...args] with binary attachments replaced by
// placeholders, and Attachments the binary parts in placeholder order. The
// Namespace field is set to the adapter's namespace. An adapter owns the
// packet passed to it and may modify it (the in-memory adapter appends the
// connection state recovery offset to Data).
//
// # Concurrency
//
// The slices of a BroadcastOptions are shared with the caller and must not be
// modified.
//
// Every method may be called concurrently from many goroutines. Callbacks
// passed to BroadcastWithAck may be called concurrently and after the method
// returns. Implementations must not hold their own locks while delivering
// packets to sockets or while calling back into the namespace.
type Adapter interface {
	// AddAll adds the local socket id to the given rooms (a socket is also
	// always in the room named by its own id; the namespace adds it).
	AddAll(id string, rooms []string)
	// Del removes the local socket id from one room.
	Del(id, room string)
	// DelAll removes the local socket id from every room.
	DelAll(id string)
	// SocketRooms returns the rooms of a local socket, or nil if it is unknown.
	SocketRooms(id string) []string
	// Sockets returns the ids of the local sockets that are in any of rooms,
	// or of every local socket when rooms is empty.
	Sockets(rooms []string) []string
	// Rooms returns the names of the local rooms, socket id rooms included.
	Rooms() []string

	// Broadcast delivers packet to every socket selected by opts.
	Broadcast(packet *parser.Packet, opts BroadcastOptions) error
	// BroadcastWithAck delivers packet to every socket selected by opts with
	// an ack id (the in-memory adapter takes it from the namespace's ack id
	// counter, so that it is unique on every target socket). It calls
	// clientCount once per server with the number of sockets the packet was
	// sent to on that server (0 included), and ack once per client response
	// with the first argument of the response. When ctx is done the adapter
	// forgets the pending acknowledgements. A cluster adapter that cannot
	// reach the other servers still delivers to its local sockets and returns
	// an error wrapping ErrPartialBroadcast.
	BroadcastWithAck(ctx context.Context, packet *parser.Packet, opts BroadcastOptions,
		clientCount func(n int), ack func(arg json.RawMessage)) error
	// ServerCount returns the number of servers in the cluster, this one
	// included (1 for the in-memory adapter).
	ServerCount(ctx context.Context) (int, error)

	// FetchSockets describes the sockets selected by opts (Flags.Local limits
	// it to this server).
	FetchSockets(ctx context.Context, opts BroadcastOptions) ([]SocketInfo, error)
	// AddSockets makes the sockets selected by opts join rooms.
	AddSockets(ctx context.Context, opts BroadcastOptions, rooms []string) error
	// DelSockets makes the sockets selected by opts leave rooms.
	DelSockets(ctx context.Context, opts BroadcastOptions, rooms []string) error
	// DisconnectSockets disconnects the sockets selected by opts; close also
	// closes their underlying Engine.IO connections.
	DisconnectSockets(ctx context.Context, opts BroadcastOptions, close bool) error

	// ServerSideEmit sends an event to the other servers of the cluster, whose
	// namespaces deliver it to their OnServerSideEmit handlers. Each element
	// of args is one JSON argument. The in-memory adapter has no other server
	// and does nothing.
	ServerSideEmit(ctx context.Context, event string, args []json.RawMessage) error
	// ServerSideEmitWithAck is ServerSideEmit expecting one acknowledgement
	// (its first argument) from each other server. It returns when every
	// other server answered, or with the answers so far and an error wrapping
	// ErrAckTimeout when ctx is done first.
	ServerSideEmitWithAck(ctx context.Context, event string, args []json.RawMessage) ([]json.RawMessage, error)

	// PersistSession stores the state of a socket that disconnected for a
	// recoverable reason (connection state recovery only).
	PersistSession(ctx context.Context, session *SessionState) error
	// RestoreSession takes (and removes) the session pid if it exists, has not
	// expired and offset is still known, and returns it with the event packets
	// the socket missed after offset, each with its own offset appended. It
	// returns (nil, nil, nil) when the session cannot be recovered.
	RestoreSession(ctx context.Context, pid, offset string) (*SessionState, []*parser.Packet, error)

	// Close releases the adapter's resources; called when the namespace is
	// removed or the server closes.
	Close(ctx context.Context) error
}

// SessionCatchUp is implemented by adapters whose replay log is shared by
// every server and keeps growing while a session is restored (a Redis
// stream). RestoreSession reads the missed packets before the restored
// socket is in its rooms, so a broadcast added in between would reach
// neither the replay nor the socket. With SessionCatchUp the namespace adds
// the socket to its rooms first, holding the broadcasts addressed to it,
// then calls CatchUp for the packets after the last one replayed; held
// packets that the replay already delivered are dropped, the others follow
// the replay in order. The namespace finds it through wrappers that have
// an Unwrap() Adapter method.
type SessionCatchUp interface {
	// CatchUp returns the event packets selected by rooms after offset, each
	// with its offset appended, for the restored socket sid (in its rooms by
	// now).
	CatchUp(ctx context.Context, sid, offset string, rooms []string) ([]*parser.Packet, error)
}

// AdapterFactory creates the Adapter of a namespace. NewMemoryAdapter is one.
type AdapterFactory func(nsp *Namespace) Adapter

// BroadcastOptions selects the target sockets of an adapter operation and
// carries the broadcast flags. It matches the `{rooms, except, flags}` object
// of Node's adapters.
type BroadcastOptions struct {
	// Rooms selects the sockets in any of these rooms; empty means every
	// socket of the namespace.
	Rooms []string
	// Except removes the sockets in any of these rooms.
	Except []string
	// Flags modify the delivery.
	Flags BroadcastFlags
}

// BroadcastFlags are the per-broadcast modifiers.
type BroadcastFlags struct {
	// Volatile drops the packet for sessions whose transport cannot take it
	// right now (and never stores it for connection state recovery).
	Volatile bool
	// Compress is the requested per-message compression; nil means default.
	Compress *bool
	// Local limits the operation to this server.
	Local bool
	// Timeout is the acknowledgement timeout of a broadcast with ack
	// (0: none).
	Timeout time.Duration
	// ExpectSingleResponse marks an ack broadcast addressed to one socket
	// (RemoteSocket.EmitWithAck).
	ExpectSingleResponse bool
}

// SocketInfo describes a socket for FetchSockets; its JSON form is the one
// Node servers exchange: {"id","handshake","rooms","data"}.
type SocketInfo struct {
	ID        string          `json:"id"`
	Handshake Handshake       `json:"handshake"`
	Rooms     []string        `json:"rooms"`
	Data      json.RawMessage `json:"data"`
}

// SessionState is what connection state recovery keeps of a disconnected
// socket. Its JSON form is Node's {"sid","pid","rooms","data"}.
type SessionState struct {
	// ID is the socket id ("sid").
	ID string `json:"sid"`
	// PID is the private session id sent to the client in the CONNECT reply.
	PID string `json:"pid"`
	// Rooms are the rooms the socket was in (its own id room included).
	Rooms []string `json:"rooms"`
	// Data is the socket's Data. The in-memory store keeps the Go value as
	// is; a store that serializes it restores it as json.RawMessage.
	Data any `json:"data"`
}
