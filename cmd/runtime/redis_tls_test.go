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
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socketfleet/socketfleet/internal/redisserver"
	"github.com/socketfleet/socketfleet/internal/waitfor"
	"github.com/socketfleet/socketfleet/runtime/config"
)

// testCA writes a CA and a server certificate it signs for localhost and 127.0.0.1 into dir (ca.crt, tls.crt,
// tls.key), as the operator does for a managed Redis with TLS, and returns the files.
func testCA(t *testing.T, dir string) redisserver.TLSFiles {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test Redis CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	files := redisserver.TLSFiles{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key")}
	for path, block := range map[string]*pem.Block{
		files.CA: {Type: "CERTIFICATE", Bytes: caDER}, files.Cert: {Type: "CERTIFICATE", Bytes: der},
		files.Key: {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// TestAdapterOverTLS connects every adapter, the way the operator configures a managed Redis with TLS (redis.tls
// with the CA of its certificate Secret), to real redis-server processes that serve TLS only: a standalone
// server (rediss:// URL) and a primary with a TLS replica found through a TLS Sentinel. The link is up,
// subscription included; a client that does not trust the CA, or that speaks plaintext, never is.
func TestAdapterOverTLS(t *testing.T) {
	const password = "s3cret"
	dir := t.TempDir()
	files := testCA(t, dir)
	other := testCA(t, t.TempDir()) // a CA that did not sign the servers' certificate
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	standalone := redisserver.StartWith(t, redisserver.Options{Password: password, TLS: files})
	primary := redisserver.StartWith(t, redisserver.Options{Password: password, TLS: files})
	replica := redisserver.StartWith(t, redisserver.Options{Password: password, TLS: files, ReplicaOf: primary.Addr})
	sentinel := redisserver.StartSentinel(t, redisserver.SentinelOptions{Dir: t.TempDir(), Password: password, TLS: files,
		MasterName: "chat-redis", Master: primary.Addr, Quorum: 1, DownAfter: 5 * time.Second, FailoverTimeout: time.Minute})
	logger := slog.New(slog.DiscardHandler)

	standaloneCfg := func(adapter, ca string, tls bool) config.Redis {
		cfg := config.Default().Redis
		scheme := "redis"
		if tls {
			scheme = "rediss"
		}
		cfg.Mode, cfg.URL, cfg.Adapter, cfg.PasswordFile = "standalone", scheme+"://localhost:"+standalone.Port()+"/0", adapter, pw
		cfg.TLS = config.RedisTLS{Enabled: tls, CAFile: ca}
		return cfg
	}
	sentinelCfg := func(adapter, ca string) config.Redis {
		cfg := config.Default().Redis
		cfg.Mode, cfg.Addresses, cfg.SentinelMaster, cfg.Adapter, cfg.PasswordFile = "sentinel", []string{"localhost:" + sentinel.Port()}, "chat-redis", adapter, pw
		cfg.TLS = config.RedisTLS{Enabled: true, CAFile: ca}
		return cfg
	}
	tests := []struct {
		name string
		cfg  config.Redis
		up   bool   // the link must come up
		err  string // what the error of a refused link mentions ("": any error)
	}{
		{"standalone classic", standaloneCfg("classic", files.CA, true), true, ""},
		{"standalone sharded", standaloneCfg("sharded", files.CA, true), true, ""},
		{"standalone streams", standaloneCfg("streams", files.CA, true), true, ""},
		{"sentinel classic", sentinelCfg("classic", files.CA), true, ""},
		{"sentinel streams", sentinelCfg("streams", files.CA), true, ""},
		{"standalone, another CA", standaloneCfg("streams", other.CA, true), false, "certificate"},
		// The failover client keeps asking the Sentinels, so Ping ends with its deadline.
		{"sentinel, another CA", sentinelCfg("streams", other.CA), false, ""},
		{"standalone, plaintext", standaloneCfg("streams", "", false), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a, err := redisAdapter(ctx, tt.cfg, logger)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = a.Close(ctx) }()
			if tt.up {
				waitfor.NoError(t, "link up over TLS", func() error { return a.Ping(ctx) })
				return
			}
			// A refused link: Ping fails every time (a few tries, as the runtime's monitor would).
			for range 3 {
				pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
				err := a.Ping(pingCtx)
				cancel()
				if err == nil {
					t.Fatal("link up although the client cannot complete a TLS handshake with the server")
				}
				if tt.err != "" && !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Ping = %v, want an error mentioning %q", err, tt.err)
				}
			}
		})
	}
	// The replica followed the TLS primary over TLS (tls-replication).
	r := redisserver.Client(replica.Addr, password, files.CA)
	defer r.Close()
	waitfor.NoError(t, "the replica's link to the primary is up over TLS", func() error {
		info, err := r.Info(context.Background(), "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return &linkDown{info}
		}
		return nil
	})
}

type linkDown struct{ info string }

func (e *linkDown) Error() string { return "replication link down: " + e.info }
