//go:build race

package engineio

// raceEnabled: under the race detector, WebSocket writes go through the
// connection's Write. The standard library's writes and reads tell the
// detector that what a goroutine did before writing to any socket happens
// before what another does after reading from one (tests rely on it); a
// write straight to the descriptor would hide that edge.
const raceEnabled = true
