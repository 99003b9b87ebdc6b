package metrics

import (
	"bufio"
	"net"
	"net/http"
)

// ObserveUpgrades wraps the Socket.IO handler so that WebSocket upgrade
// requests of open sessions (transport=websocket with a sid) answered with an
// HTTP error instead of a WebSocket handshake are counted in
// socketfleet_upgrade_failures_total. Other requests pass through unwrapped.
func (m *Metrics) ObserveUpgrades(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("transport") != "websocket" || q.Get("sid") == "" {
			next.ServeHTTP(w, r)
			return
		}
		rec := &upgradeRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if !rec.hijacked && rec.status >= 400 {
			m.UpgradeFailures.Inc()
		}
	})
}

// upgradeRecorder notes the status of an upgrade request and passes
// Hijack through (the WebSocket handshake needs it).
type upgradeRecorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (u *upgradeRecorder) WriteHeader(code int) {
	if u.status == 0 {
		u.status = code
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *upgradeRecorder) Write(b []byte) (int, error) {
	if u.status == 0 {
		u.status = http.StatusOK
	}
	return u.ResponseWriter.Write(b)
}

func (u *upgradeRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := u.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, rw, err := h.Hijack()
	if err == nil {
		u.hijacked = true
	}
	return c, rw, err
}

func (u *upgradeRecorder) Unwrap() http.ResponseWriter { return u.ResponseWriter }
