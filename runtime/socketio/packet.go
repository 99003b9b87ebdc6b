package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/socketfleet/socketfleet/runtime/parser"
)

// newEventPacket builds the EVENT packet [event, ...args] for namespace nsp.
func newEventPacket(nsp, event string, args []any) (*parser.Packet, error) {
	all := make([]any, 0, len(args)+1)
	all = append(all, event)
	all = append(all, args...)
	data, attachments, err := parser.EncodeArgs(all...)
	if err != nil {
		return nil, fmt.Errorf("encode %q arguments: %w", event, err)
	}
	return &parser.Packet{Type: parser.Event, Namespace: nsp, Data: data, Attachments: attachments}, nil
}

// AppendOffset appends a connection state recovery offset to an event
// packet's arguments (as its last element), for cluster adapters that assign
// offsets themselves (e.g. a Redis Streams entry id).
func AppendOffset(packet *parser.Packet, offset string) {
	packet.Data = appendOffset(packet.Data, offset)
}

// packetOffset returns the connection state recovery offset of an event
// packet (its last argument when that is a string), or "".
func packetOffset(p *parser.Packet) string {
	if p == nil || p.Type != parser.Event {
		return ""
	}
	var args []json.RawMessage
	if err := json.Unmarshal(p.Data, &args); err != nil || len(args) < 2 {
		return ""
	}
	var offset string
	if err := json.Unmarshal(args[len(args)-1], &offset); err != nil {
		return ""
	}
	return offset
}

// appendOffset appends the string offset as the last element of the JSON
// array data (the connection state recovery offset). data must be a
// non-empty array, which event payloads always are.
func appendOffset(data json.RawMessage, offset string) json.RawMessage {
	trimmed := bytes.TrimRight(data, " \t\r\n")
	if len(trimmed) < 2 || trimmed[len(trimmed)-1] != ']' {
		return data
	}
	quoted, _ := json.Marshal(offset) // a string always encodes
	out := make(json.RawMessage, 0, len(trimmed)+len(quoted)+1)
	out = append(out, trimmed[:len(trimmed)-1]...)
	if len(bytes.TrimSpace(trimmed[1:len(trimmed)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(out, quoted...)
	out = append(out, ']')
	return out
}

// splitEvent returns the event name and the arguments of an event payload.
// A numeric first element (allowed by the protocol) is named by its JSON text.
func splitEvent(all []json.RawMessage) (string, []json.RawMessage, error) {
	if len(all) == 0 {
		return "", nil, fmt.Errorf("event payload: %w", parser.ErrInvalidPacket)
	}
	first := bytes.TrimSpace(all[0])
	if len(first) > 0 && first[0] == '"' {
		var name string
		if err := json.Unmarshal(first, &name); err != nil {
			return "", nil, fmt.Errorf("event name: %w", err)
		}
		return name, all[1:], nil
	}
	return string(first), all[1:], nil
}

// splitEventArgs returns the event name and the arguments of an event's
// argument list, named as splitEvent does.
func splitEventArgs(all ArgList) (string, ArgList, error) {
	if len(all) == 0 {
		return "", nil, fmt.Errorf("event payload: %w", parser.ErrInvalidPacket)
	}
	first, _ := all[0].Raw()
	name, _, err := splitEvent([]json.RawMessage{first})
	return name, all[1:], err
}
