// Package sioclient is a small Socket.IO client (Engine.IO 4 over WebSocket,
// text packets only) for the tests of the runtime's application layer:
// connect to a namespace with an auth payload, emit with or without an
// acknowledgement, receive events. Official-client behaviour is covered by
// the Node and Chromium tests in test/runtime.
package sioclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/socketfleet/socketfleet/runtime/parser"
)

// Event is an event received from the server.
type Event struct {
	Name string
	Args []json.RawMessage
}

// ConnectError is the server's CONNECT_ERROR payload.
type ConnectError struct {
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// Error returns the message.
func (e *ConnectError) Error() string { return "connect_error: " + e.Message }

// Client is one Engine.IO session connected to one namespace.
type Client struct {
	ws  *websocket.Conn
	nsp string
	// ID is the socket id from the CONNECT reply.
	ID string

	writeMu sync.Mutex
	mu      sync.Mutex
	nextID  uint64
	acks    map[uint64]chan []json.RawMessage
	events  chan Event
	closed  chan struct{}
	err     error
	answer  func(Event) []any

	serverDisconnect bool
}

// ServerDisconnected reports whether the server sent a Socket.IO DISCONNECT
// packet (which stops official clients from reconnecting), as opposed to
// closing the transport.
func (c *Client) ServerDisconnected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serverDisconnect
}

// AnswerAcks makes the client acknowledge every event that asks for it with
// the values fn returns (without it such events are not acknowledged).
func (c *Client) AnswerAcks(fn func(Event) []any) {
	c.mu.Lock()
	c.answer = fn
	c.mu.Unlock()
}

// Connect dials base ("http://127.0.0.1:port/socket.io/") over WebSocket,
// connects to namespace nsp with auth (nil: none) and waits for the CONNECT
// reply. A refusal returns a *ConnectError.
func Connect(ctx context.Context, base, nsp string, auth any) (*Client, error) {
	u := strings.Replace(base, "http://", "ws://", 1) + "?EIO=4&transport=websocket"
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (status %d)", u, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	c := &Client{ws: ws, nsp: nsp, acks: map[uint64]chan []json.RawMessage{}, events: make(chan Event, 1024),
		closed: make(chan struct{})}
	if deadline, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(deadline)
	}
	if _, data, err := ws.ReadMessage(); err != nil || len(data) == 0 || data[0] != '0' {
		_ = ws.Close()
		return nil, fmt.Errorf("read open packet: %v %q", err, data)
	}
	pkt := &parser.Packet{Type: parser.Connect, Namespace: nsp}
	if auth != nil {
		raw, err := json.Marshal(auth)
		if err != nil {
			_ = ws.Close()
			return nil, fmt.Errorf("encode auth: %w", err)
		}
		pkt.Data = raw
	}
	if err := c.send(pkt); err != nil {
		_ = ws.Close()
		return nil, err
	}
	for {
		p, err := c.read()
		if err != nil {
			_ = ws.Close()
			return nil, fmt.Errorf("await CONNECT reply: %w", err)
		}
		if p == nil || p.Namespace != nsp {
			continue
		}
		switch p.Type {
		case parser.Connect:
			var reply struct {
				SID string `json:"sid"`
			}
			_ = json.Unmarshal(p.Data, &reply)
			c.ID = reply.SID
			_ = ws.SetReadDeadline(time.Time{})
			go c.readLoop()
			return c, nil
		case parser.ConnectError:
			_ = ws.Close()
			ce := &ConnectError{}
			if err := json.Unmarshal(p.Data, ce); err != nil {
				return nil, fmt.Errorf("decode connect_error %s: %w", p.Data, err)
			}
			return nil, ce
		}
	}
}

// read returns the next Socket.IO packet, answering pings; nil for
// non-message Engine.IO packets.
func (c *Client) read() (*parser.Packet, error) {
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, nil
	}
	switch data[0] {
	case '2':
		c.writeMu.Lock()
		err := c.ws.WriteMessage(websocket.TextMessage, []byte("3"))
		c.writeMu.Unlock()
		return nil, err
	case '4':
		var d parser.Decoder
		p, err := d.Decode(data[1:], false)
		if err != nil {
			return nil, fmt.Errorf("decode %q: %w", data, err)
		}
		return p, nil
	case '1':
		return nil, errors.New("engine.io close packet")
	}
	return nil, nil
}

func (c *Client) readLoop() {
	defer close(c.closed)
	defer close(c.events)
	for {
		p, err := c.read()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		if p == nil || p.Namespace != c.nsp {
			continue
		}
		switch p.Type {
		case parser.Event:
			args, err := parser.Args(p.Data, p.Attachments)
			if err != nil || len(args) == 0 {
				continue
			}
			var name string
			_ = json.Unmarshal(args[0], &name)
			ev := Event{Name: name, Args: args[1:]}
			c.mu.Lock()
			answer := c.answer
			c.mu.Unlock()
			if p.HasID && answer != nil {
				data, _, err := parser.EncodeArgs(answer(ev)...)
				if err == nil {
					_ = c.send(&parser.Packet{Type: parser.Ack, Namespace: c.nsp, ID: p.ID, HasID: true, Data: data})
				}
			}
			select {
			case c.events <- ev:
			default: // the test does not read events; drop
			}
		case parser.Ack:
			args, _ := parser.Args(p.Data, p.Attachments)
			c.mu.Lock()
			ch := c.acks[p.ID]
			delete(c.acks, p.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- args
			}
		case parser.Disconnect:
			c.mu.Lock()
			c.serverDisconnect = true
			c.mu.Unlock()
			_ = c.ws.Close()
		}
	}
}

func (c *Client) send(p *parser.Packet) error {
	text, _ := p.Encode()
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.ws.WriteMessage(websocket.TextMessage, append([]byte("4"), text...)); err != nil {
		return fmt.Errorf("write packet: %w", err)
	}
	return nil
}

func (c *Client) eventPacket(event string, args []any) (*parser.Packet, error) {
	data, _, err := parser.EncodeArgs(append([]any{event}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("encode %q: %w", event, err)
	}
	return &parser.Packet{Type: parser.Event, Namespace: c.nsp, Data: data}, nil
}

// Emit sends an event without acknowledgement.
func (c *Client) Emit(event string, args ...any) error {
	p, err := c.eventPacket(event, args)
	if err != nil {
		return err
	}
	return c.send(p)
}

// EmitWithAck sends an event and waits for its acknowledgement's arguments.
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	p, err := c.eventPacket(event, args)
	if err != nil {
		return nil, err
	}
	ch := make(chan []json.RawMessage, 1)
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.acks[id] = ch
	c.mu.Unlock()
	p.ID, p.HasID = id, true
	if err := c.send(p); err != nil {
		return nil, err
	}
	select {
	case args := <-ch:
		return args, nil
	case <-c.closed:
		return nil, fmt.Errorf("ack of %q: connection closed: %v", event, c.Err())
	case <-ctx.Done():
		return nil, fmt.Errorf("ack of %q: %w", event, ctx.Err())
	}
}

// Next returns the next event received, or an error when ctx ends or the
// connection closes.
func (c *Client) Next(ctx context.Context) (Event, error) {
	select {
	case ev, ok := <-c.events:
		if !ok {
			return Event{}, fmt.Errorf("connection closed: %v", c.Err())
		}
		return ev, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// Err returns the error that ended the read loop.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Closed is closed when the connection ends.
func (c *Client) Closed() <-chan struct{} { return c.closed }

// Close closes the connection and waits for the read loop.
func (c *Client) Close() {
	_ = c.ws.Close()
	<-c.closed
}
