package main

import (
	"fmt"
	"net/netip"
	"sync"
)

// ipPool hands out pod IPs from a loopback prefix (the network and first address are skipped).
type ipPool struct {
	mu     sync.Mutex
	prefix netip.Prefix
	used   map[netip.Addr]bool
}

func newIPPool(prefix netip.Prefix) *ipPool {
	return &ipPool{prefix: prefix.Masked(), used: map[netip.Addr]bool{}}
}

// size is the number of addresses the pool can hand out.
func (p *ipPool) size() int {
	bits := p.prefix.Addr().BitLen() - p.prefix.Bits()
	return min(1<<min(bits, 16), 65536) - 2
}

// allocate returns a free address.
func (p *ipPool) allocate() (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ip := p.prefix.Addr().Next()
	for ip = ip.Next(); p.prefix.Contains(ip); ip = ip.Next() {
		if !p.used[ip] {
			p.used[ip] = true
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free pod IP in %s", p.prefix)
}

// release returns ip to the pool.
func (p *ipPool) release(ip netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.used, ip)
}
