package sioclient

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/socketfleet/socketfleet/runtime/parser"
)

// Disconnected is the Wire text of the Event that reports the server's
// Socket.IO DISCONNECT packet.
const Disconnected = "disconnected"

// Event is an event the server sent to the client's namespace, or the
// server's DISCONNECT (Wire == Disconnected, no name).
type Event struct {
	// Name is the event name.
	Name string
	// Args are the arguments, binary ones as base64 JSON strings (they decode
	// into []byte fields).
	Args []json.RawMessage
	// Attachments are the binary parts in placeholder order.
	Attachments [][]byte
	// Wire is the Engine.IO packet as received (e.g. `42["news",1]` or
	// `451-["bin",{"_placeholder":true,"num":0}]`), attachments excluded.
	Wire string
}

// ConnectError is the server's CONNECT_ERROR payload: the namespace refused
// the connection.
type ConnectError struct {
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// Error returns the message.
func (e *ConnectError) Error() string { return "connect_error: " + e.Message }

// Client is a socket connected to one namespace over its own Conn (the event
// layer).
type Client struct {
	// ID is the socket id from the CONNECT reply.
	ID string
	// PID is the private session id from the CONNECT reply (connection
	// state recovery; "" without it). A reply with the pid sent in
	// Options.Auth means the session was recovered.
	PID string

	conn    *Conn
	nsp     string
	events  *queue[Event]
	closed  chan struct{}
	decoder parser.Decoder // used by the read loop only

	mu               sync.Mutex
	nextID           uint64
	acks             map[uint64]chan *parser.Packet
	answer           func(Event) []any
	serverDisconnect bool
}

// Connect opens a WebSocket session at rawURL (http://host:port, or the
// endpoint as for Dial) with the extra query string, connects to the main
// namespace and fails the test if that does not work within Guard. The
// client answers every acknowledgement request with its socket id; it is
// closed when the test ends.
func Connect(t testing.TB, rawURL, query string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Guard)
	defer cancel()
	c, err := connect(ctx, rawURL, Options{Query: query}, true)
	if err != nil {
		t.Fatalf("sioclient: connect to %s: %v", rawURL, err)
	}
	t.Cleanup(c.Close)
	return c
}

// ConnectContext opens an Engine.IO session at rawURL (see Dial), connects
// to opts.Namespace with opts.Auth and waits for the reply. A refusal returns
// a *ConnectError. Close ends the client.
func ConnectContext(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	return connect(ctx, rawURL, opts, false)
}

// connect is ConnectContext; answerID answers acknowledgement requests with
// the socket id instead of opts.AnswerAcks.
func connect(ctx context.Context, rawURL string, opts Options, answerID bool) (*Client, error) {
	nsp := opts.Namespace
	if nsp == "" {
		nsp = "/"
	}
	conn, err := Dial(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: conn, nsp: nsp, events: newQueue[Event](), closed: make(chan struct{}),
		acks: map[uint64]chan *parser.Packet{}, answer: opts.AnswerAcks}
	early, err := c.handshake(ctx, opts.Auth)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if answerID {
		id := c.ID
		c.answer = func(Event) []any { return []any{id} }
	}
	// Events sent before the CONNECT reply (a recovered session's missed
	// packets) come first, as the official client's receive buffer does.
	for _, p := range early {
		text, _ := p.Encode()
		c.onEvent(p, "4"+string(text))
	}
	go c.readLoop()
	return c, nil
}

// maxEarlyEvents bounds the events kept while waiting for the CONNECT reply.
const maxEarlyEvents = 1000

// handshake connects to the namespace and returns the events received
// before the reply.
func (c *Client) handshake(ctx context.Context, auth any) ([]*parser.Packet, error) {
	pkt := &parser.Packet{Type: parser.Connect, Namespace: c.nsp}
	if auth != nil {
		raw, err := json.Marshal(auth)
		if err != nil {
			return nil, fmt.Errorf("encode auth: %w", err)
		}
		pkt.Data = raw
	}
	if err := c.conn.SendPacket(pkt); err != nil {
		return nil, err
	}
	var early []*parser.Packet
	for {
		p, err := c.conn.NextPacket(ctx)
		if err != nil {
			return nil, fmt.Errorf("await CONNECT reply: %w", err)
		}
		if p.Namespace != c.nsp {
			continue
		}
		switch p.Type {
		case parser.Connect:
			var reply struct {
				SID string `json:"sid"`
				PID string `json:"pid"`
			}
			if err := json.Unmarshal(p.Data, &reply); err != nil {
				return nil, fmt.Errorf("decode CONNECT reply %s: %w", p.Data, err)
			}
			c.ID, c.PID = reply.SID, reply.PID
			return early, nil
		case parser.ConnectError:
			ce := &ConnectError{}
			if err := json.Unmarshal(p.Data, ce); err != nil {
				return nil, fmt.Errorf("decode connect_error %s: %w", p.Data, err)
			}
			return nil, ce
		case parser.Event, parser.BinaryEvent:
			if len(early) == maxEarlyEvents {
				return nil, fmt.Errorf("more than %d events before the CONNECT reply", maxEarlyEvents)
			}
			early = append(early, p)
		}
	}
}

func (c *Client) readLoop() {
	defer close(c.closed)
	defer c.events.close()
	var wire string
	for {
		m, err := c.conn.Next(context.Background())
		if err != nil {
			return
		}
		if !m.Binary {
			wire = "4" + string(m.Data)
		}
		p, err := c.decoder.Decode(m.Data, m.Binary)
		if err != nil || p == nil || p.Namespace != c.nsp {
			continue
		}
		switch p.Type {
		case parser.Event, parser.BinaryEvent:
			c.onEvent(p, wire)
		case parser.Ack, parser.BinaryAck:
			c.mu.Lock()
			ch := c.acks[p.ID]
			delete(c.acks, p.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- p
			}
		case parser.Disconnect:
			c.mu.Lock()
			c.serverDisconnect = true
			c.mu.Unlock()
			c.events.push(Event{Wire: Disconnected})
			c.conn.t.close(true)
		}
	}
}

