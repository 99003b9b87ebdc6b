package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/internal/waitfor"
)

// switchProxy is a TCP proxy playing the load balancer: it forwards to one
// backend, and moveTo closes every connection and sends new ones to another
// backend ("" refuses them), as when a pod goes away.
type switchProxy struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	target string
	conns  map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *switchProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.moveTo("")
		p.wg.Wait()
	})
	return p
}

func (p *switchProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *switchProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		if target == "" {
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", target, guard)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// moveTo closes every proxied connection and sends the next ones to target.
func (p *switchProxy) moveTo(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// officialClient runs recover-client.mjs (socket.io-client from npm) and
// hands over the lines it prints.
type officialClient struct {
	lines chan map[string]any
}

func startOfficialClient(t *testing.T, url string) *officialClient {
	t.Helper()
	cmd := exec.Command("node", "recover-client.mjs", url)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the official client: %v", err)
	}
	c := &officialClient{lines: make(chan map[string]any, 100)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var v map[string]any
			if json.Unmarshal(sc.Bytes(), &v) == nil {
				c.lines <- v
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return c
}

// next returns the client's next line.
func (c *officialClient) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case v, ok := <-c.lines:
		if !ok {
			t.Fatal("the official client exited")
		}
		return v
	case <-time.After(guard):
		t.Fatal("nothing from the official client")
	}
	return nil
}

// quiet fails if the client prints anything within Quiet.
func (c *officialClient) quiet(t *testing.T) {
	t.Helper()
	select {
	case v := <-c.lines:
		t.Fatalf("unexpected %v", v)
	case <-time.After(sioclient.Quiet):
	}
}

var offsetPattern = regexp.MustCompile(`^[0-9]+-[0-9]+$`)

// event checks that a line is the event name with args and a stream offset
// appended, and returns the offset.
func event(t *testing.T, line map[string]any, name string, args ...any) string {
	t.Helper()
	got, _ := line["args"].([]any)
	if line["event"] != name || len(got) != len(args)+1 {
		t.Fatalf("got %v, want event %s%v with an offset", line, name, args)
	}
	if fmt.Sprintf("%v", got[:len(args)]) != fmt.Sprintf("%v", args) {
		t.Fatalf("event %s args %v, want %v", name, got[:len(args)], args)
	}
	offset, _ := got[len(args)].(string)
	if !offsetPattern.MatchString(offset) {
		t.Fatalf("event %s: last argument %v is not a stream offset", name, got[len(args)])
	}
	return offset
}

// TestRecoveryBetweenNodeAndGo: a client of the official socket.io-client
// connected to a Node server with @socket.io/redis-streams-adapter loses
// its connection, broadcasts from both servers happen meanwhile, and the
// load balancer sends its reconnect to the Go server (and the reverse): it
// comes back recovered, with its id, its rooms and each missed event once.
func TestRecoveryBetweenNodeAndGo(t *testing.T) {
	rs := redisserver.Start(t, "")
	redisURL := "redis://" + rs.Addr
	nodeURL := startNodeServer(t, redisURL, "streams", "RECOVERY=1")
	goSrv := startGoServer(t, rs.Addr, "streams", true)
	goURL := os.Getenv("GO_SERVER_URL")
	nsp := goSrv.Of("/")
	ctx := context.Background()
	waitfor.NoError(t, "two servers", func() error {
		if n, _ := nsp.Adapter().ServerCount(ctx); n != 2 {
			return fmt.Errorf("server count %d, want 2", n)
		}
		return nil
	})
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	nodeCtl := sioclient.Connect(t, nodeURL, "")
	goCtl := sioclient.Connect(t, goURL, "")
	hostOf := func(u string) string {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		return parsed.Host
	}
	servers := map[string]string{"Node": hostOf(nodeURL), "Go": hostOf(goURL)}

	for _, tt := range []struct{ from, to string }{{"Node", "Go"}, {"Go", "Node"}} {
		t.Run(tt.from+" to "+tt.to, func(t *testing.T) {
			observer := sioclient.Connect(t, nodeURL, "room=red")
			proxy := startProxy(t, servers[tt.from])
			c := startOfficialClient(t, proxy.url())
			first := c.next(t)
			id, _ := first["connect"].(string)
			if id == "" || first["recovered"] != false {
				t.Fatalf("first connect %v", first)
			}
			// A broadcast from Go; the client's offset is its entry id.
			if err := nsp.To("red").Emit("news", 1); err != nil {
				t.Fatal(err)
			}
			event(t, c.next(t), "news", 1.0)

			// The pod goes away: the transport closes, reconnects are refused.
			before := sessionKeys(t, rdb)
			proxy.moveTo("")
			waitfor.True(t, "the session persisted by "+tt.from, func() bool { return sessionKeys(t, rdb) == before+1 })

			// Missed while away: one from each server for red, two not for it.
			if err := nsp.To("red").Emit("missed-go", "a"); err != nil {
				t.Fatal(err)
			}
			emit(t, nodeCtl, "node-broadcast", "red", "missed-node")
			// A client's binary, relayed by a Go handler (to-room).
			emit(t, goCtl, "to-room", "red", map[string]any{"f": []byte{1, 2}}, []byte{0xff})
			if err := nsp.To("blue").Emit("not-red"); err != nil {
				t.Fatal(err)
			}
			if err := nsp.Except("red").Emit("except-red"); err != nil {
				t.Fatal(err)
			}
			// Node adds to the stream, then delivers locally: once its own
			// client in red has them, the entries are in the stream.
			for seen := map[string]bool{}; !seen["from-node"] || !seen["room-msg"]; {
				ev, err := observer.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				seen[ev.Name] = true
			}

			proxy.moveTo(servers[tt.to])
			// socket.io-client emits the buffered missed events, then connect.
			got := map[string]int{}
			for {
				line := c.next(t)
				if line["connect"] != nil {
					if line["connect"] != id || line["recovered"] != true {
						t.Fatalf("reconnected to %s as %v, want %s recovered", tt.to, line, id)
					}
					break
				}
				switch line["event"] {
				case "missed-go":
					event(t, line, "missed-go", "a")
				case "from-node":
					event(t, line, "from-node", "missed-node")
				case "room-msg":
					// Buffers, as JSON.stringify writes them, then the offset.
					args, _ := json.Marshal(line["args"])
					if !regexp.MustCompile(`^\[\{"f":\{"data":\[1,2\],"type":"Buffer"\}\},\{"data":\[255\],"type":"Buffer"\},"[0-9]+-[0-9]+"\]$`).Match(args) {
						t.Fatalf("missed binary relay args %s, want two Buffers and an offset", args)
					}
				default:
					t.Fatalf("unexpected %v", line)
				}
				got[line["event"].(string)]++
			}
			if got["missed-go"] != 1 || got["from-node"] != 1 || got["room-msg"] != 1 {
				t.Fatalf("missed events %v, want each once", got)
			}
			// Its room followed it: a broadcast to red from the other server.
			emit(t, nodeCtl, "node-broadcast", "red", "after")
			event(t, c.next(t), "from-node", "after")
			if err := nsp.To("red").Emit("after-go"); err != nil {
				t.Fatal(err)
			}
			event(t, c.next(t), "after-go")
			c.quiet(t)
		})
	}
}

// sessionKeys counts the sessions kept for recovery.
func sessionKeys(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), "sio:session:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}
