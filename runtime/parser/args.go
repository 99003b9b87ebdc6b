package parser

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
)

var placeholderKey = []byte(`"_placeholder"`)

// EncodeArgs builds an event or ack payload array from Go values. []byte
// values, at the top level or inside []any and map[string]any values, become
// attachments and {"_placeholder":true,"num":n} markers; an Arg keeps its
// binary parts as attachments (renumbered in order); json.RawMessage values
// are inserted as they are; anything else goes through encoding/json.
func EncodeArgs(args ...any) (json.RawMessage, [][]byte, error) {
	var attachments [][]byte
	buf := make([]byte, 0, 64)
	buf = append(buf, '[')
	for i, arg := range args {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		buf, err = appendValue(buf, arg, &attachments)
		if err != nil {
			return nil, nil, fmt.Errorf("encode argument %d: %w", i, err)
		}
	}
	buf = append(buf, ']')
	return buf, attachments, nil
}

// appendValue appends the JSON form of v, turning binary parts into
// placeholders.
func appendValue(buf []byte, v any, attachments *[][]byte) ([]byte, error) {
	switch x := v.(type) {
	case Arg:
		return appendArg(buf, x, attachments)
	case *Arg:
		if x == nil {
			return append(buf, "null"...), nil
		}
		return appendArg(buf, *x, attachments)
	case []byte:
		*attachments = append(*attachments, x)
		buf = append(buf, `{"_placeholder":true,"num":`...)
		buf = fmt.Appendf(buf, "%d}", len(*attachments)-1)
		return buf, nil
	case json.RawMessage:
		if x == nil {
			return append(buf, "null"...), nil
		}
		if !json.Valid(x) {
			return nil, fmt.Errorf("invalid json.RawMessage")
		}
		return append(buf, x...), nil
	case []any:
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendValue(buf, e, attachments); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case map[string]any:
		if !containsBinary(x) {
			break
		}
		// Keys in sorted order, as encoding/json writes maps: the packet
		// (and its placeholder numbering) does not depend on map order.
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = append(buf, '{')
		for i, k := range keys {
			e := x[k]
			if i > 0 {
				buf = append(buf, ',')
			}
			key, _ := json.Marshal(k)
			buf = append(buf, key...)
			buf = append(buf, ':')
			var err error
			if buf, err = appendValue(buf, e, attachments); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// containsBinary reports whether a map holds []byte values at any depth of
// []any and map[string]any nesting.
func containsBinary(v any) bool {
	switch x := v.(type) {
	case []byte:
		return true
	case Arg, *Arg:
		return true // written by appendArg, never by MarshalJSON
	case []any:
		for _, e := range x {
			if containsBinary(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if containsBinary(e) {
				return true
			}
		}
	}
	return false
}

// Args splits a payload array into its elements, placeholders replaced by the
// base64 JSON string of their attachment (so that encoding/json decodes them
// into []byte fields).
func Args(data json.RawMessage, attachments [][]byte) ([]json.RawMessage, error) {
	i := 0
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	if i >= len(data) || data[i] != '[' {
		return nil, fmt.Errorf("payload is not an array: %w", ErrInvalidPacket)
	}
	i++
	var out []json.RawMessage
	for {
		for i < len(data) && (isSpace(data[i]) || data[i] == ',') {
			i++
		}
		if i >= len(data) {
			return nil, fmt.Errorf("unterminated payload array: %w", ErrInvalidPacket)
		}
		if data[i] == ']' {
			return out, nil
		}
		end := skipValue(data, i)
		if end <= i {
			return nil, fmt.Errorf("malformed payload array: %w", ErrInvalidPacket)
		}
		elem := json.RawMessage(data[i:end])
		if len(attachments) > 0 && bytes.Contains(elem, placeholderKey) {
			var err error
			if elem, err = fillPlaceholders(elem, attachments); err != nil {
				return nil, err
			}
		}
		out = append(out, elem)
		i = end
	}
}

// fillPlaceholders rewrites one JSON value with its placeholders replaced by
// base64 strings.
func fillPlaceholders(elem json.RawMessage, attachments [][]byte) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(elem, &v); err != nil {
		return nil, fmt.Errorf("payload element: %w", ErrInvalidPacket)
	}
	v, err := replacePlaceholders(v, func(n int) any { return base64.StdEncoding.EncodeToString(attachments[n]) }, len(attachments))
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// replacePlaceholders walks a decoded JSON value and replaces every
// placeholder object by fill(num), checking num < count.
func replacePlaceholders(v any, fill func(n int) any, count int) (any, error) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			r, err := replacePlaceholders(e, fill, count)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
	case map[string]any:
		if isPlaceholder, _ := x["_placeholder"].(bool); isPlaceholder {
			num, ok := x["num"].(float64)
			if !ok || num < 0 || int(num) >= count || float64(int(num)) != num {
				return nil, fmt.Errorf("illegal attachment placeholder: %w", ErrInvalidPacket)
			}
			return fill(int(num)), nil
		}
		for k, e := range x {
			r, err := replacePlaceholders(e, fill, count)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	}
	return v, nil
}

// checkPlaceholders verifies that every placeholder of a complete binary
// packet names an attachment that exists.
func checkPlaceholders(data json.RawMessage, count int) error {
	if !bytes.Contains(data, placeholderKey) {
		return nil
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("payload: %w", ErrInvalidPacket)
	}
	_, err := replacePlaceholders(v, func(int) any { return nil }, count)
	return err
}

// skipValue returns the index just past the JSON value starting at data[i]
// (data is known to be valid JSON), or i when it cannot find its end.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return i
	}
	switch data[i] {
	case '"':
		for j := i + 1; j < len(data); j++ {
			switch data[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return i
	case '[', '{':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end := skipValue(data, j)
				if end == j {
					return i
				}
				j = end - 1
			case '[', '{':
				depth++
			case ']', '}':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return i
	}
	j := i
	for j < len(data) && !isSpace(data[j]) && data[j] != ',' && data[j] != ']' && data[j] != '}' {
		j++
	}
	return j
}
