package engineio

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// ErrSessionClosed is returned by Session.Send once the session is closing or
// closed.
var ErrSessionClosed = errors.New("engineio: session closed")

// ErrQueueFull is returned by Session.Send when the client does not read fast
// enough; the session is closed.
var ErrQueueFull = errors.New("engineio: send queue full")

// Close reasons passed to SessionHandler.OnClose; they are the reference
// server's.
const (
	// ReasonTransportClose: the client closed the connection.
	ReasonTransportClose = "transport close"
	// ReasonTransportError: the transport failed (aborted poll, overlapping
	// requests, oversized payload, full send queue, write error).
	ReasonTransportError = "transport error"
	// ReasonPingTimeout: no pong within PingTimeout.
	ReasonPingTimeout = "ping timeout"
	// ReasonParseError: the client sent an undecodable Engine.IO packet.
	ReasonParseError = "parse error"
	// ReasonForcedClose: Session.Close was called.
	ReasonForcedClose = "forced close"
	// ReasonServerShutdown: Server.Close was called.
	ReasonServerShutdown = "server shutting down"
)

// Error codes of the reference server's JSON error answers.
const (
	CodeUnknownTransport           = 0
	CodeUnknownSID                 = 1
	CodeBadHandshakeMethod         = 2
	CodeBadRequest                 = 3
	CodeForbidden                  = 4
	CodeUnsupportedProtocolVersion = 5
)

var codeMessages = [...]string{
	CodeUnknownTransport:           "Transport unknown",
	CodeUnknownSID:                 "Session ID unknown",
	CodeBadHandshakeMethod:         "Bad handshake method",
	CodeBadRequest:                 "Bad request",
	CodeForbidden:                  "Forbidden",
	CodeUnsupportedProtocolVersion: "Unsupported protocol version",
}

// RequestError is an HTTP refusal of a request. Options.AllowRequest may
// return one to choose the answer, e.g. 503 with Retry-After while draining.
type RequestError struct {
	// Status is the HTTP status (400 when 0).
	Status int
	// Code is the Engine.IO error code of the JSON body.
	Code int
	// Message is the body's message (the code's standard message when empty).
	Message string
	// RetryAfter, when positive, is sent as a Retry-After header.
	RetryAfter time.Duration
	// Header holds extra response headers, e.g. a Set-Cookie that expires a load balancer's sticky cookie.
	Header http.Header
}

// Error implements error.
func (e *RequestError) Error() string {
	return "engineio: request refused: " + strconv.Itoa(e.status()) + " " + e.message()
}

func (e *RequestError) status() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

func (e *RequestError) message() string {
	if e.Message == "" && e.Code >= 0 && e.Code < len(codeMessages) {
		return codeMessages[e.Code]
	}
	return e.Message
}

// write sends the refusal as the reference server does: JSON {"code","message"}.
func (e *RequestError) write(w http.ResponseWriter) {
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{e.Code, e.message()})
	h := w.Header()
	for k, vs := range e.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(e.status())
	_, _ = w.Write(body)
}

// protocolError is the standard answer for a protocol error code.
func protocolError(code int) *RequestError {
	status := http.StatusBadRequest
	if code == CodeForbidden {
		status = http.StatusForbidden
	}
	return &RequestError{Status: status, Code: code}
}
