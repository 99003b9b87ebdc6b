package adminui

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/socketfleet/socketfleet/runtime/engineio"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// socketJSON is a socket as the UI lists it (Node's serialize()).
type socketJSON struct {
	ID        string          `json:"id"`
	ClientID  string          `json:"clientId"`
	Transport string          `json:"transport"`
	Nsp       string          `json:"nsp"`
	Data      json.RawMessage `json:"data"`
	Handshake handshakeJSON   `json:"handshake"`
	Rooms     []string        `json:"rooms"`
}

type handshakeJSON struct {
	Address string                     `json:"address"`
	Headers map[string]json.RawMessage `json:"headers"`
	Query   map[string]json.RawMessage `json:"query"`
	Issued  int64                      `json:"issued"`
	Secure  bool                       `json:"secure"`
	Time    string                     `json:"time"`
	URL     string                     `json:"url"`
	XDomain bool                       `json:"xdomain"`
}

// redacted are the headers whose values the UI does not receive: they carry
// the clients' credentials.
var redacted = map[string]bool{"authorization": true, "cookie": true, "proxy-authorization": true}

func serialize(s *socketio.Socket) socketJSON {
	out := socketJSON{
		ID:        s.ID(),
		ClientID:  s.Conn().ID(),
		Transport: string(s.Transport()),
		Nsp:       s.Namespace().Name(),
		Data:      json.RawMessage("{}"),
		Rooms:     s.Rooms(),
	}
	if len(out.ClientID) > 12 {
		out.ClientID = out.ClientID[:12]
	}
	if d := s.Data(); d != nil {
		if _, internal := d.(newSession); !internal {
			if b, err := json.Marshal(d); err == nil && len(b) > 0 && b[0] == '{' {
				out.Data = b
			}
		}
	}
	// The Handshake's JSON form is Node's; keep what instrument() keeps.
	var hs struct {
		Headers map[string]json.RawMessage `json:"headers"`
		Query   map[string]json.RawMessage `json:"query"`
		Time    string                     `json:"time"`
	}
	h := s.Handshake()
	if b, err := json.Marshal(h); err == nil {
		_ = json.Unmarshal(b, &hs) // our own encoding: cannot fail
	}
	for name := range hs.Headers {
		if redacted[name] {
			hs.Headers[name] = json.RawMessage(`"[redacted]"`)
		}
	}
	address := h.Address
	if v := h.Headers.Get("Cf-Connecting-Ip"); v != "" {
		address = v
	} else if v := h.Headers.Get("X-Forwarded-For"); v != "" {
		address = v
	}
	out.Handshake = handshakeJSON{
		Address: address, Headers: hs.Headers, Query: hs.Query, Issued: h.Issued(),
		Secure: h.Secure, Time: hs.Time, URL: h.URL, XDomain: h.XDomain,
	}
	return out
}

// aggregatedEvent is one entry of server_stats' aggregatedEvents: count
// events of a type during the second starting at timestamp (ms).
type aggregatedEvent struct {
	Timestamp int64  `json:"timestamp"`
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     int    `json:"count"`
}

type namespaceStats struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

type serverStats struct {
	ServerID            string            `json:"serverId"`
	Hostname            string            `json:"hostname"`
	PID                 int               `json:"pid"`
	Uptime              float64           `json:"uptime"`
	ClientsCount        int               `json:"clientsCount"`
	PollingClientsCount int               `json:"pollingClientsCount"`
	AggregatedEvents    []aggregatedEvent `json:"aggregatedEvents"`
	Namespaces          []namespaceStats  `json:"namespaces"`
}

