//go:build !race

package engineio

// raceEnabled: see race_on.go.
const raceEnabled = false
