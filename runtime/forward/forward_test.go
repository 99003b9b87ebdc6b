package forward

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOwner(t *testing.T) {
	tag := Tag("10.0.0.1:8081")
	if len(tag) != tagLen {
		t.Fatalf("Tag length %d, want %d", len(tag), tagLen)
	}
	if Tag("10.0.0.2:8081") == tag {
		t.Fatal("two addresses share a tag")
	}
	cases := []struct{ sid, want string }{
		{tag + ".AbCdEfGhIjKlMnOpQrSt", tag},
		{"AbCdEfGhIjKlMnOpQrSt", ""}, // a sid of a pod without forwarding
		{tag, ""},
		{tag + ".", tag},
		{"abc.defghijk", ""},
		{"", ""},
	}
	for _, c := range cases {
		if got := Owner(c.sid); got != c.want {
			t.Errorf("Owner(%q) = %q, want %q", c.sid, got, c.want)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"no self", Options{Path: "/socket.io/"}, "Self"},
		{"self without port", Options{Self: "10.0.0.1", Path: "/socket.io/"}, `Self "10.0.0.1"`},
		{"bad peer", Options{Self: "10.0.0.1:1", Peers: []string{"x"}, Path: "/socket.io/"}, `peer "x"`},
		{"dns without port", Options{Self: "10.0.0.1:1", PeersDNS: "pods", Path: "/socket.io/"}, "PeersPort 0"},
		{"no path", Options{Self: "10.0.0.1:1"}, "Path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := New(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to name %q", err, c.want)
			}
		})
	}
}

// TestForwardBoundsAndRoutes runs a real owner (an HTTP server standing for
// the owner's admin listener) and checks what is forwarded, what stays local
// and the in-flight bound.
func TestForwardBoundsAndRoutes(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get(clientAuthHeader) != "Basic client" {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		entered <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "owner:"+r.URL.Path+"?"+r.URL.RawQuery)
	}))
	defer owner.Close()
	ownerAddr := strings.TrimPrefix(owner.URL, "http://")
	f, err := New(Options{Self: "127.0.0.1:1", Peers: []string{ownerAddr, "127.0.0.1:1"}, Path: "/socket.io/",
		Token: func() (string, error) { return "tok", nil }, MaxInFlight: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Peers(); len(got) != 1 || got[0] != ownerAddr {
		t.Fatalf("Peers %v: want the owner only (self excluded)", got)
	}
	h := f.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "local") }))
	front := httptest.NewServer(h)
	defer front.Close()

	get := func(query string) (int, string) {
		req, _ := http.NewRequest("GET", front.URL+"/socket.io/?"+query, nil)
		req.Header.Set("Authorization", "Basic client")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	sid := Tag(ownerAddr) + ".xyz"
	type answer struct {
		code int
		body string
	}
	first := make(chan answer, 1)
	go func() {
		c, b := get("EIO=4&transport=polling&sid=" + sid)
		first <- answer{c, b}
	}()
	<-entered // one forwarded request in flight: the bound is reached

	cases := []struct {
		name, query string
		code        int
		body        string
	}{
		{"handshake stays local", "EIO=4&transport=polling", 200, "local"},
		{"own session stays local", "EIO=4&transport=polling&sid=" + f.Prefix() + "abc", 200, "local"},
		{"untagged sid stays local", "EIO=4&transport=polling&sid=abc", 200, "local"},
		{"unknown owner", "EIO=4&transport=polling&sid=zzzzzzzz.abc", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"over the bound", "EIO=4&transport=polling&sid=" + sid, 503, `{"code":3,"message":"Session forwarding busy"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code, body := get(c.query); code != c.code || body != c.body {
				t.Errorf("%d %q, want %d %q", code, body, c.code, c.body)
			}
		})
	}
	close(release)
	if a := <-first; a.code != 200 || a.body != "owner:"+ReceiverPath+"/socket.io/?EIO=4&transport=polling&sid="+sid {
		t.Errorf("forwarded: %d %q", a.code, a.body)
	}
	if p, _ := f.InFlight(); p != 0 {
		t.Errorf("%d forwarded requests still counted in flight", p)
	}
	f.proxy.Transport.(*http.Transport).CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
}
