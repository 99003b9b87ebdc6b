// Package runtimeadmin is the operator's client of the runtime pods' admin API (the admin port, never exposed
// by a Service): GET /stats, POST /shed?count=N[&to=peers] and POST /drain. Each method takes the URL of the endpoint it
// calls, built from a pod's admin base URL with StatsURL, ShedURL or DrainURL; the caller's context bounds
// each request. Every request carries the cluster's admin token (Client.Token) as a bearer token: the runtime
// requires it on POST /drain and POST /shed, and on GET /stats with admin.protectReads.
package runtimeadmin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Paths of the admin API (see runtime/admin).
const (
	StatsPath = "/stats"
	ShedPath  = "/shed"
	DrainPath = "/drain"
)

// Bounds of the bodies read from a pod.
const (
	// MaxStatsBody bounds the /stats document.
	MaxStatsBody = 1 << 20
	// maxErrorBody bounds the part of an error answer quoted in the error.
	maxErrorBody = 512
)

// BaseURL is the admin base URL of a pod at ip with the admin port port, e.g. http://10.0.0.7:8081.
func BaseURL(ip string, port int32) string {
	return "http://" + Addr(ip, port)
}

// Addr is the admin listener's address of a pod at ip with the admin port port, e.g. 10.0.0.7:8081 or
// [fd00::1]:8081: what a runtime with session forwarding advertises to its peers, and what POST /shed's to
// parameter lists.
func Addr(ip string, port int32) string {
	return net.JoinHostPort(ip, strconv.Itoa(int(port)))
}

// StatsURL is the /stats URL under base.
func StatsURL(base string) string { return base + StatsPath }

// ShedURL is the /shed URL under base (Shed adds the count).
func ShedURL(base string) string { return base + ShedPath }

// DrainURL is the /drain URL under base.
func DrainURL(base string) string { return base + DrainPath }

// Client calls the admin API. The zero value is ready to use.
type Client struct {
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// Token is sent as Authorization: Bearer <Token> on every request; empty: no header.
	Token string
}

// FirstToken returns the token a client sends from the content of a token file or Secret key: its first
// non-blank line, trimmed ("" when there is none). The runtime accepts every line of its file, so a rotation
// lists the new token second while the pods learn it, then alone.
func FirstToken(data []byte) string {
	for line := range strings.SplitSeq(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// newRequest builds a request carrying the token.
func (c *Client) newRequest(ctx context.Context, method, target string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return nil, fmt.Errorf("build request %s: %w", target, err)
	}
	if c != nil && c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// Stats is the part of the runtime's /stats document the operator reads.
type Stats struct {
	// Connections is the pod's connected clients (Engine.IO sessions), connectedClients.total.
	Connections int64
	// WebSocket and Polling count the pod's sessions by transport, connectedClients.byTransport (0 when a
	// runtime older than the report does not send it).
	WebSocket, Polling int64
	// Draining is true when the pod is draining.
	Draining bool
	// ShedPending is the number of sessions the pod still has to shed, drain.shedPending.
	ShedPending int64
	// Adapter is the health of the pod's cluster adapter link (Redis), adapterHealth; nil when the pod reports
	// none (in-memory adapter, or a runtime older than the report).
	Adapter *AdapterHealth
}

// AdapterHealth is the part of the runtime's adapterHealth block the operator reads.
type AdapterHealth struct {
	// Name is the adapter's name, e.g. "redis".
	Name string `json:"name"`
	// Up is true while the pod's Redis link answers; while it is down the pod serves its own clients only.
	Up bool `json:"up"`
	// DownSince is when the pod's current outage started; nil while up.
	DownSince *time.Time `json:"downSince,omitempty"`
}

// statsDocument is the wire form of Stats.
type statsDocument struct {
	Draining         bool           `json:"draining"`
	AdapterHealth    *AdapterHealth `json:"adapterHealth"`
	ConnectedClients *struct {
		Total       int64            `json:"total"`
		ByTransport map[string]int64 `json:"byTransport"`
	} `json:"connectedClients"`
	Drain struct {
		ShedPending int64 `json:"shedPending"`
	} `json:"drain"`
}

// Stats reads GET statsURL. A document without connectedClients.total, or with a negative one, is an error.
func (c *Client) Stats(ctx context.Context, statsURL string) (Stats, error) {
	req, err := c.newRequest(ctx, http.MethodGet, statsURL)
	if err != nil {
		return Stats{}, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return Stats{}, fmt.Errorf("get %s: %w", statsURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxStatsBody+1))
	if err != nil {
		return Stats{}, fmt.Errorf("read %s: %w", statsURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Stats{}, fmt.Errorf("get %s: status %d", statsURL, resp.StatusCode)
	}
	if len(body) > MaxStatsBody {
		return Stats{}, fmt.Errorf("read %s: document larger than %d bytes", statsURL, MaxStatsBody)
	}
	var doc statsDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return Stats{}, fmt.Errorf("decode %s: %w", statsURL, err)
	}
	if doc.ConnectedClients == nil {
		return Stats{}, fmt.Errorf("decode %s: no connectedClients field", statsURL)
	}
	if doc.ConnectedClients.Total < 0 {
		return Stats{}, fmt.Errorf("decode %s: negative connectedClients.total %d", statsURL, doc.ConnectedClients.Total)
	}
	ws, polling := doc.ConnectedClients.ByTransport["websocket"], doc.ConnectedClients.ByTransport["polling"]
	if ws < 0 || polling < 0 || ws+polling > doc.ConnectedClients.Total {
		return Stats{}, fmt.Errorf("decode %s: connectedClients.byTransport (websocket %d, polling %d) does not fit total %d",
			statsURL, ws, polling, doc.ConnectedClients.Total)
	}
	return Stats{Connections: doc.ConnectedClients.Total, WebSocket: ws, Polling: polling, Draining: doc.Draining,
		ShedPending: doc.Drain.ShedPending, Adapter: doc.AdapterHealth}, nil
}

// Shed sends POST shedURL?count=n: the pod closes n sessions at the transport level, at its drain rate (it
// only schedules the closes and answers at once). to, when not empty, are the admin addresses (Addr) of the
// pods below the fair share: with session forwarding the shedding pod hands the handshakes that reach it to
// them meanwhile (&to=a,b), instead of refusing them; a runtime without forwarding answers 400 to it.
func (c *Client) Shed(ctx context.Context, shedURL string, n int64, to []string) error {
	u, err := url.Parse(shedURL)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", shedURL, err)
	}
	q := u.Query()
	q.Set("count", strconv.FormatInt(n, 10))
	if len(to) > 0 {
		q.Set("to", strings.Join(to, ","))
	}
	u.RawQuery = q.Encode()
	return c.post(ctx, u.String())
}

// Drain sends POST drainURL: the pod stops accepting handshakes and closes its sessions over its drain
// window. Asking a pod that is already draining is not an error.
func (c *Client) Drain(ctx context.Context, drainURL string) error {
	return c.post(ctx, drainURL)
}

// post sends an empty POST to target and accepts any 2xx answer.
func (c *Client) post(ctx context.Context, target string) error {
	req, err := c.newRequest(ctx, http.MethodPost, target)
	if err != nil {
		return err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post %s: status %d: %s", target, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

func (c *Client) http() *http.Client {
	if c == nil || c.HTTP == nil {
		return http.DefaultClient
	}
	return c.HTTP
}
