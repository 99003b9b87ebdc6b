package v1alpha1

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Operator requests: annotations a user (or `kubectl socketfleet`) sets through the API server and the operator
// carries out once, then removes. The operator holds the admin token of the runtime pods' admin port, so no
// user ever needs it nor a route to the pods.
const (
	// AnnotationDrainRequested on a runtime pod asks the operator to drain it (POST /drain on its admin port).
	// The value is when it was requested (RFC 3339).
	AnnotationDrainRequested = "realtime.socketfleet.io/drain-requested"
	// AnnotationShedRequested on a runtime pod asks the operator to make it shed N sessions (POST /shed?count=N).
	// The value is "N@<RFC 3339 time>" (FormatShedRequest).
	AnnotationShedRequested = "realtime.socketfleet.io/shed-requested"
	// AnnotationRebalanceRequested on a RealtimeCluster asks the operator for one rebalancing round now,
	// without waiting for spec.rebalance.cooldown (and even with spec.rebalance.enabled false). The value is
	// when it was requested (RFC 3339).
	AnnotationRebalanceRequested = "realtime.socketfleet.io/rebalance-requested"
)

// MaxShedRequest is the largest session count a shed request may ask for.
const MaxShedRequest = 10_000_000

// FormatRequestTime is the value of a drain or rebalance request made at t.
func FormatRequestTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// ParseRequestTime reads the value of a drain or rebalance request.
func ParseRequestTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("request time %q is not RFC 3339: %w", v, err)
	}
	return t, nil
}

// FormatShedRequest is the value of a request, made at t, to shed n sessions.
func FormatShedRequest(n int64, t time.Time) string {
	return strconv.FormatInt(n, 10) + "@" + FormatRequestTime(t)
}

// ParseShedRequest reads a shed request value "N@<RFC 3339 time>"; N must be 1 to MaxShedRequest.
func ParseShedRequest(v string) (int64, time.Time, error) {
	count, at, ok := strings.Cut(strings.TrimSpace(v), "@")
	if !ok {
		return 0, time.Time{}, fmt.Errorf("shed request %q is not N@<time>", v)
	}
	n, err := strconv.ParseInt(count, 10, 64)
	if err != nil || n < 1 || n > MaxShedRequest {
		return 0, time.Time{}, fmt.Errorf("shed request %q: count must be an integer from 1 to %d", v, MaxShedRequest)
	}
	t, err := ParseRequestTime(at)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("shed request %q: %w", v, err)
	}
	return n, t, nil
}
