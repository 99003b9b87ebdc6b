// Package auth authenticates Socket.IO connections of socketfleet-runtime
// with no application code: a JWT from the CONNECT auth.token (HS256 secret,
// RS256 or ES256 public key), or an auth webhook asked to accept each
// connection. A refusal reaches the client's connect_error event as
//
//	err.message  "unauthorized: token has expired"
//	err.data     {"code": "token_expired"}
//
// On success the socket's data (Socket.SetData) is the token's claims, or
// the webhook's "data" answer; the event webhook forwards it.
package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Results reported to the OnResult callbacks.
const (
	ResultAccepted    = "accepted"
	ResultRefused     = "refused"
	ResultUnavailable = "unavailable"
)

// JWTOptions configure JWT verification.
type JWTOptions struct {
	// Algorithm is HS256, RS256 or ES256; tokens signed otherwise are refused.
	Algorithm string
	// Secret is the HS256 key.
	Secret []byte
	// PublicKeyPEM is the RS256 or ES256 key (PKIX "PUBLIC KEY", or an
	// "RSA PUBLIC KEY", or a certificate).
	PublicKeyPEM []byte
	// Issuer, when set, must equal the iss claim.
	Issuer string
	// Audience, when set, must be in the aud claim.
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat.
	Leeway time.Duration
	// OnResult observes every decision.
	OnResult func(result string)
}

// JWT verifies tokens.
type JWT struct {
	key      any
	parser   *jwt.Parser
	onResult func(string)
}

// NewJWT checks the key and returns a verifier.
func NewJWT(opts JWTOptions) (*JWT, error) {
	j := &JWT{onResult: opts.OnResult}
	if j.onResult == nil {
		j.onResult = func(string) {}
	}
	switch opts.Algorithm {
	case "HS256":
		if len(opts.Secret) == 0 {
			return nil, errors.New("jwt: HS256 needs a secret")
		}
		j.key = opts.Secret
	case "RS256", "ES256":
		key, err := parsePublicKey(opts.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("jwt: %s public key: %w", opts.Algorithm, err)
		}
		_, isRSA := key.(*rsa.PublicKey)
		_, isEC := key.(*ecdsa.PublicKey)
		if (opts.Algorithm == "RS256" && !isRSA) || (opts.Algorithm == "ES256" && !isEC) {
			return nil, fmt.Errorf("jwt: the public key (%T) does not fit %s", key, opts.Algorithm)
		}
		j.key = key
	default:
		return nil, fmt.Errorf("jwt: unsupported algorithm %q", opts.Algorithm)
	}
	popts := []jwt.ParserOption{jwt.WithValidMethods([]string{opts.Algorithm}), jwt.WithLeeway(opts.Leeway), jwt.WithIssuedAt()}
	if opts.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(opts.Audience))
	}
	j.parser = jwt.NewParser(popts...)
	return j, nil
}

func parsePublicKey(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	}
	return nil, fmt.Errorf("unsupported PEM block %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
}

// Verify checks a token and returns its claims, or a *socketio.ConnectError
// whose message says what is wrong.
func (j *JWT) Verify(token string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := j.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return j.key, nil })
	if err != nil {
		return nil, refusal(err)
	}
	return claims, nil
}

// refusal maps a jwt error to a connect error with a stable code.
func refusal(err error) *socketio.ConnectError {
	code, msg := "invalid_token", "invalid token"
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		code, msg = "malformed_token", "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		code, msg = "invalid_signature", "invalid token signature"
	case errors.Is(err, jwt.ErrTokenExpired):
		code, msg = "token_expired", "token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		code, msg = "token_not_valid_yet", "token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		code, msg = "invalid_issuer", "invalid token issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		code, msg = "invalid_audience", "invalid token audience"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		code, msg = "invalid_signature", "token signed with an unexpected method"
	}
	return unauthorized(code, msg)
}

func unauthorized(code, msg string) *socketio.ConnectError {
	return &socketio.ConnectError{Message: "unauthorized: " + msg, Data: map[string]string{"code": code}}
}

// Middleware verifies auth.token of every connection; the socket's data
// becomes the claims. The token may carry a "Bearer " prefix.
func (j *JWT) Middleware() socketio.ConnectMiddleware {
	return func(_ context.Context, s *socketio.Socket) error {
		token, ok := tokenFromAuth(s.Handshake().Auth)
		if !ok {
			j.onResult(ResultRefused)
			return unauthorized("missing_token", "auth.token is missing")
		}
		claims, err := j.Verify(token)
		if err != nil {
			j.onResult(ResultRefused)
			return err
		}
		j.onResult(ResultAccepted)
		s.SetData(map[string]any(claims))
		return nil
	}
}

func tokenFromAuth(auth json.RawMessage) (string, bool) {
	var a struct {
		Token string `json:"token"`
	}
	if len(auth) == 0 || json.Unmarshal(auth, &a) != nil {
		return "", false
	}
	t := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(a.Token), "Bearer "))
	return t, t != ""
}
