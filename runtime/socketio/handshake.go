package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Handshake describes the HTTP request that opened a socket's Engine.IO
// session and the auth payload of its CONNECT packet. Socket.Handshake builds
// its header and query maps at each call: a caller may keep or change them.
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
// Engine.IO session. It keeps the request's headers as one compact string
// and its request URI, and builds the header and query maps only when a
// Handshake is asked for: an idle connection keeps no maps.
type handshakeBase struct {
	// headers holds "Name: value" lines separated by "\n", names in
	// canonical form, one line per value (net/http refuses values with
	// line breaks).
	headers string
	address string
	url     string
	xdomain bool
	secure  bool
}

func newHandshakeBase(r *http.Request, shared *sharedStrings) handshakeBase {
	if r == nil {
		return handshakeBase{}
	}
	var b strings.Builder
	n := 0
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + len(v) + 3
		}
	}
	hasHost := len(r.Header.Values("Host")) > 0
	if r.Host != "" && !hasHost {
		n += len(r.Host) + 7
	}
	b.Grow(n)
	line := func(name, value string) {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
	}
	if r.Host != "" && !hasHost {
		line("Host", r.Host)
	}
	for name, values := range r.Header {
		for _, v := range values {
			line(name, v)
		}
	}
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	uri := r.RequestURI
	if r.URL != nil {
		uri = r.URL.RequestURI()
	}
	if shared != nil {
		addr, uri = shared.addr.share(addr), shared.url.share(uri)
	}
	return handshakeBase{
		headers: b.String(),
		address: addr,
		xdomain: r.Header.Get("Origin") != "",
		secure:  r.TLS != nil,
		url:     uri,
	}
}

// sharedStrings lets consecutive handshakes share equal address and URL
// strings instead of keeping a copy per client: clients behind one proxy
// have the same address, and clients of one application often open their
// WebSocket with the same URL.
type sharedStrings struct {
	addr, url lastString
}

// lastString remembers the last string it was given.
type lastString struct{ p atomic.Pointer[string] }

// share returns the remembered string when it equals s, and otherwise
// remembers s (a copy, so that s's backing array, e.g. a whole request
// line or address, is not kept) and returns it.
func (l *lastString) share(s string) string {
	if p := l.p.Load(); p != nil && *p == s {
		return *p
	}
	s = strings.Clone(s)
	l.p.Store(&s)
	return s
}

// headerMap parses b.headers into a new map.
func (b *handshakeBase) headerMap() http.Header {
	h := make(http.Header, strings.Count(b.headers, "\n")+1)
	for rest := b.headers; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		name, value, _ := strings.Cut(line, ": ")
		h[name] = append(h[name], value)
	}
	return h
}

// queryMap parses the query of b.url into a new map.
func (b *handshakeBase) queryMap() url.Values {
	_, query, _ := strings.Cut(b.url, "?")
	q, _ := url.ParseQuery(query)
	if q == nil {
		q = url.Values{}
	}
	return q
}

func (b *handshakeBase) handshake(auth json.RawMessage, now time.Time) Handshake {
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	return Handshake{
		Headers: b.headerMap(),
		Time:    now,
		Address: b.address,
		XDomain: b.xdomain,
		Secure:  b.secure,
		URL:     b.url,
		Query:   b.queryMap(),
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
