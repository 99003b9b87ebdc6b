// Package testclient is a minimal Socket.IO client speaking the raw protocol
// (Engine.IO 4 over WebSocket) for the socketio package's integration tests.
// It exposes the exact text of every message so tests can assert the wire
// format, and decodes packets with package parser.
package testclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/socketfleet/socketfleet/runtime/parser"
)

// Message is one Engine.IO message payload received from the server.
type Message struct {
	Binary bool
	Data   []byte
}

// Conn is a client connection (one Engine.IO session over WebSocket).
type Conn struct {
	ws     *websocket.Conn
	Open   string // the Engine.IO open packet's JSON
	writeM sync.Mutex

	msgs   chan Message
	closed chan struct{}
	reason error

	decoder parser.Decoder
}

// Dial opens a WebSocket Engine.IO session at base (e.g. "http://127.0.0.1:1234/socket.io/")
// with extra query parameters (may be empty) and reads the open packet.
func Dial(ctx context.Context, base, query string, header http.Header) (*Conn, error) {
	u := strings.Replace(base, "http://", "ws://", 1)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	u += sep + "EIO=4&transport=websocket"
	if query != "" {
		u += "&" + query
	}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, u, header)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	c := &Conn{ws: ws, msgs: make(chan Message, 4096), closed: make(chan struct{})}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, data, err := ws.ReadMessage()
	if err != nil || typ != websocket.TextMessage || len(data) == 0 || data[0] != '0' {
		_ = ws.Close()
		return nil, fmt.Errorf("read open packet: %q %v", data, err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	c.Open = string(data[1:])
	go c.readLoop()
	return c, nil
}

func (c *Conn) readLoop() {
	defer close(c.closed)
	defer close(c.msgs)
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.reason = err
			return
		}
		if typ == websocket.BinaryMessage {
			c.msgs <- Message{Binary: true, Data: data}
			continue
		}
		if len(data) == 0 {
			continue
		}
		switch data[0] {
		case '2': // ping
			c.write(websocket.TextMessage, append([]byte{'3'}, data[1:]...))
		case '4':
			c.msgs <- Message{Data: data[1:]}
		case '1':
			c.reason = errors.New("engine.io close packet")
			return
		}
	}
}

func (c *Conn) write(typ int, data []byte) error {
	c.writeM.Lock()
	defer c.writeM.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(typ, data)
}

// Send sends a text Engine.IO message (a Socket.IO packet's text, without the
// Engine.IO "4" type).
func (c *Conn) Send(text string) error {
	return c.write(websocket.TextMessage, append([]byte{'4'}, text...))
}

// SendBinary sends a binary Engine.IO message (an attachment).
func (c *Conn) SendBinary(data []byte) error {
	return c.write(websocket.BinaryMessage, data)
}

// SendPacket encodes and sends a packet with its attachments.
func (c *Conn) SendPacket(p *parser.Packet) error {
	text, atts := p.Encode()
	if err := c.Send(string(text)); err != nil {
		return err
	}
	for _, a := range atts {
		if err := c.SendBinary(a); err != nil {
			return err
		}
	}
	return nil
}

// Next returns the next message, or an error after timeout or when the
// connection closed.
func (c *Conn) Next(timeout time.Duration) (Message, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			return Message{}, fmt.Errorf("connection closed: %w", c.reason)
		}
		return m, nil
	case <-t.C:
		return Message{}, errors.New("timeout waiting for a message")
	}
}

// NextText returns the next message, which must be text.
func (c *Conn) NextText(timeout time.Duration) (string, error) {
	m, err := c.Next(timeout)
	if err != nil {
		return "", err
	}
	if m.Binary {
		return "", fmt.Errorf("unexpected binary message %x", m.Data)
	}
	return string(m.Data), nil
}

// NextPacket returns the next complete packet (attachments included).
func (c *Conn) NextPacket(timeout time.Duration) (*parser.Packet, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := c.Next(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		p, err := c.decoder.Decode(m.Data, m.Binary)
		if err != nil {
			return nil, fmt.Errorf("decode %q: %w", m.Data, err)
		}
		if p != nil {
			return p, nil
		}
	}
}

// Expect reads the next text message and fails unless it equals want.
func (c *Conn) Expect(want string, timeout time.Duration) error {
	got, err := c.NextText(timeout)
	if err != nil {
		return fmt.Errorf("want %q: %w", want, err)
	}
	if got != want {
		return fmt.Errorf("got %q, want %q", got, want)
	}
	return nil
}

// ExpectNothing fails if a message arrives within d.
func (c *Conn) ExpectNothing(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			return fmt.Errorf("connection closed: %w", c.reason)
		}
		return fmt.Errorf("unexpected message %q", m.Data)
	case <-t.C:
		return nil
	}
}

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// WaitClosed waits until the server closes the connection.
func (c *Conn) WaitClosed(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case _, ok := <-c.msgs:
			if !ok {
				return nil
			}
		case <-t.C:
			return errors.New("connection still open")
		}
	}
}

// Close closes the WebSocket (a transport close for the server) and waits
// for the reader goroutine.
func (c *Conn) Close() {
	_ = c.ws.Close()
	<-c.closed
}
