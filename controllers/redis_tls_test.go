package controllers

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// TestGenerateRedisCertificate: the generated server certificate chains to the generated CA for every name a
// client of the managed Redis dials (the Service, a Redis pod, a Sentinel), not for another name, and its key
// matches it.
func TestGenerateRedisCertificate(t *testing.T) {
	rc := &realtimev1alpha1.RealtimeCluster{ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "apps"}}
	now := time.Now()
	caPEM, certPEM, keyPEM, err := GenerateRedisCertificate(specs.RedisTLSHosts(rc), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("key does not match the certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"chat-redis.apps.svc", true},
		{"chat-redis-2.chat-redis.apps.svc", true},
		{"chat-redis-sentinel-0.chat-redis-sentinel.apps.svc.cluster.local", true},
		{"chat-redis.other.svc", false},
		{"a.b.chat-redis.apps.svc", false},
	} {
		_, err := cert.Verify(x509.VerifyOptions{DNSName: tc.name, Roots: pool, CurrentTime: now.Add(24 * time.Hour),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if (err == nil) != tc.ok {
			t.Errorf("verify for %s: %v, want valid %v", tc.name, err, tc.ok)
		}
	}
	if cert.NotAfter.Before(now.Add(9 * 365 * 24 * time.Hour)) {
		t.Errorf("certificate expires %v", cert.NotAfter)
	}
}
