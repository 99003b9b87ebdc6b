package parser

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Type is the Socket.IO packet type, the first character of every packet.
type Type byte

// The seven packet types of protocol 5.
const (
	Connect      Type = 0
	Disconnect   Type = 1
	Event        Type = 2
	Ack          Type = 3
	ConnectError Type = 4
	BinaryEvent  Type = 5
	BinaryAck    Type = 6
)

// String returns the protocol name of the type, e.g. "EVENT".
func (t Type) String() string {
	switch t {
	case Connect:
		return "CONNECT"
	case Disconnect:
		return "DISCONNECT"
	case Event:
		return "EVENT"
	case Ack:
		return "ACK"
	case ConnectError:
		return "CONNECT_ERROR"
	case BinaryEvent:
		return "BINARY_EVENT"
	case BinaryAck:
		return "BINARY_ACK"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// ErrInvalidPacket is wrapped by every decoding error. The reference server
// closes the Engine.IO connection with reason "parse error" on such errors.
var ErrInvalidPacket = errors.New("invalid socket.io packet")

// DefaultMaxAttachments is the attachment cap of the reference parser.
const DefaultMaxAttachments = 10

// Packet is one Socket.IO packet.
type Packet struct {
	// Type is the packet type. BinaryEvent and BinaryAck are only seen on
	// decoded packets; Encode picks them itself when there are attachments.
	Type Type
	// Namespace is the namespace, "/" when absent on the wire.
	Namespace string
	// ID is the acknowledgement id, valid when HasID is set.
	ID uint64
	// HasID reports whether the packet carries an acknowledgement id.
	HasID bool
	// Data is the JSON payload, binary parts replaced by placeholders
	// ({"_placeholder":true,"num":n}); nil when absent.
	Data json.RawMessage
	// Attachments are the binary parts, in placeholder order.
	Attachments [][]byte
}

// Encode returns the text message and the binary attachments to send after
// it, in order. Event and Ack packets with attachments are written as
// BinaryEvent and BinaryAck.
func (p *Packet) Encode() (text []byte, attachments [][]byte) {
	t := p.Type
	switch {
	case len(p.Attachments) > 0 && t == Event:
		t = BinaryEvent
	case len(p.Attachments) > 0 && t == Ack:
		t = BinaryAck
	case len(p.Attachments) == 0 && t == BinaryEvent:
		t = Event
	case len(p.Attachments) == 0 && t == BinaryAck:
		t = Ack
	}
	buf := make([]byte, 0, 24+len(p.Namespace)+len(p.Data))
	buf = append(buf, '0'+byte(t))
	if t == BinaryEvent || t == BinaryAck {
		buf = strconv.AppendInt(buf, int64(len(p.Attachments)), 10)
		buf = append(buf, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		buf = append(buf, p.Namespace...)
		buf = append(buf, ',')
	}
	if p.HasID {
		buf = strconv.AppendUint(buf, p.ID, 10)
	}
	buf = append(buf, p.Data...)
	return buf, p.Attachments
}

// reservedEvents are the event names a client may not emit.
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// Decoder reassembles packets from Engine.IO messages: a text message, then
// as many binary messages as it announces attachments. A Decoder is not safe
// for concurrent use; use one per connection.
type Decoder struct {
	// MaxAttachments caps the attachments one packet may announce
	// (DefaultMaxAttachments when 0).
	MaxAttachments int

	pending *Packet // a binary packet awaiting attachments
	want    int
}

// Decode consumes one Engine.IO message. It returns the packet once it is
// complete, (nil, nil) while attachments are still expected, and an error
// wrapping ErrInvalidPacket for anything the reference parser rejects. After
// an error the decoder is reset.
func (d *Decoder) Decode(data []byte, binary bool) (*Packet, error) {
	if binary {
		if d.pending == nil {
			return nil, fmt.Errorf("binary message outside a binary packet: %w: %w", ErrParserMismatch, ErrInvalidPacket)
		}
		d.pending.Attachments = append(d.pending.Attachments, data)
		if len(d.pending.Attachments) < d.want {
			return nil, nil
		}
		p := d.pending
		d.pending, d.want = nil, 0
		if err := checkPlaceholders(p.Data, len(p.Attachments)); err != nil {
			return nil, err
		}
		return p, nil
	}
	if d.pending != nil {
		d.pending, d.want = nil, 0
		return nil, fmt.Errorf("text message while awaiting attachments: %w", ErrInvalidPacket)
	}
	maxAttachments := d.MaxAttachments
	if maxAttachments <= 0 {
		maxAttachments = DefaultMaxAttachments
	}
	p, n, err := decodeText(data, maxAttachments)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		p.Attachments = make([][]byte, 0, n)
		d.pending, d.want = p, n
		return nil, nil
	}
	return p, nil
}

// decodeText parses `<type>[<n>-][<nsp>,][<id>][<json>]` and returns the packet
// and the number of attachments it announces.
func decodeText(s []byte, maxAttachments int) (*Packet, int, error) {
	if len(s) == 0 || s[0] < '0' || s[0] > '6' {
		return nil, 0, fmt.Errorf("unknown packet type: %w", ErrInvalidPacket)
	}
	p := &Packet{Type: Type(s[0] - '0'), Namespace: "/"}
	i := 1
	attachments := 0
	if p.Type == BinaryEvent || p.Type == BinaryAck {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start || i >= len(s) || s[i] != '-' || i-start > 9 {
			return nil, 0, fmt.Errorf("illegal attachments: %w", ErrInvalidPacket)
		}
		attachments, _ = strconv.Atoi(string(s[start:i]))
		if attachments > maxAttachments {
			return nil, 0, fmt.Errorf("too many attachments (%d > %d): %w", attachments, maxAttachments, ErrInvalidPacket)
		}
		i++
	}
	if i < len(s) && s[i] == '/' {
		start := i
		for i < len(s) && s[i] != ',' {
			i++
		}
		p.Namespace = string(s[start:i])
		if i < len(s) {
			i++ // the comma
		}
	}
	if start := i; i < len(s) && s[i] >= '0' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		id, err := strconv.ParseUint(string(s[start:i]), 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("ack id: %w", ErrInvalidPacket)
		}
		p.ID, p.HasID = id, true
	}
	if i < len(s) {
		payload := s[i:]
		if !json.Valid(payload) {
			return nil, 0, fmt.Errorf("payload is not JSON: %w", ErrInvalidPacket)
		}
		p.Data = json.RawMessage(payload)
	}
	if err := checkPayload(p); err != nil {
		return nil, 0, err
	}
	return p, attachments, nil
}

// checkPayload applies the reference parser's payload rules to a packet whose
// Data is valid JSON (or absent).
func checkPayload(p *Packet) error {
	first := firstByte(p.Data)
	switch p.Type {
	case Connect:
		if p.Data != nil && first != '{' {
			return fmt.Errorf("CONNECT payload must be an object: %w", ErrInvalidPacket)
		}
	case Disconnect:
		if p.Data != nil {
			return fmt.Errorf("DISCONNECT carries no payload: %w", ErrInvalidPacket)
		}
	case ConnectError:
		if p.Data != nil && first != '{' && first != '"' {
			return fmt.Errorf("CONNECT_ERROR payload must be an object or a string: %w", ErrInvalidPacket)
		}
	case Event, BinaryEvent:
		if first != '[' {
			return fmt.Errorf("EVENT payload must be an array: %w", ErrInvalidPacket)
		}
		name, isString, ok := firstElement(p.Data)
		if !ok {
			return fmt.Errorf("EVENT payload needs an event name: %w", ErrInvalidPacket)
		}
		if isString && reservedEvents[name] {
			return fmt.Errorf("reserved event name %q: %w", name, ErrInvalidPacket)
		}
	case Ack, BinaryAck:
		if p.Data != nil && first != '[' {
			return fmt.Errorf("ACK payload must be an array: %w", ErrInvalidPacket)
		}
	}
	return nil
}

// firstByte returns the first non-space byte of a JSON value, 0 if none.
func firstByte(data []byte) byte {
	for _, c := range data {
		if !isSpace(c) {
			return c
		}
	}
	return 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// firstElement inspects the first element of a valid JSON array: ok is false
// unless it is a string or a number; name is the decoded string.
func firstElement(array []byte) (name string, isString, ok bool) {
	i := 0
	for i < len(array) && isSpace(array[i]) {
		i++
	}
	i++ // '['
	for i < len(array) && isSpace(array[i]) {
		i++
	}
	if i >= len(array) {
		return "", false, false
	}
	switch c := array[i]; {
	case c == '-' || (c >= '0' && c <= '9'):
		return "", false, true
	case c == '"':
		end := skipValue(array, i)
		if err := json.Unmarshal(array[i:end], &name); err != nil {
			return "", false, false
		}
		return name, true, true
	}
	return "", false, false
}
