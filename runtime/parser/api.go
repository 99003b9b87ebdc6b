// Package parser encodes and decodes Socket.IO protocol 5 packets: the text
// header `<type>[<attachments>-][<nsp>,][<id>][<json>]`, binary attachments
// with their `{"_placeholder":true,"num":n}` markers, and the payload rules of
// the reference parser (socket.io-parser 4.2).
package parser

// API CONTRACT (written before the implementation; keep these names and
// signatures; you may add to them).
//
//	type Type byte
//	const Connect Type = 0; Disconnect = 1; Event = 2; Ack = 3; ConnectError = 4; BinaryEvent = 5; BinaryAck = 6
//
//	type Packet struct {
//	    Type        Type
//	    Namespace   string          // "/" when absent on the wire
//	    ID          uint64          // ack id, valid when HasID
//	    HasID       bool
//	    Data        json.RawMessage // payload JSON with placeholders; nil when absent
//	    Attachments [][]byte        // binary attachments, in placeholder order
//	}
//
//	// Encode returns the text message and the binary attachments to send after it.
//	// Event/Ack with attachments are written as BinaryEvent/BinaryAck.
//	func (p *Packet) Encode() (text []byte, attachments [][]byte)
//
//	// Decoder reassembles packets from Engine.IO messages. Not safe for concurrent use.
//	type Decoder struct { MaxAttachments int /* default 10 */ }
//	func (d *Decoder) Decode(data []byte, binary bool) (*Packet, error) // (nil, nil) while awaiting attachments
//	// Errors wrap ErrInvalidPacket (close the connection with "parse error").
//	var ErrInvalidPacket
//
//	// EncodeArgs builds an event/ack payload array from Go values: []byte values
//	// (top level, or inside []any / map[string]any) become attachments and placeholders;
//	// json.RawMessage is inserted as is; anything else goes through encoding/json.
//	func EncodeArgs(args ...any) (json.RawMessage, [][]byte, error)
//	// Args splits a payload array into its elements, with placeholders replaced by
//	// base64 JSON strings (so encoding/json decodes them into []byte fields).
//	func Args(data json.RawMessage, attachments [][]byte) ([]json.RawMessage, error)
