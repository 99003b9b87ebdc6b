// Package sioclient is the Socket.IO test client of every Go test in the
// module. It has two layers:
//
//   - the raw layer, [Conn]: one Engine.IO 4 session over HTTP long-polling
//     or WebSocket that sends and receives Socket.IO packets as wire text (and
//     binary attachments as they are), for protocol tests. Engine.IO pings are
//     answered; everything else is the test's business.
//   - the event layer, [Client]: a socket connected to one namespace (with an
//     optional auth payload) that emits events (with or without an
//     acknowledgement, binary attachments included), receives events and
//     answers the server's acknowledgement requests.
//
// Calls that block take a context and return errors, so they are usable from
// any goroutine; the methods taking a testing.TB (Connect, Expect,
// ExpectNothing) are the short forms for a test's main goroutine, bounded by
// [Guard]. Compatibility with the official client is proven by the Node and
// Chromium tests; this client only drives and observes the server.
package sioclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/socketfleet/socketfleet/runtime/parser"
)

// Guard bounds every wait of the testing.TB helpers and of each write; it is
// a failure guard, not a speed assertion.
const Guard = 10 * time.Second

// Quiet is the window in which ExpectNothing must see nothing arrive.
const Quiet = 200 * time.Millisecond

// Transport is the Engine.IO transport a Conn uses.
type Transport string

// The Engine.IO transports.
const (
	WebSocket Transport = "websocket"
	Polling   Transport = "polling"
)

// Options configures a connection. The zero value is a WebSocket session
// connected (by the event layer) to the main namespace without auth.
type Options struct {
	// Transport is WebSocket when empty.
	Transport Transport
	// Query is appended to the handshake query string (e.g. "room=red").
	Query string
	// Header is sent with every HTTP request (e.g. an Origin).
	Header http.Header

	// Namespace is the event layer's namespace ("/" when empty).
	Namespace string
	// Auth is the event layer's CONNECT payload (none when nil).
	Auth any
	// AnswerAcks, when set, answers every event asking for an
	// acknowledgement with the values it returns (see Client.AnswerAcks).
	AnswerAcks func(Event) []any
}

// Message is one Engine.IO message received from the server: the text of a
// Socket.IO packet (without the Engine.IO "4" type) or a binary attachment.
type Message struct {
	Binary bool
	Data   []byte
}

// Conn is one Engine.IO session (the raw layer).
type Conn struct {
	// SID is the Engine.IO session id from the open packet.
	SID string
	// Open is the JSON of the Engine.IO open packet.
	Open string

	t       transport
	msgs    *queue[Message]
	decoder parser.Decoder // used by NextPacket only
	closed  chan struct{}

	mu  sync.Mutex
	err error
}

// transport moves Engine.IO packets: text packets include their type
// character; binary packets are attachments.
type transport interface {
	write(binary bool, data []byte) error
	read() (binary bool, data []byte, err error)
	// close ends the transport; announce sends the Engine.IO close packet
	// first where the transport needs it to end promptly (polling).
	close(announce bool)
}

// endpoint returns the Engine.IO URL for rawURL with the handshake query:
// the path defaults to /socket.io/ and the scheme follows the transport.
func endpoint(rawURL string, tr Transport, query string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", rawURL, err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/socket.io/"
	}
	q := "EIO=4&transport=" + string(tr)
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	if query != "" {
		q += "&" + query
	}
	u.RawQuery = q
	if tr == WebSocket {
		u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	}
	return u.String(), nil
}

// Dial opens an Engine.IO session at rawURL (http://host:port, whose path
// defaults to /socket.io/, or the full endpoint such as
// http://host:port/rt/) and reads the open packet. Close ends it.
func Dial(ctx context.Context, rawURL string, opts Options) (*Conn, error) {
	tr := opts.Transport
	if tr == "" {
		tr = WebSocket
	}
	u, err := endpoint(rawURL, tr, opts.Query)
	if err != nil {
		return nil, err
	}
	var (
		t    transport
		open []byte
	)
	switch tr {
	case WebSocket:
		t, open, err = dialWebSocket(ctx, u, opts.Header)
	case Polling:
		t, open, err = dialPolling(ctx, u, opts.Header)
	default:
		return nil, fmt.Errorf("unknown transport %q", tr)
	}
	if err != nil {
		return nil, err
	}
	c := &Conn{Open: string(open[1:]), t: t, msgs: newQueue[Message](), closed: make(chan struct{})}
	var hs struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(open[1:], &hs); err != nil {
		t.close(false)
		return nil, fmt.Errorf("decode open packet %q: %w", open, err)
	}
	c.SID = hs.SID
	go c.readLoop()
	return c, nil
}

