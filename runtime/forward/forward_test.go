package forward

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOwner(t *testing.T) {
	v4 := netip.MustParseAddrPort("10.0.0.1:8081")
	v6 := netip.MustParseAddrPort("[fd00::1]:8081")
	tag := Tag(v4, "s1")
	if Tag(netip.MustParseAddrPort("10.0.0.2:8081"), "s1") == tag || Tag(v4, "s2") == tag {
		t.Fatal("two addresses or two secrets give one tag")
	}
	if strings.Contains(tag, "10.0.0.1") {
		t.Fatal("the tag shows the address")
	}
	flipped := []byte(tag)
	flipped[2] ^= 1
	cases := []struct {
		name    string
		sid     string
		secrets []string
		want    netip.AddrPort
		ok      bool
	}{
		{"v4", tag + ".AbCdEfGhIjKlMnOpQrSt", []string{"s1"}, v4, true},
		{"v6", Tag(v6, "s1") + ".x", []string{"s1"}, v6, true},
		{"rotated: any secret verifies", tag + ".x", []string{"new", "s1"}, v4, true},
		{"wrong secret", tag + ".x", []string{"s2"}, netip.AddrPort{}, false},
		{"forged tag", string(flipped) + ".x", []string{"s1"}, netip.AddrPort{}, false},
		{"no tag", "AbCdEfGhIjKlMnOpQrSt", []string{"s1"}, netip.AddrPort{}, false},
		{"not base64", "!!!.x", []string{"s1"}, netip.AddrPort{}, false},
		{"wrong length", "AAAA.x", []string{"s1"}, netip.AddrPort{}, false},
		{"empty", "", []string{"s1"}, netip.AddrPort{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Owner(c.sid, c.secrets)
			if got != c.want || ok != c.ok {
				t.Errorf("Owner(%q) = %v %v, want %v %v", c.sid, got, ok, c.want, c.ok)
			}
		})
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	secret := func() ([]string, error) { return []string{"s"}, nil }
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"no self", Options{Path: "/socket.io/", Secrets: secret}, `Self ""`},
		{"self a name", Options{Self: "pod-a:8081", Path: "/socket.io/", Secrets: secret}, `Self "pod-a:8081"`},
		{"no secret", Options{Self: "10.0.0.1:1", Path: "/socket.io/"}, "Secrets"},
		{"empty secret file", Options{Self: "10.0.0.1:1", Path: "/socket.io/", Secrets: func() ([]string, error) { return nil, nil }}, "no shared secret"},
		{"no path", Options{Self: "10.0.0.1:1", Secrets: secret}, "Path"},
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
	ownerAddr := netip.MustParseAddrPort(strings.TrimPrefix(owner.URL, "http://"))
	f, err := New(Options{Self: "127.0.0.1:1", Path: "/socket.io/",
		Secrets: func() ([]string, error) { return []string{"tok"}, nil }, MaxInFlight: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
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
	sid := Tag(ownerAddr, "tok") + ".xyz"
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
		{"unsigned owner", "EIO=4&transport=polling&sid=" + Tag(ownerAddr, "other") + ".abc", 400, `{"code":1,"message":"Session ID unknown"}`},
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
	// The forwarding handler stops counting the request after the client has
	// its whole answer: wait for it (bounded) rather than race it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		p, _ := f.InFlight()
		if p == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d forwarded requests still counted in flight 5 s after the answer", p)
		}
	}
	f.proxy.Transport.(*http.Transport).CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
}

// TestHandOver runs a real peer (an HTTP server standing for a peer's admin
// listener) and checks which handshakes are handed to it: only while
// HandOver reports true and peers are set, never this pod's own address, and
// an unreachable peer answers 503 (the client retries) and is dropped.
func TestHandOver(t *testing.T) {
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "peer:"+r.URL.Path+"?"+r.URL.RawQuery)
	}))
	defer peer.Close()
	peerAddr := netip.MustParseAddrPort(strings.TrimPrefix(peer.URL, "http://"))
	dead := httptest.NewServer(http.NotFoundHandler())
	deadAddr := netip.MustParseAddrPort(strings.TrimPrefix(dead.URL, "http://"))
	dead.Close()
	self := netip.MustParseAddrPort("127.0.0.1:1")

	var shedding atomic.Bool
	f, err := New(Options{Self: self.String(), Path: "/socket.io/",
		Secrets:  func() ([]string, error) { return []string{"tok"}, nil },
		HandOver: shedding.Load})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(f.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "local")
	})))
	defer front.Close()
	handshake := "/socket.io/?EIO=4&transport=polling"
	cases := []struct {
		name     string
		shedding bool
		peers    []netip.AddrPort
		method   string
		code     int
		body     string
		left     int // peers left afterwards
	}{
		{"shedding without peers: local (which refuses)", true, nil, "GET", 200, "local", 0},
		{"own address is no peer", true, []netip.AddrPort{self}, "GET", 200, "local", 0},
		{"shedding with a peer: handed over", true, []netip.AddrPort{peerAddr, peerAddr}, "GET", 200, "peer:" + ReceiverPath + handshake, 1},
		{"not shedding: local", false, []netip.AddrPort{peerAddr}, "GET", 200, "local", 1},
		{"not a GET: local", true, []netip.AddrPort{peerAddr}, "POST", 200, "local", 1},
		{"peer unreachable: 503, dropped", true, []netip.AddrPort{deadAddr}, "GET", 503, `{"code":3,"message":"Server is shedding load"}`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			shedding.Store(c.shedding)
			f.SetHandOverPeers(c.peers)
			req, _ := http.NewRequest(c.method, front.URL+handshake, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || string(b) != c.body {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, b, c.code, c.body)
			}
			if got := len(f.HandOverPeers()); got != c.left {
				t.Errorf("%d peers left, want %d", got, c.left)
			}
		})
	}
	many := make([]netip.AddrPort, MaxHandOverPeers+5)
	for i := range many {
		many[i] = netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i))
	}
	f.SetHandOverPeers(many)
	if got := len(f.HandOverPeers()); got != MaxHandOverPeers {
		t.Errorf("%d peers kept, want at most %d", got, MaxHandOverPeers)
	}
	f.proxy.Transport.(*http.Transport).CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
}
