package socketio

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeRemoteHandshake feeds the decoders of what other servers and
// clients send about a socket: handshakes of remote sockets (fetchSockets
// answers through Redis) and the recovery fields of a CONNECT payload.
func FuzzDecodeRemoteHandshake(f *testing.F) {
	for _, s := range []string{
		`{"headers":{"host":"a","x-list":["1","2"]},"time":"Wed Dec 02 2026 03:10:26 GMT+0000","address":"::1","xdomain":false,"secure":false,"issued":1764644000000,"url":"/socket.io/?EIO=4","query":{"EIO":"4","t":["a","b"]},"auth":{"token":"x"}}`,
		`{"headers":{"n":5},"query":{"q":{"x":1}}}`,
		`{"pid":"abc","offset":"0-1"}`,
		`{"pid":1}`,
		`[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h Handshake
		if err := json.Unmarshal(data, &h); err == nil {
			if _, err := json.Marshal(&h); err != nil {
				t.Fatalf("decoded handshake does not encode: %v", err)
			}
		}
		_, _, _ = recoveryAuth(data)
	})
}
