package msgpackcheck

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// The Redis adapters' tests check Check against Node's messages and hostile
// ones (redisadapter.TestCheckMsgpack); these cover Skip.
func TestSkip(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		rest  []byte
		want  string // "" for accepted, else a part of the error
	}{
		{"fixint then more", []byte{0x01, 0xc0}, []byte{0xc0}, ""},
		{"map of a str and a bin", []byte{0x81, 0xa1, 'k', 0xc4, 2, 1, 2, 0xff}, []byte{0xff}, ""},
		{"ext8 type 0", []byte{0xc7, 1, 0, 9}, []byte{}, ""},
		{"undefined (fixext1 type 0)", []byte{0xd4, 0, 0, 0x90}, []byte{0x90}, ""},
		{"array announcing more than follows", []byte{0x93, 0xc0}, nil, "announces 3 values, 1 bytes follow"},
		{"bin16 announcing more than follows", []byte{0xc5, 0xff, 0xff, 0}, nil, "announces 65535 bytes, 1 follow"},
		{"nested too deep", append(bytes.Repeat([]byte{0x91}, MaxNesting+1), 0xc0), nil, "nested deeper than"},
		{"reserved byte", []byte{0xc1}, nil, "reserved byte 0xc1"},
		{"empty", nil, nil, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest, err := Skip(tt.input)
			switch {
			case tt.want == "" && (err != nil || !bytes.Equal(rest, tt.rest)):
				t.Fatalf("Skip = %x, %v; want %x", rest, err, tt.rest)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrMalformed)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if tt.want == "" && len(tt.rest) > 0 && Check(tt.input) == nil {
				t.Fatal("Check accepted trailing bytes")
			}
		})
	}
}
