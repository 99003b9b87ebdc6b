package parser

import (
	"errors"
	"fmt"
)

// Frame is one Engine.IO message of an encoded packet.
type Frame struct {
	// Data is the message payload.
	Data []byte
	// Binary marks a binary message (a text message otherwise).
	Binary bool
}

// Codec is a Socket.IO parser: how packets are written to and read from
// Engine.IO messages. Every connection of a server uses the same Codec, so
// a broadcast is encoded once for all its recipients. Implementations are
// safe for concurrent use.
type Codec interface {
	// Name is the parser's configuration name ("default", "msgpack").
	Name() string
	// Encode returns the Engine.IO messages that carry p, in order.
	Encode(p *Packet) ([]Frame, error)
	// NewDecoder returns the decoder of one connection. maxAttachments
	// caps the binary attachments of one packet where the wire format
	// announces them (DefaultMaxAttachments when 0).
	NewDecoder(maxAttachments int) PacketDecoder
}

// PacketDecoder reassembles packets from the Engine.IO messages of one
// connection. It is not safe for concurrent use.
type PacketDecoder interface {
	// Decode consumes one message: it returns the packet once complete,
	// (nil, nil) while more messages are expected, and an error wrapping
	// ErrInvalidPacket (and ErrParserMismatch when the message is in
	// another parser's format) for anything the parser rejects.
	Decode(data []byte, binary bool) (*Packet, error)
}

// ErrParserMismatch is wrapped, together with ErrInvalidPacket, by decoding
// errors caused by a message in another parser's format: a binary message
// that is no attachment at a default-parser server (a custom parser such as
// socket.io-msgpack-parser), or a text message at a msgpack server (the
// default parser).
var ErrParserMismatch = errors.New("client uses a different parser")

// The parser names accepted by ByName.
const (
	NameDefault = "default"
	NameMsgpack = "msgpack"
)

// Default is the default Socket.IO parser (socket.io-parser 4.2): a text
// message per packet followed by one binary message per attachment.
var Default Codec = defaultCodec{}

// Msgpack is the parser of socket.io-msgpack-parser 3.x: every packet is one
// binary message holding a msgpack map {type, data, nsp, id}, binary values
// inline (docs/parsers.md).
var Msgpack Codec = msgpackCodec{}

// ByName returns the parser called name ("" or "default", "msgpack").
func ByName(name string) (Codec, error) {
	switch name {
	case "", NameDefault:
		return Default, nil
	case NameMsgpack:
		return Msgpack, nil
	}
	return nil, fmt.Errorf("unknown parser %q (want %s or %s)", name, NameDefault, NameMsgpack)
}

type defaultCodec struct{}

func (defaultCodec) Name() string { return NameDefault }

func (defaultCodec) Encode(p *Packet) ([]Frame, error) {
	text, attachments := p.Encode()
	frames := make([]Frame, 0, 1+len(attachments))
	frames = append(frames, Frame{Data: text})
	for _, a := range attachments {
		frames = append(frames, Frame{Data: a, Binary: true})
	}
	return frames, nil
}

func (defaultCodec) NewDecoder(maxAttachments int) PacketDecoder {
	return &Decoder{MaxAttachments: maxAttachments}
}
