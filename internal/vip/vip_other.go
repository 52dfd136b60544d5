//go:build !linux

package vip

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// List is not supported on this system.
func List(ctx context.Context, iface string) ([]netip.Addr, error) { return nil, ErrUnsupported }

// Ensure is not supported on this system.
func Ensure(ctx context.Context, iface string, ip netip.Addr) (bool, error) {
	return false, ErrUnsupported
}

// Remove is not supported on this system.
func Remove(ctx context.Context, iface string, ip netip.Addr) (bool, error) {
	return false, ErrUnsupported
}

// Announce is not supported on this system.
func Announce(ctx context.Context, iface string, ip netip.Addr) error { return ErrUnsupported }

// AnnounceOnce is not supported on this system.
func AnnounceOnce(ctx context.Context, iface string, ip netip.Addr) error { return ErrUnsupported }

// Probe is not supported on this system.
func Probe(ctx context.Context, iface string, ip netip.Addr, timeout time.Duration) ([]net.HardwareAddr, error) {
	return nil, ErrUnsupported
}
