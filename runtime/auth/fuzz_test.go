package auth_test

import (
	"testing"

	"github.com/socketfleet/socketfleet/runtime/auth"
)

// FuzzJWTVerify feeds the token verifier arbitrary tokens: each is refused
// with an error (none is signed with the key), never a panic.
func FuzzJWTVerify(f *testing.F) {
	for _, s := range []string{
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
		"a.b.c", "....", "", "eyJ9.eyJ9.eyJ9",
	} {
		f.Add(s)
	}
	j, err := auth.NewJWT(auth.JWTOptions{Algorithm: "HS256", Secret: []byte("a key no fuzzer knows, 32 bytes!")})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if claims, err := j.Verify(token); err == nil {
			t.Fatalf("forged token %q accepted: %v", token, claims)
		}
	})
}
