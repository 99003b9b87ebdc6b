package redisserver_test

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/socketfleet/socketfleet/internal/redisserver"
)

// command sends one inline command and returns the reply line.
func command(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func TestStartAndRestartOnThePort(t *testing.T) {
	s := redisserver.Start(t, "")
	if got := command(t, s.Addr, "PING"); got != "+PONG" {
		t.Fatalf("PING = %q", got)
	}
	if s.URL() != "redis://"+s.Addr+"/0" {
		t.Fatalf("URL = %q", s.URL())
	}
	s.Stop()
	s.Stop() // idempotent
	again := redisserver.Start(t, s.Port())
	if again.Addr != s.Addr || command(t, again.Addr, "PING") != "+PONG" {
		t.Fatalf("restart on %s: %s", s.Port(), again.Addr)
	}
}

func TestPassword(t *testing.T) {
	s := redisserver.StartWith(t, redisserver.Options{Password: "s3cret"})
	if got := command(t, s.Addr, "PING"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Fatalf("PING without AUTH = %q", got)
	}
	if s.URL() != "redis://:s3cret@"+s.Addr+"/0" {
		t.Fatalf("URL = %q", s.URL())
	}
}
