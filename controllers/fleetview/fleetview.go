// Package fleetview reads the connection counts of runtime pods from their admin /stats endpoints (through
// package runtimeadmin), with bounded concurrency, a per-request timeout and an overall deadline, so a slow
// or unreachable pod is reported instead of holding up the caller. It also summarises a poll (total, imbalance) and caches the
// last poll of each fleet so the reconciler polls at most once per interval.
package fleetview

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/socketfleet/socketfleet/controllers/runtimeadmin"
)

// Defaults of Poller.
const (
	DefaultConcurrency    = 16
	DefaultRequestTimeout = 2 * time.Second
)

// Target is one pod to poll.
type Target struct {
	// Name of the pod.
	Name string
	// StatsURL is the pod's admin /stats URL, e.g. http://10.0.0.7:8081/stats (see runtimeadmin.StatsURL).
	StatsURL string
	// Terminating is true for a pod that is on its way out (deletionTimestamp set): it is polled to follow
	// its drain, and when it no longer answers it has simply exited.
	Terminating bool
}

// PodStats is what one pod reported (or why it did not).
type PodStats struct {
	// Name of the pod.
	Name string
	// Connections is the pod's connected clients (Engine.IO sessions).
	Connections int64
	// WebSocket and Polling count the pod's sessions by transport.
	WebSocket, Polling int64
	// Draining is true when the pod is draining.
	Draining bool
	// ShedPending is the number of sessions the pod still has to shed.
	ShedPending int64
	// Terminating is copied from the Target.
	Terminating bool
	// Adapter is the health of the pod's Redis link; nil when the pod reports none.
	Adapter *runtimeadmin.AdapterHealth
	// Err is why the stats could not be read; nil when the pod reported.
	Err error
}

// AdapterDown reports whether the pod reported that its Redis link is down: it serves its own clients, but
// broadcasts between it and the other pods are cut off.
func (p PodStats) AdapterDown() bool { return p.Err == nil && p.Adapter != nil && !p.Adapter.Up }

// Leaving reports whether the pod is on its way out (draining or terminating): it does not count as
// serving capacity.
func (p PodStats) Leaving() bool { return p.Draining || p.Terminating }

// Poller reads /stats from many pods at once. The zero value uses a zero runtimeadmin.Client with the
// default concurrency and timeout.
type Poller struct {
	// Admin sends the requests; nil means a zero runtimeadmin.Client (the per-request context bounds it).
	Admin *runtimeadmin.Client
	// Concurrency is the most requests in flight at once (<= 0: DefaultConcurrency).
	Concurrency int
	// RequestTimeout bounds each request (<= 0: DefaultRequestTimeout).
	RequestTimeout time.Duration
}

// Poll reads the stats of every target and returns one result per target, in the order of targets. It
// returns when every request finished or ctx is done; targets not polled by then carry ctx's error.
func (p *Poller) Poll(ctx context.Context, targets []Target) []PodStats {
	out := make([]PodStats, len(targets))
	for i, t := range targets {
		out[i] = PodStats{Name: t.Name, Terminating: t.Terminating, Err: errors.New("not polled")}
	}
	concurrency := p.Concurrency
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for j := i; j < len(targets); j++ {
				out[j].Err = fmt.Errorf("not polled: %w", ctx.Err())
			}
			wg.Wait()
			return out
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = p.pollOne(ctx, t)
		}()
	}
	wg.Wait()
	return out
}

func (p *Poller) pollOne(ctx context.Context, t Target) PodStats {
	res := PodStats{Name: t.Name, Terminating: t.Terminating}
	timeout := p.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := p.Admin.Stats(ctx, t.StatsURL)
	if err != nil {
		res.Err = err
		return res
	}
	res.Connections, res.Draining, res.ShedPending, res.Adapter = st.Connections, st.Draining, st.ShedPending, st.Adapter
	res.WebSocket, res.Polling = st.WebSocket, st.Polling
	return res
}

