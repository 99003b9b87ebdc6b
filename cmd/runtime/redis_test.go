package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/config"
	"github.com/socketfleet/socketfleet/runtime/redisadapter"
)

func TestRedisOptions(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, selfSignedPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cfg   config.Redis
		check func(t *testing.T, addrs []string, db int, master string, cluster bool, password string, tls bool)
		err   string
	}{
		{name: "standalone url", cfg: config.Redis{Mode: "standalone", URL: "redis://r.example:6380/2", Database: 0, PasswordFile: pw},
			check: func(t *testing.T, addrs []string, db int, master string, cluster bool, password string, tls bool) {
				if !reflect.DeepEqual(addrs, []string{"r.example:6380"}) || db != 2 || cluster || master != "" || password != "s3cret" || tls {
					t.Errorf("got %v %d %q %v %q %v", addrs, db, master, cluster, password, tls)
				}
			}},
		{name: "rediss url", cfg: config.Redis{Mode: "standalone", URL: "rediss://r.example:6380/0", TLS: config.RedisTLS{Enabled: true, CAFile: ca}},
			check: func(t *testing.T, addrs []string, db int, master string, cluster bool, password string, tls bool) {
				if !tls || password != "" {
					t.Errorf("tls %v password %q", tls, password)
				}
			}},
		{name: "standalone addresses", cfg: config.Redis{Mode: "standalone", Addresses: []string{"a:1", "b:2"}, Database: 3},
			check: func(t *testing.T, addrs []string, db int, master string, cluster bool, password string, tls bool) {
				if !reflect.DeepEqual(addrs, []string{"a:1"}) || db != 3 || cluster {
					t.Errorf("got %v %d %v", addrs, db, cluster)
				}
			}},
		{name: "sentinel", cfg: config.Redis{Mode: "sentinel", Addresses: []string{"s0:26379", "s1:26379"}, SentinelMaster: "mymaster", PasswordFile: pw},
			check: func(t *testing.T, addrs []string, db int, master string, cluster bool, password string, tls bool) {
				if len(addrs) != 2 || master != "mymaster" || cluster || password != "s3cret" {
					t.Errorf("got %v %q %v %q", addrs, master, cluster, password)
				}
			}},
		{name: "cluster", cfg: config.Redis{Mode: "cluster", Addresses: []string{"c0:6379"}},
			check: func(t *testing.T, addrs []string, db int, master string, cluster bool, password string, tls bool) {
				if len(addrs) != 1 || !cluster {
					t.Errorf("got %v %v", addrs, cluster)
				}
			}},
		{name: "missing password file", cfg: config.Redis{Mode: "standalone", URL: "redis://r:1/0", PasswordFile: filepath.Join(dir, "nope")},
			err: "config: redis.passwordFile"},
		{name: "bad CA", cfg: config.Redis{Mode: "standalone", URL: "redis://r:1/0", TLS: config.RedisTLS{Enabled: true, CAFile: pw}},
			err: "config: redis.tls.caFile: no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := redisOptions(tt.cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o.Addrs, o.DB, o.MasterName, o.IsClusterMode, o.Password, o.TLSConfig != nil)
		})
	}
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestRedisAdapterAgainstRedis checks the password file and the ping
// against a real redis-server.
func TestRedisAdapterAgainstRedis(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{Password: "s3cret"})
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	_ = os.WriteFile(good, []byte("s3cret\n"), 0o600)
	_ = os.WriteFile(bad, []byte("nope\n"), 0o600)
	url := "redis://" + srv.Addr + "/0" // the password comes from the file
	logger := slog.New(slog.DiscardHandler)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ready error
	for {
		a, err := redisAdapter(ctx, config.Redis{Mode: "standalone", URL: url, PasswordFile: good, KeyPrefix: "socket.io"}, logger)
		if err != nil {
			t.Fatal(err)
		}
		ready = a.Ping(ctx)
		_ = a.Close(ctx)
		if ready == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond) // redis-server still starting
	}
	if ready != nil {
		t.Fatalf("Ping with the right password: %v", ready)
	}
	a, err := redisAdapter(ctx, config.Redis{Mode: "standalone", URL: url, PasswordFile: bad}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	if err := a.Ping(ctx); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("Ready with a wrong password = %v", err)
	}
}

