package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/parser"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// msgpackClient runs msgpack-client.mjs: the official socket.io-client with
// socket.io-msgpack-parser.
type msgpackClient struct {
	lines chan json.RawMessage
	stdin io.WriteCloser
}

func startMsgpackClient(t *testing.T, url, room string) *msgpackClient {
	t.Helper()
	cmd := exec.Command("node", "msgpack-client.mjs", url, room)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, _ := cmd.StdoutPipe()
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the msgpack client: %v", err)
	}
	c := &msgpackClient{lines: make(chan json.RawMessage, 100), stdin: stdin}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- json.RawMessage(append([]byte(nil), sc.Bytes()...))
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return c
}

// next returns the client's next printed line.
func (c *msgpackClient) next(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			t.Fatal("the msgpack client exited")
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("line %s: %v", line, err)
		}
		return v
	case <-time.After(guard):
		t.Fatal("nothing from the msgpack client")
	}
	return nil
}

// expectEvent checks the next line is event name with args (JSON, binary
// values as {"bin":type,"hex":bytes}).
func (c *msgpackClient) expectEvent(t *testing.T, name, args string) {
	t.Helper()
	line := c.next(t)
	var got, want any
	_ = json.Unmarshal(line["args"], &got)
	if err := json.Unmarshal([]byte(args), &want); err != nil {
		t.Fatal(err)
	}
	if string(line["event"]) != fmt.Sprintf("%q", name) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %s %s, want %s %s", line["event"], line["args"], name, args)
	}
}

// emit sends [event, ...args] (JSON, {"hex":bytes} values as Buffers).
func (c *msgpackClient) emit(t *testing.T, eventAndArgs string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, eventAndArgs+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (c *msgpackClient) quiet(t *testing.T) {
	t.Helper()
	select {
	case line := <-c.lines:
		t.Fatalf("unexpected %s", line)
	case <-time.After(sioclient.Quiet):
	}
}

// TestMixedClusterWithMsgpack: a Node server and a Go server, both with the
// msgpack parser, on one Redis; official clients configured with
// socket.io-msgpack-parser on each. Binary values relayed by a handler,
// broadcast by Node and by Go reach the clients of both servers as Buffers
// of the same bytes (the adapters carry packets over Redis as before: the
// parser only concerns the clients).
func TestMixedClusterWithMsgpack(t *testing.T) {
	for _, mode := range []string{"classic", "streams"} {
		t.Run(mode, func(t *testing.T) {
			rs := redisserver.Start(t, "")
			nodeURL := startNodeServer(t, "redis://"+rs.Addr, mode, "PARSER=msgpack")
			goSrv := startGoServer(t, rs.Addr, mode, false, func(o *socketio.Options) { o.Parser = parser.Msgpack })
			goURL := os.Getenv("GO_SERVER_URL")
			nsp := goSrv.Of("/")
			waitfor.NoError(t, "two servers", func() error {
				if n, _ := nsp.Adapter().ServerCount(context.Background()); n != 2 {
					return fmt.Errorf("server count %d, want 2", n)
				}
				return nil
			})
			onNode := startMsgpackClient(t, nodeURL, "red")
			onGo := startMsgpackClient(t, goURL, "red")
			for _, c := range []*msgpackClient{onNode, onGo} {
				if line := c.next(t); line["connect"] == nil {
					t.Fatalf("first line %v, want a connect", line)
				}
			}

			const sent = `["to-room","red",{"f":{"hex":"0102"},"n":1},{"hex":"ff"},"text"]`
			const relayed = `[{"f":{"bin":"Buffer","hex":"0102"},"n":1},{"bin":"Buffer","hex":"ff"},"text"]`
			onNode.emit(t, sent)
			onGo.expectEvent(t, "room-msg", relayed)
			onGo.emit(t, sent)
			onNode.expectEvent(t, "room-msg", relayed)

			onNode.emit(t, `["node-binary","red"]`)
			for _, c := range []*msgpackClient{onNode, onGo} {
				c.expectEvent(t, "node-bin", `[{"bin":"Buffer","hex":"040506"}]`)
			}
			if err := nsp.To("red").Emit("from-go", []byte{7, 8}, map[string]any{"k": "v"}); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*msgpackClient{onNode, onGo} {
				c.expectEvent(t, "from-go", `[{"bin":"Buffer","hex":"0708"},{"k":"v"}]`)
			}
			onNode.quiet(t)
			onGo.quiet(t)
		})
	}
}