func (c *Conn) readLoop() {
	defer close(c.closed)
	defer c.msgs.close()
	for {
		binary, data, err := c.t.read()
		if err != nil {
			c.setErr(err)
			return
		}
		if binary {
			c.msgs.push(Message{Binary: true, Data: data})
			continue
		}
		if len(data) == 0 {
			continue
		}
		switch data[0] {
		case '2': // ping
			_ = c.t.write(false, append([]byte{'3'}, data[1:]...))
		case '4':
			c.msgs.push(Message{Data: data[1:]})
		case '1':
			c.setErr(errors.New("engine.io close packet"))
			c.t.close(false)
			return
		}
	}
}

func (c *Conn) setErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// Err returns why the connection ended (nil while it is open).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Send sends the text of a Socket.IO packet (e.g. `2["news",1]`) as an
// Engine.IO message.
func (c *Conn) Send(text string) error {
	return c.SendEngineIO("4" + text)
}

// SendEngineIO sends a raw Engine.IO text packet, type included (e.g.
// "2probe" or "1").
func (c *Conn) SendEngineIO(packet string) error {
	if err := c.t.write(false, []byte(packet)); err != nil {
		return fmt.Errorf("send %q: %w", packet, err)
	}
	return nil
}

// SendBinary sends a binary Engine.IO message (an attachment).
func (c *Conn) SendBinary(data []byte) error {
	if err := c.t.write(true, data); err != nil {
		return fmt.Errorf("send binary: %w", err)
	}
	return nil
}

// SendPacket encodes and sends a packet followed by its attachments.
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

// Next returns the next message, or an error when ctx ends or the connection
// closed with nothing left to read.
func (c *Conn) Next(ctx context.Context) (Message, error) {
	m, ok, err := c.msgs.pop(ctx)
	if err != nil {
		return Message{}, fmt.Errorf("waiting for a message: %w", err)
	}
	if !ok {
		return Message{}, fmt.Errorf("connection closed: %w", c.Err())
	}
	return m, nil
}

// NextText returns the next message, which must be text.
func (c *Conn) NextText(ctx context.Context) (string, error) {
	m, err := c.Next(ctx)
	if err != nil {
		return "", err
	}
	if m.Binary {
		return "", fmt.Errorf("unexpected binary message %x", m.Data)
	}
	return string(m.Data), nil
}

// NextPacket returns the next complete packet, attachments included. Do not
// mix it with Next on the same packet.
func (c *Conn) NextPacket(ctx context.Context) (*parser.Packet, error) {
	for {
		m, err := c.Next(ctx)
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

// Expect fails the test unless the next message is the text want (a
// Socket.IO packet without the Engine.IO type, e.g. `2["news",1]`) within
// Guard.
func (c *Conn) Expect(t testing.TB, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Guard)
	defer cancel()
	got, err := c.NextText(ctx)
	if err != nil {
		t.Fatalf("sioclient: want %q: %v", want, err)
	}
	if got != want {
		t.Fatalf("sioclient: got %q, want %q", got, want)
	}
}

// ExpectNothing fails the test if a message arrives (or the connection
// closes) within Quiet.
func (c *Conn) ExpectNothing(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Quiet)
	defer cancel()
	if m, err := c.Next(ctx); err == nil {
		t.Fatalf("sioclient: unexpected message %q", m.Data)
	} else if ctx.Err() == nil {
		t.Fatalf("sioclient: %v", err)
	}
}

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// WaitClosed discards messages until the server closes the connection, or
// returns an error when ctx ends first.
func (c *Conn) WaitClosed(ctx context.Context) error {
	for {
		if _, ok, err := c.msgs.pop(ctx); err != nil {
			return fmt.Errorf("connection still open: %w", err)
		} else if !ok {
			return nil
		}
	}
}

// Close ends the session and waits for the reader: a WebSocket is closed
// under the server (a transport close); a polling session sends the
// Engine.IO close packet, the only prompt end a polling client has.
func (c *Conn) Close() {
	c.t.close(true)
	<-c.closed
}

// webSocket is the WebSocket transport.
type webSocket struct {
	ws      *websocket.Conn
	writeMu sync.Mutex // the reader (pongs, acks) and the test both write
}

