package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/socketfleet/socketfleet/internal/sioclient"
	"github.com/socketfleet/socketfleet/runtime/auth"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs a server whose main namespace uses mw; the "whoami" event
// acknowledges the socket's data.
func serve(t testing.TB, mws ...socketio.ConnectMiddleware) string {
	t.Helper()
	srv := socketio.NewServer(socketio.Options{})
	for _, mw := range mws {
		srv.Of("/").Use(mw)
	}
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("whoami", func(_ context.Context, ev *socketio.Event) { _ = ev.Ack(s.Data()) })
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close(context.Background())
		hs.Close()
	})
	return hs.URL + "/socket.io/"
}

// connect returns the socket data ("whoami") or the connect error.
func connect(t *testing.T, url string, authPayload any) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sioclient.ConnectContext(ctx, url, sioclient.Options{Auth: authPayload})
	if err != nil {
		return "", err
	}
	defer c.Close()
	args, err := c.EmitWithAck(ctx, "whoami")
	if err != nil {
		t.Fatal(err)
	}
	return string(args[0]), nil
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pemPublic(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestJWT(t *testing.T) {
	secret := []byte("hs-secret")
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	valid := jwt.MapClaims{"sub": "ada", "iss": "shop", "aud": "chat", "exp": now.Add(time.Hour).Unix()}

	var (
		mu      sync.Mutex
		results []string
	)
	hs, err := auth.NewJWT(auth.JWTOptions{Algorithm: "HS256", Secret: secret, Issuer: "shop", Audience: "chat",
		OnResult: func(r string) { mu.Lock(); results = append(results, r); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := auth.NewJWT(auth.JWTOptions{Algorithm: "RS256", PublicKeyPEM: pemPublic(t, &rsaKey.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	es, err := auth.NewJWT(auth.JWTOptions{Algorithm: "ES256", PublicKeyPEM: pemPublic(t, &ecKey.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	hsURL, rsURL, esURL := serve(t, hs.Middleware()), serve(t, rs.Middleware()), serve(t, es.Middleware())

	tests := []struct {
		name    string
		url     string
		auth    any
		data    string // expected socket data when accepted
		message string // expected connect_error message otherwise
		code    string
	}{
		{"HS256 valid", hsURL, map[string]string{"token": sign(t, jwt.SigningMethodHS256, secret, valid)},
			`{"aud":"chat","exp":` + jsonNum(valid["exp"]) + `,"iss":"shop","sub":"ada"}`, "", ""},
		{"Bearer prefix", hsURL, map[string]string{"token": "Bearer " + sign(t, jwt.SigningMethodHS256, secret, valid)},
			`{"aud":"chat","exp":` + jsonNum(valid["exp"]) + `,"iss":"shop","sub":"ada"}`, "", ""},
		{"no auth", hsURL, nil, "", "unauthorized: auth.token is missing", "missing_token"},
		{"empty token", hsURL, map[string]string{"token": ""}, "", "unauthorized: auth.token is missing", "missing_token"},
		{"malformed", hsURL, map[string]string{"token": "abc"}, "", "unauthorized: malformed token", "malformed_token"},
		{"wrong secret", hsURL, map[string]string{"token": sign(t, jwt.SigningMethodHS256, []byte("other"), valid)},
			"", "unauthorized: invalid token signature", "invalid_signature"},
		{"expired", hsURL, map[string]string{"token": sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"iss": "shop", "aud": "chat", "exp": now.Add(-time.Hour).Unix()})},
			"", "unauthorized: token has expired", "token_expired"},
		{"not valid yet", hsURL, map[string]string{"token": sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"iss": "shop", "aud": "chat", "nbf": now.Add(time.Hour).Unix()})},
			"", "unauthorized: token is not valid yet", "token_not_valid_yet"},
		{"wrong issuer", hsURL, map[string]string{"token": sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"iss": "evil", "aud": "chat"})}, "", "unauthorized: invalid token issuer", "invalid_issuer"},
		{"wrong audience", hsURL, map[string]string{"token": sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"iss": "shop", "aud": "admin"})}, "", "unauthorized: invalid token audience", "invalid_audience"},
		{"RS256 valid", rsURL, map[string]string{"token": sign(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "bob"})},
			`{"sub":"bob"}`, "", ""},
		{"HS256 token to an RS256 server", rsURL, map[string]string{"token": sign(t, jwt.SigningMethodHS256, secret, valid)},
			"", "unauthorized: invalid token signature", "invalid_signature"},
		{"ES256 valid", esURL, map[string]string{"token": sign(t, jwt.SigningMethodES256, ecKey, jwt.MapClaims{"sub": "eve"})},
			`{"sub":"eve"}`, "", ""},
		{"RS256 token to an ES256 server", esURL, map[string]string{"token": sign(t, jwt.SigningMethodRS256, rsaKey, valid)},
			"", "unauthorized: invalid token signature", "invalid_signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := connect(t, tt.url, tt.auth)
			if tt.message == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if data != tt.data {
					t.Errorf("socket data %s, want %s", data, tt.data)
				}
				return
			}
			var ce *sioclient.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a connect_error", err)
			}
			if ce.Message != tt.message || string(ce.Data) != `{"code":"`+tt.code+`"}` {
				t.Errorf("connect_error %q %s, want %q code %s", ce.Message, ce.Data, tt.message, tt.code)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(results) == 0 || results[0] != auth.ResultAccepted {
		t.Errorf("results %v", results)
	}
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestNewJWTKeyErrors(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		opts auth.JWTOptions
		want string
	}{
		{"no secret", auth.JWTOptions{Algorithm: "HS256"}, "HS256 needs a secret"},
		{"no PEM", auth.JWTOptions{Algorithm: "RS256", PublicKeyPEM: []byte("nope")}, "no PEM block found"},
		{"EC key for RS256", auth.JWTOptions{Algorithm: "RS256", PublicKeyPEM: pemPublic(t, &ecKey.PublicKey)}, "does not fit RS256"},
		{"algorithm", auth.JWTOptions{Algorithm: "none"}, `unsupported algorithm "none"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := auth.NewJWT(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAuthWebhook(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []auth.WebhookRequest
	)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req auth.WebhookRequest
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		var a struct{ User string }
		_ = json.Unmarshal(req.Auth, &a)
		switch a.User {
		case "ada":
			_, _ = io.WriteString(w, `{"data":{"user":"ada","role":"admin"}}`)
		case "plain":
			w.WriteHeader(http.StatusNoContent)
		case "banned":
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"message":"account suspended"}`)
		case "anon":
			w.WriteHeader(http.StatusUnauthorized)
		case "slow":
			<-r.Context().Done()
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer backend.Close()
	wh := auth.NewWebhook(auth.WebhookOptions{URL: backend.URL, Timeout: 300 * time.Millisecond})
	defer wh.Close()
	url := serve(t, wh.Middleware())

	tests := []struct {
		user    string
		data    string
		message string
		code    string
	}{
		{"ada", `{"role":"admin","user":"ada"}`, "", ""},
		{"plain", `null`, "", ""},
		{"banned", "", "unauthorized: account suspended", "refused"},
		{"anon", "", "unauthorized", "refused"},
		{"boom", "", "unauthorized: auth service unavailable", "auth_unavailable"},
		{"slow", "", "unauthorized: auth service unavailable", "auth_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			data, err := connect(t, url, map[string]string{"user": tt.user})
			if tt.message == "" {
				if err != nil || data != tt.data {
					t.Errorf("data %s err %v, want %s", data, err, tt.data)
				}
				return
			}
			var ce *sioclient.ConnectError
			if !errors.As(err, &ce) || ce.Message != tt.message || string(ce.Data) != `{"code":"`+tt.code+`"}` {
				t.Errorf("err = %v (%+v), want %q", err, ce, tt.message)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if seen[0].Namespace != "/" || seen[0].Address == "" || seen[0].Query["EIO"][0] != "4" {
		t.Errorf("webhook request %+v", seen[0])
	}
}

func TestJWTThenWebhookSeesClaims(t *testing.T) {
	secret := []byte("k")
	var (
		mu  sync.Mutex
		got auth.WebhookRequest
	)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		_ = json.Unmarshal(body, &got)
		mu.Unlock()
	}))
	defer backend.Close()
	j, _ := auth.NewJWT(auth.JWTOptions{Algorithm: "HS256", Secret: secret})
	wh := auth.NewWebhook(auth.WebhookOptions{URL: backend.URL})
	defer wh.Close()
	url := serve(t, j.Middleware(), wh.Middleware())
	data, err := connect(t, url, map[string]string{"token": sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "ada"})})
	if err != nil || data != `{"sub":"ada"}` {
		t.Fatalf("data %s err %v", data, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if b, _ := json.Marshal(got.Data); string(b) != `{"sub":"ada"}` {
		t.Errorf("webhook saw data %s", b)
	}
}
