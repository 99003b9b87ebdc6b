package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Handshake describes the HTTP request that opened a socket's Engine.IO
// session and the auth payload of its CONNECT packet. Its maps are shared and
// must be treated as read-only.
//
// Its JSON form is the `handshake` object of Node's socket.io (used by
// fetchSockets across servers): header names in lower case with values
// joined by ", ", `time` as a JavaScript Date string, `issued` in
// milliseconds and query values as strings (arrays when repeated).
type Handshake struct {
	// Headers of the handshake request, including Host.
	Headers http.Header
	// Time is when the socket was created.
	Time time.Time
	// Address is the client's IP address (the remote address of the request).
	Address string
	// XDomain is true when the request had an Origin header.
	XDomain bool
	// Secure is true when the request came over TLS.
	Secure bool
	// URL is the request URI of the handshake request.
	URL string
	// Query holds the parsed query string of the handshake request.
	Query url.Values
	// Auth is the CONNECT packet's payload; `{}` when the client sent none.
	Auth json.RawMessage
}

// Issued is the creation time in milliseconds since the Unix epoch, as Node's
// handshake.issued.
func (h Handshake) Issued() int64 { return h.Time.UnixMilli() }

// handshakeBase is the part of a Handshake shared by every socket of one
// Engine.IO session; computed once per session.
type handshakeBase struct {
	headers http.Header
	address string
	xdomain bool
	secure  bool
	url     string
	query   url.Values
}

func newHandshakeBase(r *http.Request) handshakeBase {
	if r == nil {
		return handshakeBase{headers: http.Header{}, query: url.Values{}}
	}
	// Share the request's header map rather than cloning it: net/http does
	// not reuse it, and it is read-only from here on.
	headers := r.Header
	if headers == nil {
		headers = http.Header{}
	}
	if r.Host != "" && headers.Get("Host") == "" {
		headers.Set("Host", r.Host)
	}
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	uri := r.RequestURI
	query := url.Values{}
	if r.URL != nil {
		uri = r.URL.RequestURI()
		query = r.URL.Query()
	}
	return handshakeBase{
		headers: headers,
		address: addr,
		xdomain: r.Header.Get("Origin") != "",
		secure:  r.TLS != nil,
		url:     uri,
		query:   query,
	}
}

func (b *handshakeBase) handshake(auth json.RawMessage, now time.Time) Handshake {
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	return Handshake{
		Headers: b.headers,
		Time:    now,
		Address: b.address,
		XDomain: b.xdomain,
		Secure:  b.secure,
		URL:     b.url,
		Query:   b.query,
		Auth:    auth,
	}
}

// jsDateLayout is JavaScript's Date.prototype.toString without the zone name.
const jsDateLayout = "Mon Jan 02 2006 15:04:05 GMT-0700"

func jsDateString(t time.Time) string {
	zone, _ := t.Zone()
	if zone == "UTC" {
		zone = "Coordinated Universal Time"
	}
	return t.Format(jsDateLayout) + " (" + zone + ")"
}

type handshakeJSON struct {
	Headers map[string]json.RawMessage `json:"headers"`
	Time    string                     `json:"time"`
	Address string                     `json:"address"`
	XDomain bool                       `json:"xdomain"`
	Secure  bool                       `json:"secure"`
	Issued  int64                      `json:"issued"`
	URL     string                     `json:"url"`
	Query   map[string]json.RawMessage `json:"query"`
	Auth    json.RawMessage            `json:"auth"`
}

// MarshalJSON writes the handshake in Node's shape.
func (h Handshake) MarshalJSON() ([]byte, error) {
	out := handshakeJSON{
		Headers: make(map[string]json.RawMessage, len(h.Headers)),
		Time:    jsDateString(h.Time),
		Address: h.Address,
		XDomain: h.XDomain,
		Secure:  h.Secure,
		Issued:  h.Issued(),
		URL:     h.URL,
		Query:   make(map[string]json.RawMessage, len(h.Query)),
		Auth:    h.Auth,
	}
	if len(out.Auth) == 0 {
		out.Auth = json.RawMessage("{}")
	}
	for name, values := range h.Headers {
		var v any
		switch {
		case len(values) == 1:
			v = values[0]
		case strings.EqualFold(name, "Set-Cookie"):
			v = values
		case strings.EqualFold(name, "Cookie"):
			v = strings.Join(values, "; ")
		default:
			v = strings.Join(values, ", ")
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode header %q: %w", name, err)
		}
		out.Headers[strings.ToLower(name)] = raw
	}
	for key, values := range h.Query {
		var v any = values
		if len(values) == 1 {
			v = values[0]
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode query %q: %w", key, err)
		}
		out.Query[key] = raw
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads a handshake in Node's shape. Header and query values
// may be strings or arrays of strings; Time comes from `issued`.
func (h *Handshake) UnmarshalJSON(data []byte) error {
	var in handshakeJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("decode handshake: %w", err)
	}
	*h = Handshake{
		Headers: make(http.Header, len(in.Headers)),
		Address: in.Address,
		XDomain: in.XDomain,
		Secure:  in.Secure,
		URL:     in.URL,
		Query:   make(url.Values, len(in.Query)),
		Auth:    in.Auth,
	}
	if in.Issued != 0 {
		h.Time = time.UnixMilli(in.Issued)
	} else if len(in.Time) >= len(jsDateLayout) {
		if t, err := time.Parse(jsDateLayout, in.Time[:len(jsDateLayout)]); err == nil {
			h.Time = t
		}
	}
	for name, raw := range in.Headers {
		h.Headers[http.CanonicalHeaderKey(name)] = stringList(raw)
	}
	for key, raw := range in.Query {
		h.Query[key] = stringList(raw)
	}
	return nil
}

// stringList decodes a JSON string or array of strings; other JSON values are
// kept as their JSON text.
func stringList(raw json.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list
	}
	return []string{string(raw)}
}
