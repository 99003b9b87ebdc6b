package main

import (
	"strings"
	"testing"
)

func TestCapacityReport(t *testing.T) {
	full := result{CPUSecPerMillion: 0.6, WSHandshakesPerSec: 2000, Idle: idleResult{
		Clients: []int{10000, 18000}, RSSPerClientKB: []float64{3.9, 4.5}, BaseRSSKB: 8192, HeartbeatCoresPer100k: 0.09,
	}}
	for _, tc := range []struct {
		name string
		in   result
		want []string // substrings of the section; none: no section
	}{
		// (1 GiB - 8 MiB) / (4.5 + 3.5) KiB = 130,048 clients.
		{"full run", full, []string{"costs the pod 8.0 KiB", "| 2 CPU, 1 GiB | 130048 | 0.117 core | 0.08 CPU-s | 65 s |", "| 2 CPU, 2 GiB | 261120 |", "`targetConnectionsPerPod` 50000, 38% of them"}},
		{"no idle section", result{CPUSecPerMillion: 0.6, WSHandshakesPerSec: 2000}, nil},
		{"no single-server section", result{Idle: full.Idle}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			capacityReport(&b, tc.in)
			if len(tc.want) == 0 && b.Len() > 0 {
				t.Fatalf("wrote a section from a partial run:\n%s", b.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("missing %q in:\n%s", w, b.String())
				}
			}
		})
	}
}
