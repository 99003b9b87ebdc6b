package parser

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
)

// Arg is one event or acknowledgement argument as it was received: its JSON
// text, where binary parts are {"_placeholder":true,"num":n} markers, and the
// attachments of its packet. Passing an Arg to EncodeArgs (so to Emit, Ack or
// a broadcast) sends it again with its binary parts as attachments: emitting
// every argument of a packet in order reproduces the packet, placeholders and
// attachments included. The zero Arg is JSON null.
type Arg struct {
	raw         json.RawMessage
	attachments [][]byte // the packet's attachments; nil for a text packet
}

// ArgList is the argument list of an event or acknowledgement.
type ArgList []Arg

// Any returns the arguments as []any, for spreading into Emit, Ack or
// EmitWithAck: s.Emit("echo", ev.Args().Any()...) echoes an event as it came.
func (l ArgList) Any() []any {
	out := make([]any, len(l))
	for i, a := range l {
		out[i] = a
	}
	return out
}

// JSONArg returns an Arg holding a JSON value without binary parts (it is
// sent as it is, placeholder-looking objects included).
func JSONArg(raw json.RawMessage) Arg { return Arg{raw: raw} }

// SplitArgs splits a payload array into its arguments. The attachments are
// shared with the packet, not copied. The placeholders of a binary packet
// must have been checked (Decoder does).
func SplitArgs(data json.RawMessage, attachments [][]byte) (ArgList, error) {
	var out ArgList
	err := eachElement(data, func(elem json.RawMessage) error {
		a := Arg{raw: elem}
		if len(attachments) > 0 && bytes.Contains(elem, placeholderKey) {
			a.attachments = attachments
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// eachElement calls fn with every element of a JSON array, in order.
func eachElement(data json.RawMessage, fn func(elem json.RawMessage) error) error {
	i := 0
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	if i >= len(data) || data[i] != '[' {
		return fmt.Errorf("payload is not an array: %w", ErrInvalidPacket)
	}
	i++
	for {
		for i < len(data) && (isSpace(data[i]) || data[i] == ',') {
			i++
		}
		if i >= len(data) {
			return fmt.Errorf("unterminated payload array: %w", ErrInvalidPacket)
		}
		if data[i] == ']' {
			return nil
		}
		end := skipValue(data, i)
		if end <= i {
			return fmt.Errorf("malformed payload array: %w", ErrInvalidPacket)
		}
		if err := fn(json.RawMessage(data[i:end])); err != nil {
			return err
		}
		i = end
	}
}

// Raw returns the argument's JSON text with its placeholders and the
// attachments they number (the whole packet's, nil when it has none).
func (a Arg) Raw() (json.RawMessage, [][]byte) {
	if a.raw == nil {
		return json.RawMessage("null"), nil
	}
	return a.raw, a.attachments
}

// HasBinary reports whether the argument holds binary parts at any depth.
func (a Arg) HasBinary() bool { return a.attachments != nil }

// Bytes returns the argument's bytes when the argument itself is binary.
func (a Arg) Bytes() ([]byte, bool) {
	if a.attachments == nil {
		return nil, false
	}
	spans, err := placeholders(a.raw, len(a.attachments))
	if err != nil || len(spans) != 1 || spans[0].start != 0 || spans[0].end != len(bytes.TrimRight(a.raw, " \t\r\n")) {
		return nil, false
	}
	return a.attachments[spans[0].num], true
}

// Value decodes the argument into plain Go values: map[string]any, []any,
// string, float64, bool, nil, and []byte for every binary part.
func (a Arg) Value() (any, error) {
	raw, _ := a.Raw()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("decode argument: %w", err)
	}
	if a.attachments == nil {
		return v, nil
	}
	return replacePlaceholders(v, func(n int) any { return a.attachments[n] }, len(a.attachments))
}

// Decode decodes the argument into dst with encoding/json, binary parts
// given as []byte: a []byte (field, element, *[]byte) receives the bytes, a
// *any destination gets Value's result. Inside structs, an `any` field that
// holds binary receives its base64 string; declare such fields []byte.
func (a Arg) Decode(dst any) error {
	if p, ok := dst.(*any); ok {
		v, err := a.Value()
		if err != nil {
			return err
		}
		*p = v
		return nil
	}
	raw, err := a.withBinaryAs(func(out []byte, b []byte) []byte {
		out = append(out, '"')
		out = base64.StdEncoding.AppendEncode(out, b)
		return append(out, '"')
	}, false)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("decode argument into %s: %w", reflect.TypeOf(dst), err)
	}
	return nil
}

// MarshalJSON writes the argument in the binary JSON encoding of the
// publish API and the webhook: every binary part becomes {"$binary":"<base64>"}
// and a data object whose only member is named "$binary" or "$literal" is
// wrapped as {"$literal":<object>} so that it is not read as binary.
func (a Arg) MarshalJSON() ([]byte, error) {
	return a.withBinaryAs(appendBinaryMarker, true)
}

// UnmarshalJSON reads the binary JSON encoding (see MarshalJSON) into a.
func (a *Arg) UnmarshalJSON(data []byte) error {
	v, err := ParseBinaryJSON(data)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

func appendBinaryMarker(out []byte, b []byte) []byte {
	out = append(out, `{"$binary":"`...)
	out = base64.StdEncoding.AppendEncode(out, b)
	return append(out, `"}`...)
}

// withBinaryAs rewrites the argument's JSON with every placeholder replaced by
// put(attachment); escape also wraps data objects that look like markers.
func (a Arg) withBinaryAs(put func(out, b []byte) []byte, escape bool) ([]byte, error) {
	raw, _ := a.Raw()
	mayEscape := escape && (bytes.Contains(raw, markerBinary) || bytes.Contains(raw, markerLiteral))
	if a.attachments == nil && !mayEscape {
		return raw, nil
	}
	objs, err := scanObjects(raw)
	if err != nil {
		return nil, err
	}
	var edits []edit
	for _, o := range objs {
		switch {
		case a.attachments != nil && o.placeholder:
			num, ok := placeholderNum(o.num, len(a.attachments))
			if !ok {
				return nil, fmt.Errorf("illegal attachment placeholder: %w", ErrInvalidPacket)
			}
			edits = append(edits, edit{start: o.start, end: o.end, put: func(out []byte) []byte { return put(out, a.attachments[num]) }})
		case mayEscape && o.markerShaped():
			edits = append(edits,
				edit{start: o.start, end: o.start, put: func(out []byte) []byte { return append(out, `{"$literal":`...) }},
				edit{start: o.end, end: o.end, put: func(out []byte) []byte { return append(out, '}') }})
		}
	}
	return applyEdits(raw, edits), nil
}

// appendArg appends an Arg to a payload being encoded, renumbering its
// placeholders after the attachments already collected.
func appendArg(buf []byte, a Arg, attachments *[][]byte) ([]byte, error) {
	raw, atts := a.Raw()
	if atts == nil {
		return append(buf, raw...), nil
	}
	spans, err := placeholders(raw, len(atts))
	if err != nil {
		return nil, err
	}
	at := 0
	for _, s := range spans {
		buf = append(buf, raw[at:s.start]...)
		*attachments = append(*attachments, atts[s.num])
		buf = append(buf, `{"_placeholder":true,"num":`...)
		buf = strconv.AppendInt(buf, int64(len(*attachments)-1), 10)
		buf = append(buf, '}')
		at = s.end
	}
	return append(buf, raw[at:]...), nil
}

// ParseBinaryJSON reads one JSON value in the binary JSON encoding of the
// publish API and the webhook ({"$binary":"<standard base64>"} is binary,
// {"$literal":{...}} is the object inside, taken as data) into an Arg whose
// binary parts become attachments. A data object with "_placeholder": true
// cannot travel next to binary parts (the client would read it as one) and is
// refused.
func ParseBinaryJSON(data []byte) (Arg, error) {
	a, placeholder, err := parseBinaryJSON(data)
	if err == nil && a.attachments != nil && placeholder {
		err = errPlaceholderData
	}
	return a, err
}

// ParseBinaryJSONArgs reads a list of arguments as ParseBinaryJSON does; a
// data object with "_placeholder": true is refused when any argument holds
// binary (they travel in one packet). Errors name the argument.
func ParseBinaryJSONArgs(list []json.RawMessage) (ArgList, error) {
	out := make(ArgList, len(list))
	binary, placeholder := -1, -1
	for i, raw := range list {
		a, ph, err := parseBinaryJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("args[%d]: %w", i, err)
		}
		if a.attachments != nil && binary < 0 {
			binary = i
		}
		if ph && placeholder < 0 {
			placeholder = i
		}
		out[i] = a
	}
	if binary >= 0 && placeholder >= 0 {
		return nil, fmt.Errorf("args[%d]: %w", placeholder, errPlaceholderData)
	}
	return out, nil
}

var errPlaceholderData = fmt.Errorf("binary JSON: an object with \"_placeholder\": true cannot be sent along with binary data")

// parseBinaryJSON is ParseBinaryJSON without the placeholder check; it
// reports whether the data holds an object with "_placeholder": true.
func parseBinaryJSON(data []byte) (Arg, bool, error) {
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return Arg{}, false, fmt.Errorf("binary JSON: not valid JSON")
	}
	hasMarker := bytes.Contains(data, markerBinary) || bytes.Contains(data, markerLiteral)
	if !hasMarker && !bytes.Contains(data, placeholderKey) {
		return Arg{raw: json.RawMessage(data)}, false, nil
	}
	objs, err := scanObjects(data)
	if err != nil {
		return Arg{}, false, err
	}
	var (
		edits       []edit
		attachments [][]byte
		literal     = map[int]bool{} // starts of objects taken as data
		placeholder bool
	)
	for _, o := range objs {
		if literal[o.start] {
			placeholder = placeholder || o.placeholder
			continue
		}
		switch {
		case o.members == 1 && o.key == "$binary":
			var s string
			if err := json.Unmarshal(data[o.valStart:o.valEnd], &s); err != nil {
				return Arg{}, false, fmt.Errorf("binary JSON: $binary at offset %d needs a base64 string", o.start)
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return Arg{}, false, fmt.Errorf("binary JSON: $binary at offset %d: %w", o.start, err)
			}
			attachments = append(attachments, b)
			n := len(attachments) - 1
			edits = append(edits, edit{start: o.start, end: o.end, put: func(out []byte) []byte {
				out = append(out, `{"_placeholder":true,"num":`...)
				out = strconv.AppendInt(out, int64(n), 10)
				return append(out, '}')
			}})
		case o.members == 1 && o.key == "$literal":
			if data[o.valStart] != '{' {
				return Arg{}, false, fmt.Errorf("binary JSON: $literal at offset %d needs an object", o.start)
			}
			literal[o.valStart] = true
			edits = append(edits,
				edit{start: o.start, end: o.valStart},
				edit{start: o.valEnd, end: o.end})
		default:
			placeholder = placeholder || o.placeholder
		}
	}
	a := Arg{raw: json.RawMessage(applyEdits(data, edits))}
	if len(attachments) > 0 {
		a.attachments = attachments
	}
	return a, placeholder, nil
}

var (
	markerBinary  = []byte(`"$binary"`)
	markerLiteral = []byte(`"$literal"`)
)

// edit replaces data[start:end] by what put appends (nothing when nil).
type edit struct {
	start, end int
	put        func(out []byte) []byte
}

// applyEdits applies edits sorted by position; an edit inside the span of an
// earlier replacement is dropped with the text it would have changed.
func applyEdits(data []byte, edits []edit) []byte {
	if len(edits) == 0 {
		return data
	}
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	out := make([]byte, 0, len(data)+16*len(edits))
	at := 0
	for _, e := range edits {
		if e.start < at {
			continue
		}
		out = append(out, data[at:e.start]...)
		if e.put != nil {
			out = e.put(out)
		}
		at = e.end
	}
	return append(out, data[at:]...)
}

// span is a placeholder object of a JSON text and the attachment it numbers.
type span struct{ start, end, num int }

// placeholders returns the outermost placeholder objects of a JSON text in
// order, checking that each numbers one of count attachments.
func placeholders(raw []byte, count int) ([]span, error) {
	objs, err := scanObjects(raw)
	if err != nil {
		return nil, err
	}
	var out []span
	last := -1
	for _, o := range objs {
		if !o.placeholder || o.start < last {
			continue
		}
		num, ok := placeholderNum(o.num, count)
		if !ok {
			return nil, fmt.Errorf("illegal attachment placeholder: %w", ErrInvalidPacket)
		}
		out = append(out, span{start: o.start, end: o.end, num: num})
		last = o.end
	}
	return out, nil
}

// placeholderNum reads the num member of a placeholder as the reference
// parser does (a number naming an existing attachment).
func placeholderNum(raw []byte, count int) (int, bool) {
	if raw == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f < 0 || f >= float64(count) || f != float64(int(f)) {
		return 0, false
	}
	return int(f), true
}

// object describes one JSON object of a text: its span, its member count,
// its first member (key and value span) and, for placeholder detection, the
// scalar values of its last "_placeholder" and "num" members.
type object struct {
	start, end       int
	members          int
	key              string // first member's key, when it is one of the markers
	valStart, valEnd int    // first member's value
	placeholder      bool
	num              []byte
}

// markerShaped reports whether a data object would be read as a marker of
// the binary JSON encoding.
func (o object) markerShaped() bool {
	return o.members == 1 && (o.key == "$binary" || o.key == "$literal")
}

// frame is an open container while scanning.
type frame struct {
	obj       object
	isObject  bool
	key       []byte // the current member's key (raw JSON string)
	valStart  int
	phValue   []byte
	numValue  []byte
	expectKey bool
}

// scanObjects lists every object of a valid JSON text, sorted by start, in
// one linear pass (no recursion, whatever the nesting).
func scanObjects(data []byte) ([]object, error) {
	stack := make([]frame, 0, 8)
	out := make([]object, 0, 4)
	// memberValue records a finished member value data[start:end] of the
	// innermost open object.
	memberValue := func(start, end int) {
		if len(stack) == 0 || !stack[len(stack)-1].isObject {
			return
		}
		f := &stack[len(stack)-1]
		f.obj.members++
		key := keyName(f.key)
		if f.obj.members == 1 && (key == "$binary" || key == "$literal") {
			f.obj.key, f.obj.valStart, f.obj.valEnd = key, start, end
		}
		switch key {
		case "_placeholder":
			f.phValue = data[start:end]
		case "num":
			f.numValue = data[start:end]
		}
		f.expectKey = true
	}
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case isSpace(c) || c == ':' || c == ',':
			i++
		case c == '{' || c == '[':
			stack = append(stack, frame{isObject: c == '{', expectKey: c == '{', obj: object{start: i}, valStart: i})
			i++
		case c == '}' || c == ']':
			if len(stack) == 0 {
				return nil, fmt.Errorf("unbalanced JSON: %w", ErrInvalidPacket)
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			i++
			if f.isObject {
				f.obj.end = i
				f.obj.placeholder = string(f.phValue) == "true"
				f.obj.num = f.numValue
				out = append(out, f.obj)
			}
			memberValue(f.obj.start, i)
		case c == '"':
			end := skipValue(data, i)
			if end <= i {
				return nil, fmt.Errorf("unterminated JSON string: %w", ErrInvalidPacket)
			}
			if len(stack) > 0 && stack[len(stack)-1].isObject && stack[len(stack)-1].expectKey {
				stack[len(stack)-1].key = data[i:end]
				stack[len(stack)-1].expectKey = false
			} else {
				memberValue(i, end)
			}
			i = end
		default:
			end := skipValue(data, i)
			if end <= i {
				return nil, fmt.Errorf("malformed JSON: %w", ErrInvalidPacket)
			}
			memberValue(i, end)
			i = end
		}
	}
	if len(stack) != 0 {
		return nil, fmt.Errorf("unbalanced JSON: %w", ErrInvalidPacket)
	}
	// Objects were appended as they closed; order them by start.
	slices.SortFunc(out, func(x, y object) int { return x.start - y.start })
	return out, nil
}

// keyName returns the text of a raw JSON object key when it is one the
// scanner looks for, else "".
func keyName(raw []byte) string {
	if len(raw) < 2 {
		return ""
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return ""
		}
		inner = []byte(s)
	}
	switch string(inner) {
	case "$binary":
		return "$binary"
	case "$literal":
		return "$literal"
	case "_placeholder":
		return "_placeholder"
	case "num":
		return "num"
	}
	return ""
}