func (u *UI) statsLoop(ctx context.Context) {
	defer u.wg.Done()
	t := time.NewTicker(u.opts.StatsInterval)
	defer t.Stop()
	for {
		u.tick(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tick sends this server's server_stats (to the admin sockets of every
// server) and the socket_updated of the sockets that upgraded.
func (u *UI) tick(now time.Time) {
	u.reportUpgrades()
	stats := u.stats(now)
	u.enqueue("server_stats", stats)
}

// stats computes server_stats. The connections and disconnections of
// Engine.IO sessions (rawConnection, rawDisconnection) are counted by
// comparing the sessions with those of the previous tick.
func (u *UI) stats(now time.Time) serverStats {
	sessions := u.srv.Engine().Sessions()
	polling := 0
	current := make(map[string]struct{}, len(sessions))
	for _, s := range sessions {
		current[s.ID()] = struct{}{}
		if s.Transport() == engineio.Polling {
			polling++
		}
	}
	ts := now.Truncate(time.Second).UnixMilli()
	u.aggMu.Lock()
	opened, closed := 0, 0
	for id := range current {
		if _, ok := u.seen[id]; !ok {
			opened++
		}
	}
	for id := range u.seen {
		if _, ok := current[id]; !ok {
			closed++
		}
	}
	u.seen = current
	events := []aggregatedEvent{}
	if opened > 0 {
		events = append(events, aggregatedEvent{Timestamp: ts, Type: "rawConnection", Count: opened})
	}
	if closed > 0 {
		events = append(events, aggregatedEvent{Timestamp: ts, Type: "rawDisconnection", SubType: "closed", Count: closed})
	}
	u.aggMu.Unlock()

	var nss []namespaceStats
	for _, ns := range u.srv.Namespaces() {
		nss = append(nss, namespaceStats{Name: ns.Name(), SocketsCount: ns.SocketCount()})
	}
	return serverStats{
		ServerID: u.opts.ServerID, Hostname: u.host, PID: u.pid,
		Uptime:       now.Sub(u.start).Seconds(),
		ClientsCount: len(sessions), PollingClientsCount: polling,
		AggregatedEvents: events, Namespaces: nss,
	}
}

// reportUpgrades sends socket_updated for the sockets that connected over
// long-polling and have upgraded to WebSocket since.
func (u *UI) reportUpgrades() {
	u.pollingMu.Lock()
	var upgraded []*socketio.Socket
	for s := range u.polling {
		if s.Transport() != engineio.Polling {
			upgraded = append(upgraded, s)
			delete(u.polling, s)
		}
	}
	u.pollingMu.Unlock()
	for _, s := range upgraded {
		u.enqueue("socket_updated", map[string]string{
			"id": s.ID(), "nsp": s.Namespace().Name(), "transport": string(s.Transport()),
		})
	}
}

// WrapAdapter wraps each namespace's adapter so that the UI receives
// room_joined and room_left (Node's adapter join-room and leave-room
// events). The wrapper keeps Unwrap, so adapter features found through it
// (socketio.SessionCatchUp) stay visible.
func (u *UI) WrapAdapter(inner socketio.AdapterFactory) socketio.AdapterFactory {
	return func(nsp *socketio.Namespace) socketio.Adapter {
		return &roomAdapter{Adapter: inner(nsp), ui: u, nsp: nsp.Name()}
	}
}

type roomAdapter struct {
	socketio.Adapter
	ui  *UI
	nsp string
}

// Unwrap returns the wrapped adapter.
func (a *roomAdapter) Unwrap() socketio.Adapter { return a.Adapter }

func (a *roomAdapter) AddAll(id string, rooms []string) {
	before := a.Adapter.SocketRooms(id)
	a.Adapter.AddAll(id, rooms)
	now := jsDate(time.Now())
	for _, r := range rooms {
		if !slices.Contains(before, r) {
			a.ui.enqueue("room_joined", a.nsp, r, id, now)
		}
	}
}

func (a *roomAdapter) Del(id, room string) {
	had := slices.Contains(a.Adapter.SocketRooms(id), room)
	a.Adapter.Del(id, room)
	if had {
		a.ui.enqueue("room_left", a.nsp, room, id, jsDate(time.Now()))
	}
}

func (a *roomAdapter) DelAll(id string) {
	rooms := a.Adapter.SocketRooms(id)
	a.Adapter.DelAll(id)
	now := jsDate(time.Now())
	for _, r := range rooms {
		a.ui.enqueue("room_left", a.nsp, r, id, now)
	}
}