func dialWebSocket(ctx context.Context, u string, header http.Header) (*webSocket, []byte, error) {
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, u, header)
	if err != nil {
		if resp != nil {
			return nil, nil, fmt.Errorf("dial %s: %w (status %d)", u, err, resp.StatusCode)
		}
		return nil, nil, fmt.Errorf("dial %s: %w", u, err)
	}
	deadline := time.Now().Add(Guard)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = ws.SetReadDeadline(deadline)
	typ, data, err := ws.ReadMessage()
	if err != nil || typ != websocket.TextMessage || len(data) == 0 || data[0] != '0' {
		_ = ws.Close()
		return nil, nil, fmt.Errorf("read open packet: %q %v", data, err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	return &webSocket{ws: ws}, data, nil
}

func (w *webSocket) write(binary bool, data []byte) error {
	typ := websocket.TextMessage
	if binary {
		typ = websocket.BinaryMessage
	}
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	_ = w.ws.SetWriteDeadline(time.Now().Add(Guard))
	return w.ws.WriteMessage(typ, data)
}

func (w *webSocket) read() (bool, []byte, error) {
	typ, data, err := w.ws.ReadMessage()
	return typ == websocket.BinaryMessage, data, err
}

func (w *webSocket) close(bool) { _ = w.ws.Close() }

// polling is the HTTP long-polling transport: a reader goroutine issues
// GETs, writes are POSTs of one packet each, one at a time (the server
// refuses overlapping POSTs).
type polling struct {
	url     string // with sid
	header  http.Header
	hc      *http.Client
	ctx     context.Context // ends the pending GET on close
	cancel  context.CancelFunc
	writeMu sync.Mutex
	pending [][]byte // packets of the last payload not yet read

	closeOnce sync.Once
}

const recordSeparator = "\x1e"

func dialPolling(ctx context.Context, u string, header http.Header) (*polling, []byte, error) {
	hc := &http.Client{Transport: &http.Transport{}}
	pctx, cancel := context.WithCancel(context.Background())
	p := &polling{header: header, hc: hc, ctx: pctx, cancel: cancel}
	payload, err := p.get(ctx, u)
	if err != nil {
		p.shut()
		return nil, nil, fmt.Errorf("polling handshake: %w", err)
	}
	packets := strings.Split(string(payload), recordSeparator)
	if len(packets[0]) == 0 || packets[0][0] != '0' {
		p.shut()
		return nil, nil, fmt.Errorf("read open packet: %q", payload)
	}
	var hs struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(packets[0][1:]), &hs); err != nil {
		p.shut()
		return nil, nil, fmt.Errorf("decode open packet %q: %w", packets[0], err)
	}
	p.url = u + "&sid=" + url.QueryEscape(hs.SID)
	for _, s := range packets[1:] {
		p.pending = append(p.pending, []byte(s))
	}
	return p, []byte(packets[0]), nil
}

func (p *polling) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build GET: %w", err)
	}
	return p.do(req)
}

func (p *polling) do(req *http.Request) ([]byte, error) {
	for k, v := range p.header {
		req.Header[k] = v
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s body: %w", req.Method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d: %s", req.Method, resp.StatusCode, body)
	}
	return body, nil
}

func (p *polling) read() (bool, []byte, error) {
	for len(p.pending) == 0 {
		payload, err := p.get(p.ctx, p.url)
		if err != nil {
			return false, nil, err
		}
		for _, s := range strings.Split(string(payload), recordSeparator) {
			p.pending = append(p.pending, []byte(s))
		}
	}
	packet := p.pending[0]
	p.pending = p.pending[1:]
	if len(packet) > 0 && packet[0] == 'b' {
		data, err := base64.StdEncoding.DecodeString(string(packet[1:]))
		if err != nil {
			return false, nil, fmt.Errorf("decode binary packet: %w", err)
		}
		return true, data, nil
	}
	return false, packet, nil
}

func (p *polling) write(binary bool, data []byte) error {
	if binary {
		data = append([]byte{'b'}, base64.StdEncoding.EncodeToString(data)...)
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	// Not cut when the reader ends: the server may answer the GET that ends
	// the session (after a close packet, say) before the POST carrying it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), Guard)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("build POST: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	_, err = p.do(req)
	return err
}

func (p *polling) close(announce bool) {
	p.closeOnce.Do(func() {
		if announce {
			_ = p.write(false, []byte("1"))
		}
		p.shut()
	})
}

// shut ends the pending GET and drops idle connections.
func (p *polling) shut() {
	p.cancel()
	p.hc.CloseIdleConnections()
}