// Summary condenses one poll.
type Summary struct {
	// Total is the sum of the connections of the pods that reported.
	Total int64
	// WebSocket and Polling are the sums of the pods' sessions by transport.
	WebSocket, Polling int64
	// Reporting counts the pods that reported; Unreachable the ones that did not (a terminating pod that
	// did not answer has exited and counts as neither).
	Reporting, Unreachable int
	// ImbalancePercent is the largest distance of a serving (reporting, not leaving) pod from the mean of
	// the serving pods, in percent of that mean; 0 when there are fewer than two serving pods or no clients.
	ImbalancePercent int32
	// UnreachableNames lists the pods that did not report, sorted.
	UnreachableNames []string
	// AdapterReporting counts the pods that reported the health of their Redis link.
	AdapterReporting int
	// AdapterDownNames lists the pods that reported their Redis link down, sorted.
	AdapterDownNames []string
}

// Summarize computes the Summary of a poll.
func Summarize(pods []PodStats) Summary {
	var s Summary
	var serving []int64
	for _, p := range pods {
		if p.Err != nil && p.Terminating {
			continue // a terminating pod that stopped answering has exited
		}
		if p.Err != nil {
			s.Unreachable++
			s.UnreachableNames = append(s.UnreachableNames, p.Name)
			continue
		}
		s.Reporting++
		s.Total += p.Connections
		s.WebSocket += p.WebSocket
		s.Polling += p.Polling
		if p.Adapter != nil {
			s.AdapterReporting++
		}
		if p.AdapterDown() {
			s.AdapterDownNames = append(s.AdapterDownNames, p.Name)
		}
		if !p.Leaving() {
			serving = append(serving, p.Connections)
		}
	}
	slices.Sort(s.UnreachableNames)
	slices.Sort(s.AdapterDownNames)
	s.ImbalancePercent = Imbalance(serving)
	return s
}

// Imbalance is the largest distance of a count from the mean of counts, in percent of the mean (rounded
// down, capped at math.MaxInt32); 0 for fewer than two counts or a zero mean.
func Imbalance(counts []int64) int32 {
	if len(counts) < 2 {
		return 0
	}
	var sum int64
	for _, c := range counts {
		sum += c
	}
	if sum == 0 {
		return 0
	}
	mean := float64(sum) / float64(len(counts))
	worst := 0.0
	for _, c := range counts {
		worst = max(worst, math.Abs(float64(c)-mean))
	}
	pct := math.Floor(worst / mean * 100)
	if pct > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(pct)
}

// View is one poll of a fleet.
type View struct {
	// At is when the poll finished.
	At time.Time
	// Fingerprint identifies the polled target set; a different set means the view is stale.
	Fingerprint string
	// Pods are the per-pod results.
	Pods []PodStats
}

// Fingerprint identifies a target set independently of its order.
func Fingerprint(targets []Target) string {
	parts := make([]string, len(targets))
	for i, t := range targets {
		parts[i] = t.Name + "=" + t.StatsURL
		if t.Terminating {
			parts[i] += "(terminating)"
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// Cache keeps the last View of each fleet, by key. The zero value is ready to use; it is safe for
// concurrent use.
type Cache struct {
	mu    sync.Mutex
	views map[string]View
}

// Fresh returns the cached view of key when it was taken for the same target set less than maxAge before now.
func (c *Cache) Fresh(key, fingerprint string, now time.Time, maxAge time.Duration) (View, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.views[key]
	if !ok || v.Fingerprint != fingerprint || now.Sub(v.At) >= maxAge || now.Before(v.At) {
		return View{}, false
	}
	return v, true
}

// Put stores the view of key.
func (c *Cache) Put(key string, v View) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.views == nil {
		c.views = map[string]View{}
	}
	c.views[key] = v
}

// Delete forgets key (its fleet was deleted).
func (c *Cache) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.views, key)
}
