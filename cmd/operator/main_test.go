package main

import (
	"crypto/tls"
	"testing"
)

func TestMetricsOptions(t *testing.T) {
	cfg, _, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.metricsAddr != ":8443" || !cfg.secureMetrics || cfg.enableHTTP2 {
		t.Fatalf("defaults: %+v, want :8443, secure, no HTTP/2", cfg)
	}
	secure := metricsOptions(cfg)
	if !secure.SecureServing || secure.FilterProvider == nil || secure.CertDir != "" {
		t.Errorf("secure by default: %+v, want HTTPS with the authn/authz filter and a self-signed certificate", secure)
	}
	c := &tls.Config{}
	for _, o := range secure.TLSOpts {
		o(c)
	}
	if len(c.NextProtos) != 1 || c.NextProtos[0] != "http/1.1" {
		t.Errorf("NextProtos %v, want HTTP/1.1 only", c.NextProtos)
	}

	cfg, _, err = parseFlags([]string{"--metrics-cert-path=/certs", "--metrics-cert-name=c.pem", "--enable-http2"})
	if err != nil {
		t.Fatal(err)
	}
	withCert := metricsOptions(cfg)
	if withCert.CertDir != "/certs" || withCert.CertName != "c.pem" || withCert.KeyName != "tls.key" || len(withCert.TLSOpts) != 0 {
		t.Errorf("with a certificate directory and HTTP/2: %+v", withCert)
	}

	cfg, _, err = parseFlags([]string{"--metrics-secure=false", "--metrics-bind-address=:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if plain := metricsOptions(cfg); plain.SecureServing || plain.FilterProvider != nil || plain.BindAddress != ":8080" {
		t.Errorf("--metrics-secure=false: %+v, want plain HTTP without the filter", plain)
	}
}
