package publish_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/socketfleet/socketfleet/runtime/publish"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// FuzzPublishBody posts arbitrary bodies to the publish API of a real
// server: every body gets 200, 400, 404 or 413 with a JSON answer, never a
// panic or a 500.
func FuzzPublishBody(f *testing.F) {
	for _, s := range []string{
		`{"event":"m","args":[1,"two",{"three":3}]}`,
		`{"namespace":"/","rooms":["a"],"except":["b"],"event":"m","volatile":true}`,
		`{"event":"m","args":[1],"ackTimeout":"10ms"}`,
		`{"event":"m","args":[` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]}`,
		`{"event":"m","nope":1}`,
		`{"namespace":"/missing","event":"m"}`,
		`{"event":""} {}`,
		`[`,
	} {
		f.Add([]byte(s))
	}
	srv := socketio.NewServer(socketio.Options{})
	f.Cleanup(func() { _ = srv.Close(context.Background()) })
	h := publish.Handler(publish.Options{Server: srv, MaxBodyBytes: 64 << 10})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, publish.Path, strings.NewReader(string(body))))
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.String())
		}
		if !strings.HasPrefix(rec.Body.String(), "{") {
			t.Fatalf("answer %q is not a JSON object", rec.Body.String())
		}
	})
}