// TestPublishHookReportsPublishes: the hook reports the outcome of PUBLISH and SPUBLISH, and of nothing else, to
// the registered function, against a real redis-server that is then stopped.
func TestPublishHookReportsPublishes(t *testing.T) {
	srv := redisserver.Start(t, "")
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	defer client.Close()
	hook := &publishHook{}
	client.AddHook(hook)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitfor.NoError(t, "redis-server answers", func() error { return client.Ping(ctx).Err() })
	_ = client.Publish(ctx, "before", "x").Err() // no function registered yet: ignored
	var got []error
	hook.observe(func(err error) { got = append(got, err) })

	steps := []struct {
		name    string
		run     func() error
		stop    bool // stop redis-server first
		records int  // outcomes recorded after the step
		failed  bool // the last recorded outcome is an error
	}{
		{"publish", func() error { return client.Publish(ctx, "ch", "x").Err() }, false, 1, false},
		{"ping is not a publish", func() error { return client.Ping(ctx).Err() }, false, 1, false},
		{"spublish", func() error { return client.SPublish(ctx, "ch", "x").Err() }, false, 2, false},
		{"publish with Redis gone", func() error { return client.Publish(ctx, "ch", "x").Err() }, true, 3, true},
	}
	for _, s := range steps {
		if s.stop {
			srv.Stop()
		}
		err := s.run()
		if len(got) != s.records || (s.failed != (got[len(got)-1] != nil)) || (err != nil) != s.failed {
			t.Fatalf("%s: err %v, recorded %v", s.name, err, got)
		}
	}
}

// TestStreamsOptions: the redis block's streams keys reach the adapter,
// keyPrefix as its channel prefix.
func TestStreamsOptions(t *testing.T) {
	cfg := config.Default().Redis
	cfg.KeyPrefix = "app"
	cfg.Streams.MaxLen, cfg.Streams.UseShardedPubSub, cfg.Streams.OnlyPlaintext = 500, true, true
	got := streamsOptions(cfg, nil, redisadapter.OutboxOptions{})
	want := redisadapter.StreamsOptions{StreamName: "socket.io", StreamCount: 1, ChannelPrefix: "app", UseShardedPubSub: true,
		MaxLen: 500, ReadCount: 100, BlockTime: 5 * time.Second, SessionKeyPrefix: "sio:session:", OnlyPlaintext: true}
	if got != want {
		t.Fatalf("options %+v\nwant %+v", got, want)
	}
}

// TestEveryAdapterAgainstRedis builds each redis.adapter against a real
// redis-server: ready, and closed without error.
func TestEveryAdapterAgainstRedis(t *testing.T) {
	srv := redisserver.Start(t, "")
	logger := slog.New(slog.DiscardHandler)
	for _, adapter := range []string{"classic", "sharded", "streams"} {
		t.Run(adapter, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cfg := config.Default().Redis
			cfg.Mode, cfg.URL, cfg.Adapter = "standalone", "redis://"+srv.Addr+"/0", adapter
			a, err := redisAdapter(ctx, cfg, logger)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Ping(ctx); err != nil {
				t.Fatalf("not ready: %v", err)
			}
			if err := a.Close(ctx); err != nil {
				t.Fatalf("close: %v", err)
			}
		})
	}
}

// TestEveryAdapterThroughSentinels builds each redis.adapter in sentinel
// mode, the way the operator configures a managed Redis with replicas
// (addresses are the Sentinels, the password file serves Redis and the
// Sentinels): the primary is found through a real Sentinel and the link is
// up, subscription included. A wrong password is refused.
func TestEveryAdapterThroughSentinels(t *testing.T) {
	const password = "s3cret"
	primary := redisserver.StartWith(t, redisserver.Options{Password: password})
	sentinel := redisserver.StartSentinel(t, redisserver.SentinelOptions{Dir: t.TempDir(), Password: password,
		MasterName: "chat-redis", Master: primary.Addr, Quorum: 1, DownAfter: 5 * time.Second, FailoverTimeout: time.Minute})
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	_ = os.WriteFile(good, []byte(password+"\n"), 0o600)
	_ = os.WriteFile(bad, []byte("nope\n"), 0o600)
	logger := slog.New(slog.DiscardHandler)
	cfg := config.Default().Redis
	cfg.Mode, cfg.Addresses, cfg.SentinelMaster, cfg.PasswordFile = "sentinel", []string{sentinel.Addr}, "chat-redis", good
	for _, adapter := range []string{"classic", "sharded", "streams"} {
		t.Run(adapter, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cfg := cfg
			cfg.Adapter = adapter
			a, err := redisAdapter(ctx, cfg, logger)
			if err != nil {
				t.Fatal(err)
			}
			waitfor.NoError(t, "link up through the Sentinel", func() error { return a.Ping(ctx) })
			if err := a.Close(ctx); err != nil {
				t.Fatalf("close: %v", err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.PasswordFile = bad
	a, err := redisAdapter(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	if err := a.Ping(ctx); err == nil {
		t.Error("Ping with a wrong password succeeds")
	}
}
