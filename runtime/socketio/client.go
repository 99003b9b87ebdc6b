package socketio

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/socketfleet/socketfleet/runtime/engineio"
	"github.com/socketfleet/socketfleet/runtime/parser"
)

// client is one Engine.IO session seen from Socket.IO: it decodes packets,
// routes them to the session's sockets (one per namespace) and implements
// engineio.SessionHandler. Engine.IO serializes OnMessage and OnClose.
type client struct {
	srv     *Server
	sess    *engineio.Session
	decoder parser.PacketDecoder // used from OnMessage only
	base    handshakeBase

	mu           sync.Mutex
	sockets      []*Socket // one per namespace (usually one in all)
	connectTimer *time.Timer
	closed       bool
}

func newClient(srv *Server, sess *engineio.Session, r *http.Request) *client {
	c := &client{
		srv:     srv,
		sess:    sess,
		decoder: srv.opts.Parser.NewDecoder(srv.opts.MaxAttachments),
		base:    newHandshakeBase(r, &srv.handshakeStrings),
	}
	if srv.opts.ConnectTimeout > 0 {
		c.mu.Lock()
		c.connectTimer = time.AfterFunc(srv.opts.ConnectTimeout, c.onConnectTimeout)
		c.mu.Unlock()
	}
	return c
}

// OnMessage decodes one Engine.IO message and handles the completed packet.
func (c *client) OnMessage(data []byte, binary bool) {
	pkt, err := c.decoder.Decode(data, binary)
	if err != nil {
		c.onParseError(err)
		return
	}
	if pkt == nil {
		return // waiting for binary attachments
	}
	if pkt.Type == parser.Connect {
		c.connect(pkt.Namespace, pkt.Data)
		return
	}
	c.mu.Lock()
	s := c.socketLocked(pkt.Namespace)
	c.mu.Unlock()
	if s != nil {
		s.onPacket(pkt)
	}
}

// OnClose closes every socket of the session with the Engine.IO reason.
func (c *client) OnClose(reason string) {
	c.mu.Lock()
	c.closed = true
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
	socks := c.socketsLocked()
	c.mu.Unlock()
	for _, s := range socks {
		s.onClose(reason)
	}
}

// OnServerClose stores the recoverable state of the session's sockets
// before the server closes the transport (engineio.ClosingHandler): a client
// the drain or a shed moves may reconnect to another server before OnClose
// would store it, and must find its session there.
func (c *client) OnServerClose() {
	for _, s := range c.socketList() {
		s.persistSession()
	}
}

// onParseError reports a protocol violation to the sockets and closes the
// Engine.IO session, as the reference server does.
func (c *client) onParseError(err error) {
	if errors.Is(err, parser.ErrParserMismatch) {
		c.srv.parserMismatch(c.sess, err)
	}
	for _, s := range c.socketList() {
		s.emitError(err)
	}
	c.sess.Close()
}

func (c *client) onConnectTimeout() {
	c.mu.Lock()
	idle := !c.closed && len(c.sockets) == 0
	c.connectTimer = nil
	c.mu.Unlock()
	if idle {
		c.sess.Close()
	}
}

// connect handles a CONNECT packet for namespace name.
func (c *client) connect(name string, auth json.RawMessage) {
	if c.srv.isClosed() {
		return
	}
	nsp := c.srv.resolveNamespace(c.srv.ctx, name, auth)
	if nsp == nil {
		c.sendPacket(&parser.Packet{
			Type:      parser.ConnectError,
			Namespace: name,
			Data:      json.RawMessage(`{"message":"Invalid namespace"}`),
		})
		return
	}
	nsp.connect(c, auth)
}

// addSocket registers a connected socket; false when the session closed.
// A previous socket on the same namespace is closed.
func (c *client) addSocket(s *Socket) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	old := c.socketLocked(s.nsp.name)
	if old != nil {
		c.sockets[slices.Index(c.sockets, old)] = s
	} else {
		c.sockets = append(c.sockets, s)
	}
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
	c.mu.Unlock()
	if old != nil && old != s {
		old.onClose(ReasonClientNamespaceDisconnect)
	}
	return true
}

func (c *client) removeSocket(s *Socket) {
	c.mu.Lock()
	if i := slices.Index(c.sockets, s); i >= 0 {
		c.sockets = slices.Delete(c.sockets, i, i+1)
		if len(c.sockets) == 0 {
			c.sockets = nil
		}
	}
	c.mu.Unlock()
}

func (c *client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// disconnectAll sends DISCONNECT on every namespace, closes the sockets
// ("server namespace disconnect") and then the Engine.IO session.
func (c *client) disconnectAll() {
	for _, s := range c.socketList() {
		s.Disconnect(false)
	}
	c.sess.Close()
}

func (c *client) sendPacket(p *parser.Packet) {
	c.send(c.srv.encode(p))
}

// send queues messages on the session; a closed session drops them.
func (c *client) send(msgs []*engineio.Message) {
	if err := c.sess.Send(msgs...); err != nil && !errors.Is(err, engineio.ErrSessionClosed) {
		c.srv.log.Debug("socketio: send", "session", c.sess.ID(), "err", err)
	}
}

// socketLocked returns the socket on namespace name, or nil. c.mu is held.
func (c *client) socketLocked(name string) *Socket {
	for _, s := range c.sockets {
		if s.nsp.name == name {
			return s
		}
	}
	return nil
}

// socketsLocked returns the sockets of the session (a copy). c.mu is held.
func (c *client) socketsLocked() []*Socket { return slices.Clone(c.sockets) }

// socketList returns the sockets of the session (a copy).
func (c *client) socketList() []*Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.socketsLocked()
}
