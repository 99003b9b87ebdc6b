package parser

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzBinaryJSON feeds untrusted publish API and webhook bodies to
// ParseBinaryJSON: no panic, and what it accepts writes back (MarshalJSON) to
// a text that reads as the same argument.
func FuzzBinaryJSON(f *testing.F) {
	for _, s := range []string{`{"$binary":"AQID"}`, `[{"a":{"$binary":""}},{"$literal":{"$binary":"x"}}]`,
		`{"$literal":{"$literal":{"b":1}}}`, `{"_placeholder":true,"num":0}`, `"$binary"`, `[1,{"$binary":"AQ=="},{"x":[]}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseBinaryJSON(data)
		if err != nil {
			return
		}
		text, err := a.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of an accepted value: %v", err)
		}
		b, err := ParseBinaryJSON(text)
		if err != nil {
			t.Fatalf("ParseBinaryJSON(%s) of its own output: %v", text, err)
		}
		rawA, attA := a.Raw()
		rawB, attB := b.Raw()
		if !jsonEqual(rawA, rawB) || len(attA) != len(attB) {
			t.Fatalf("round trip changed %s %q into %s %q", rawA, attA, rawB, attB)
		}
		for i := range attA {
			if !bytes.Equal(attA[i], attB[i]) {
				t.Fatalf("attachment %d changed", i)
			}
		}
	})
}

// jsonEqual reports whether a and b hold the same JSON value. Numbers compare
// by their text (json.Number): a number beyond float64's range is still valid
// JSON and must round-trip unchanged.
func jsonEqual(a, b []byte) bool {
	x, errX := decodeUseNumber(a)
	y, errY := decodeUseNumber(b)
	if errX != nil || errY != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func decodeUseNumber(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}
