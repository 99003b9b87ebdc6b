package controllers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	realtimev1alpha1 "github.com/socketfleet/socketfleet/api/v1alpha1"
	"github.com/socketfleet/socketfleet/controllers/specs"
)

// redisCertValidity is how long the CA and server certificate the operator generates for a managed Redis stay
// valid. They are not rotated: a user who needs rotation provides certificateSecretRef (e.g. from cert-manager).
const redisCertValidity = 10 * 365 * 24 * time.Hour

// ensureRedisTLSSecret creates the certificate Secret of a managed Redis with TLS and no certificateSecretRef
// once; an existing one is kept as it is (the Redis pods and the runtime pods trust its CA).
func (r *RealtimeClusterReconciler) ensureRedisTLSSecret(ctx context.Context, rc *realtimev1alpha1.RealtimeCluster) error {
	if !specs.RedisTLSGenerated(rc) {
		return nil
	}
	key := types.NamespacedName{Namespace: rc.Namespace, Name: specs.NamesFor(rc).RedisTLSSecret}
	err := r.Client.Get(ctx, key, &corev1.Secret{})
	switch {
	case err == nil:
		return nil
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("get secret %s: %w", key, err)
	}
	caPEM, certPEM, keyPEM, err := GenerateRedisCertificate(specs.RedisTLSHosts(rc), time.Now())
	if err != nil {
		return err
	}
	secret := specs.BuildRedisTLSSecret(rc, caPEM, certPEM, keyPEM)
	if err := r.Client.Create(ctx, secret, client.FieldOwner(specs.ManagerName)); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return fmt.Errorf("create secret %s: %w", key, err)
	}
	r.event(rc, secret, corev1.EventTypeNormal, EventCreated, "Create", "Created Secret "+secret.Name+" with a generated CA and Redis server certificate")
	return nil
}

// GenerateRedisCertificate returns, as PEM, a self-signed CA, a server certificate it signs for hosts, and the
// certificate's private key (ECDSA P-256), valid from now for redisCertValidity.
func GenerateRedisCertificate(hosts []string, now time.Time) (caPEM, certPEM, keyPEM []byte, err error) {
	serial := func() (*big.Int, error) {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			return nil, fmt.Errorf("generate certificate serial: %w", err)
		}
		return n, nil
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	caSerial, err := serial()
	if err != nil {
		return nil, nil, nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          caSerial,
		Subject:               pkix.Name{CommonName: "socketfleet managed Redis CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(redisCertValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate server key: %w", err)
	}
	srvSerial, err := serial()
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: srvSerial,
		Subject:      pkix.Name{CommonName: hosts[0]},
		DNSNames:     hosts,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(redisCertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Redis replicas and Sentinels present the server certificate as clients too.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create server certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("marshal server key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
