package metrics

import (
	"github.com/socketfleet/socketfleet/runtime/engineio"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// Transports are the transport label values, in order.
var Transports = []string{string(engineio.Polling), string(engineio.WebSocket)}

// Clients counts the connected clients of a server at one instant.
type Clients struct {
	// Sessions counts the open Engine.IO sessions by transport.
	Sessions map[string]int
	// ByNamespace counts the connected sockets of each namespace by
	// transport.
	ByNamespace map[string]map[string]int
	// ParkedConnections counts the long-polling connections parked in the
	// engine's poller with no goroutine (engineio.Stats.ParkedConns).
	ParkedConnections int
}

// TotalSessions is the number of open Engine.IO sessions.
func (c Clients) TotalSessions() int {
	n := 0
	for _, v := range c.Sessions {
		n += v
	}
	return n
}

// CountClients counts the sessions and sockets of srv. It walks every
// socket: call it at scrape time, not per event.
func CountClients(srv *socketio.Server) Clients {
	st := srv.Engine().Stats()
	out := Clients{
		Sessions:    map[string]int{string(engineio.Polling): st.Polling, string(engineio.WebSocket): st.WebSocket},
		ByNamespace: map[string]map[string]int{},

		ParkedConnections: st.ParkedConns,
	}
	for _, n := range srv.Namespaces() {
		byTransport := map[string]int{string(engineio.Polling): 0, string(engineio.WebSocket): 0}
		for _, s := range n.Sockets() {
			byTransport[string(s.Transport())]++
		}
		out.ByNamespace[n.Name()] = byTransport
	}
	return out
}