// onEvent answers an acknowledgement request when an answer is set, and
// queues every other event for Next.
func (c *Client) onEvent(p *parser.Packet, wire string) {
	args, err := parser.Args(p.Data, p.Attachments)
	if err != nil || len(args) == 0 {
		return
	}
	var name string
	_ = json.Unmarshal(args[0], &name)
	ev := Event{Name: name, Args: args[1:], Attachments: p.Attachments, Wire: wire}
	c.mu.Lock()
	answer := c.answer
	c.mu.Unlock()
	if !p.HasID || answer == nil {
		c.events.push(ev)
		return
	}
	data, atts, err := parser.EncodeArgs(answer(ev)...)
	if err != nil {
		return
	}
	_ = c.conn.SendPacket(&parser.Packet{Type: parser.Ack, Namespace: c.nsp, ID: p.ID, HasID: true, Data: data,
		Attachments: atts})
}

// AnswerAcks makes the client answer every event that asks for an
// acknowledgement with the values fn returns; such events are then not
// queued for Next. Without it (the default of ConnectContext) they are
// queued and never answered.
func (c *Client) AnswerAcks(fn func(Event) []any) {
	c.mu.Lock()
	c.answer = fn
	c.mu.Unlock()
}

// ServerDisconnected reports whether the server sent a Socket.IO DISCONNECT
// packet (which stops official clients from reconnecting), as opposed to
// closing the transport.
func (c *Client) ServerDisconnected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serverDisconnect
}

func (c *Client) eventPacket(event string, args []any) (*parser.Packet, error) {
	data, atts, err := parser.EncodeArgs(append([]any{event}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("encode %q: %w", event, err)
	}
	return &parser.Packet{Type: parser.Event, Namespace: c.nsp, Data: data, Attachments: atts}, nil
}

// Emit sends an event without acknowledgement; []byte arguments become
// binary attachments.
func (c *Client) Emit(event string, args ...any) error {
	p, err := c.eventPacket(event, args)
	if err != nil {
		return err
	}
	return c.conn.SendPacket(p)
}

// EmitWithAck sends an event and waits for its acknowledgement's arguments
// (binary ones as base64 JSON strings).
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	ack, err := c.EmitWithAckPacket(ctx, event, args...)
	if err != nil {
		return nil, err
	}
	if len(ack.Data) == 0 {
		return nil, nil // an acknowledgement without arguments
	}
	return parser.Args(ack.Data, ack.Attachments)
}

// EmitWithAckPacket sends an event and returns its acknowledgement packet as
// received (placeholders and attachments).
func (c *Client) EmitWithAckPacket(ctx context.Context, event string, args ...any) (*parser.Packet, error) {
	p, err := c.eventPacket(event, args)
	if err != nil {
		return nil, err
	}
	ch := make(chan *parser.Packet, 1)
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.acks[id] = ch
	c.mu.Unlock()
	p.ID, p.HasID = id, true
	if err := c.conn.SendPacket(p); err != nil {
		return nil, err
	}
	select {
	case ack := <-ch:
		return ack, nil
	case <-c.closed:
		return nil, fmt.Errorf("ack of %q: connection closed: %v", event, c.Err())
	case <-ctx.Done():
		return nil, fmt.Errorf("ack of %q: %w", event, ctx.Err())
	}
}

// Check reports how the event differs from the wire text and attachments
// wanted (nil when it does not).
func (e Event) Check(wire string, attachments ...string) error {
	if e.Wire != wire || len(e.Attachments) != len(attachments) {
		return fmt.Errorf("got %s %q, want %s %q", e.Wire, e.Attachments, wire, attachments)
	}
	for i, a := range attachments {
		if string(e.Attachments[i]) != a {
			return fmt.Errorf("attachment %d = %q, want %q", i, e.Attachments[i], a)
		}
	}
	return nil
}

// Next returns the next event received, or an error when ctx ends or the
// connection closed with nothing left to read.
func (c *Client) Next(ctx context.Context) (Event, error) {
	ev, ok, err := c.events.pop(ctx)
	if err != nil {
		return Event{}, fmt.Errorf("waiting for an event: %w", err)
	}
	if !ok {
		return Event{}, fmt.Errorf("connection closed: %v", c.Err())
	}
	return ev, nil
}

// Expect fails the test unless the next event's Wire text is want (e.g.
// `42["news",1]`, or Disconnected) within Guard.
func (c *Client) Expect(t testing.TB, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Guard)
	defer cancel()
	ev, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("sioclient: no %q: %v", want, err)
	}
	if ev.Wire != want {
		t.Fatalf("sioclient: got %q, want %q", ev.Wire, want)
	}
}

// ExpectNothing fails the test if an event arrives within Quiet (used after
// a delivery that must not happen; the positive deliveries around it bound
// the wait).
func (c *Client) ExpectNothing(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Quiet)
	defer cancel()
	if ev, err := c.Next(ctx); err == nil {
		t.Fatalf("sioclient: unexpected %q", ev.Wire)
	}
}

// Err returns why the connection ended (nil while it is open).
func (c *Client) Err() error { return c.conn.Err() }

// Closed is closed when the connection has ended.
func (c *Client) Closed() <-chan struct{} { return c.closed }

// Close closes the connection (a transport close, see Conn.Close) and waits
// for the reader.
func (c *Client) Close() {
	c.conn.Close()
	<-c.closed
}
