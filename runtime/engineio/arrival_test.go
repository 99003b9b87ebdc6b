package engineio

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/waitfor"
)

// TestPollingRequestsInArrivalOrder holds the first of two requests of a
// session between its arrival and its handling until the second has
// arrived and is waiting, the race a busy machine produces: the answers must
// be those of the reference server, which handles them in arrival order.
func TestPollingRequestsInArrivalOrder(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		first, second         string // "GET" or a POST body
		wantFirst, wantSecond string // status and body
		wantReason            string
	}{
		{"a GET sent with a close packet is answered with a noop", "GET", "1", "200 6", "200 ok", ReasonTransportClose},
		{"a second GET is the one refused", "GET", "GET", "200 1", "400", ReasonTransportError},
		{"a GET after a close packet finds no session", "1", "GET", "200 ok", "400", ReasonTransportClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hold, waiting := make(chan struct{}), make(chan struct{}, 1)
			h := newHarness(t, Options{}, func(srv *Server) {
				srv.beforeTurn = func(r *http.Request) {
					if r.Header.Get("X-Order") == "first" {
						<-hold
					}
				}
				srv.onTurnWait = func(r *http.Request) {
					if r.Header.Get("X-Order") == "second" {
						waiting <- struct{}{}
					}
				}
			})
			release := sync.OnceFunc(func() { close(hold) })
			t.Cleanup(release) // before the harness's: a failed test must not leave the first request held
			sid, rec := pollingHandshake(t, h)
			url := h.url("EIO=4&transport=polling&sid=" + sid)
			send := func(order, what string) <-chan string {
				answer := make(chan string, 1)
				method, body := "POST", what
				if what == "GET" {
					method, body = "GET", ""
				}
				go func() {
					resp, b := do(t, method, url, body, http.Header{"X-Order": {order}})
					if resp.StatusCode != 200 {
						answer <- strconv.Itoa(resp.StatusCode)
						return
					}
					answer <- "200 " + b
				}()
				return answer
			}
			first := send("first", tc.first)
			// The first request has its stamp (it is held before its turn):
			// the second arrives after it.
			waitfor.True(t, "first request stamped", func() bool {
				h.srv.arrivals.mu.Lock()
				defer h.srv.arrivals.mu.Unlock()
				return len(h.srv.arrivals.pending[sid]) == 1
			})
			second := send("second", tc.second)
			select {
			case <-waiting:
			case got := <-second:
				t.Fatalf("the second request was answered (%q) before the first was handled", got)
			case <-time.After(guard):
				t.Fatal("the second request did not wait for the first")
			}
			release()
			if got := <-first; got != tc.wantFirst {
				t.Errorf("first = %q, want %q", got, tc.wantFirst)
			}
			if got := <-second; got != tc.wantSecond {
				t.Errorf("second = %q, want %q", got, tc.wantSecond)
			}
			if r := rec.closeReason(t); r != tc.wantReason {
				t.Errorf("close reason %q, want %q", r, tc.wantReason)
			}
		})
	}
}

func TestRequestLineSID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"GET /socket.io/?EIO=4&transport=polling&sid=abc_-1 HTTP/1.1\r\nHost: x\r\n", "abc_-1"},
		{"POST /socket.io/?sid=xyz&EIO=4 HTTP/1.1\r\n", "xyz"},
		{"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n", ""},
		{"GET /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1", ""}, // the line is incomplete
		{"GET /socket.io/?xsid=abc HTTP/1.1\r\n", ""},
		{"GET /socket.io/?sid=a%2Fb HTTP/1.1\r\n", ""},
		{"GET /socket.io/?sid= HTTP/1.1\r\n", ""},
		{"\r\n", ""},
		{"", ""},
	} {
		if got := requestLineSID([]byte(tc.in)); got != tc.want {
			t.Errorf("requestLineSID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
