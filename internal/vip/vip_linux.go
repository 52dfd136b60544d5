//go:build linux

package vip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
)

// List returns the /32 addresses on iface, the shape every VIP has. The
// interface's own address (a /24 or similar) is not in the list.
func List(ctx context.Context, iface string) ([]netip.Addr, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses on %s: %w", iface, err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ones, bits := a.Mask.Size(); ones != 32 || bits != 32 {
			continue
		}
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			out = append(out, ip)
		}
	}
	return out, nil
}

// Ensure puts ip/32 on iface. An address already there is success; added says
// whether it was missing (and so needs announcing).
func Ensure(ctx context.Context, iface string, ip netip.Addr) (added bool, err error) {
	if err := checkIP(ip); err != nil {
		return false, err
	}
	present, err := has(ctx, iface, ip)
	if err != nil {
		return false, err
	}
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return false, fmt.Errorf("interface %s: %w", iface, err)
	}
	// AddrReplace succeeds whether or not the address exists, so two agents
	// racing on one host cannot fail each other with EEXIST.
	if err := netlink.AddrReplace(link, addr32(ip)); err != nil {
		return false, fmt.Errorf("add %s/32 on %s: %w", ip, iface, err)
	}
	return !present, nil
}

// Remove takes ip/32 off iface. An address that is not there is success;
// removed says whether it was there.
func Remove(ctx context.Context, iface string, ip netip.Addr) (removed bool, err error) {
	if err := checkIP(ip); err != nil {
		return false, err
	}
	present, err := has(ctx, iface, ip)
	if err != nil || !present {
		return false, err
	}
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return false, fmt.Errorf("interface %s: %w", iface, err)
	}
	if err := netlink.AddrDel(link, addr32(ip)); err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) { // removed meanwhile
			return false, nil
		}
		return false, fmt.Errorf("remove %s/32 from %s: %w", ip, iface, err)
	}
	return true, nil
}

func has(ctx context.Context, iface string, ip netip.Addr) (bool, error) {
	addrs, err := List(ctx, iface)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if a == ip {
			return true, nil
		}
	}
	return false, nil
}

func addr32(ip netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(ip.AsSlice()), Mask: net.CIDRMask(32, 32)}}
}

// Announce sends gratuitous ARP for ip from iface's MAC: AnnounceBurst packets
// AnnounceGap apart, and returns once they are out (or ctx ends); one more is
// sent AnnounceRepeat later and another AnnounceLate after the burst, from a
// goroutine of its own, for a neighbour that missed the burst or ignored it
// (locktime, see AnnounceLate). Clients follow after
// the burst, so a caller (an agent answering a role change during a failover)
// need not wait for the repeat.
func Announce(ctx context.Context, iface string, ip netip.Addr) error {
	if err := checkIP(ip); err != nil {
		return err
	}
	ifi, conn, err := openARP(iface)
	if err != nil {
		return err
	}
	b, err := gratuitousARP(ifi.HardwareAddr, ip).marshal()
	if err != nil {
		conn.Close()
		return err
	}
	send := func(ctx context.Context) error {
		if d, ok := ctx.Deadline(); ok {
			_ = conn.SetWriteDeadline(d)
		}
		if _, err := conn.WriteTo(b, &packet.Addr{HardwareAddr: broadcastMAC}); err != nil {
			return fmt.Errorf("gratuitous ARP for %s on %s: %w", ip, iface, err)
		}
		return nil
	}
	for i := 0; i < AnnounceBurst; i++ {
		if i > 0 {
			if err := sleep(ctx, AnnounceGap); err != nil {
				conn.Close()
				return err
			}
		}
		if err := send(ctx); err != nil {
			conn.Close()
			return err
		}
	}
	go func() {
		defer conn.Close()
		rctx, cancel := context.WithTimeout(context.Background(), AnnounceLate+time.Second)
		defer cancel()
		// Best effort: the burst already went out.
		if sleep(rctx, AnnounceRepeat) == nil {
			_ = send(rctx)
		}
		if sleep(rctx, AnnounceLate-AnnounceRepeat) == nil {
			_ = send(rctx)
		}
	}()
	return nil
}

// AnnounceOnce sends one gratuitous ARP for ip from iface's MAC and returns
// once it is out (or ctx ends). Unlike Announce it leaves nothing behind: no
// repeat runs later, so a caller that schedules its own repeats (the agent,
// which must never announce an address it already dropped) decides about
// every packet.
func AnnounceOnce(ctx context.Context, iface string, ip netip.Addr) error {
	if err := checkIP(ip); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ifi, conn, err := openARP(iface)
	if err != nil {
		return err
	}
	defer conn.Close()
	b, err := gratuitousARP(ifi.HardwareAddr, ip).marshal()
	if err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetWriteDeadline(d)
	}
	if _, err := conn.WriteTo(b, &packet.Addr{HardwareAddr: broadcastMAC}); err != nil {
		return fmt.Errorf("gratuitous ARP for %s on %s: %w", ip, iface, err)
	}
	return nil
}

// Probe asks who has ip on iface's network and collects the distinct MACs
// that answer within timeout (bounded by ctx too). No answer returns no MACs
// and no error (nobody holds the address); more than one returns the MACs and
// a *ConflictError naming them.
//
// The request's sender is iface's own IPv4 address in the VIP's subnet (or
// its first one), so that hosts that only answer neighbours reply too.
func Probe(ctx context.Context, iface string, ip netip.Addr, timeout time.Duration) ([]net.HardwareAddr, error) {
	if err := checkIP(ip); err != nil {
		return nil, err
	}
	ifi, conn, err := openARP(iface)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	src, err := sourceAddr(iface, ip)
	if err != nil {
		return nil, err
	}
	req, err := arpPacket{Op: arpRequest, SenderMAC: ifi.HardwareAddr, SenderIP: src, TargetMAC: zeroMAC, TargetIP: ip}.marshal()
	if err != nil {
		return nil, err
	}

	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// Cancelling ctx ends the read at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()

	// Ask twice, at the start and a third into the wait, in case one request
	// or its answers are lost.
	resend := time.Now().Add(timeout / 3)
	asked := 0
	seen := &macSet{ip: ip}
	buf := make([]byte, 1500)
	for {
		now := time.Now()
		if asked == 0 || (asked == 1 && !now.Before(resend)) {
			_ = conn.SetWriteDeadline(deadline)
			if _, err := conn.WriteTo(req, &packet.Addr{HardwareAddr: broadcastMAC}); err != nil {
				return nil, fmt.Errorf("ARP request for %s on %s: %w", ip, iface, err)
			}
			asked++
		}
		if !now.Before(deadline) || ctx.Err() != nil {
			break
		}
		readUntil := deadline
		if asked == 1 && resend.Before(readUntil) {
			readUntil = resend
		}
		_ = conn.SetReadDeadline(readUntil)
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return nil, fmt.Errorf("read ARP on %s: %w", iface, err)
		}
		if p, err := parseARP(buf[:n]); err == nil {
			seen.add(p)
		}
	}
	if err := ctx.Err(); err != nil && time.Now().Before(deadline) {
		return nil, err
	}
	return seen.result()
}

func openARP(iface string) (*net.Interface, *packet.Conn, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, nil, fmt.Errorf("interface %s has no Ethernet address", iface)
	}
	conn, err := packet.Listen(ifi, packet.Datagram, etherTypeARP, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("open ARP socket on %s (needs CAP_NET_RAW): %w", iface, err)
	}
	return ifi, conn, nil
}

// sourceAddr picks iface's IPv4 address whose prefix holds ip, else its first
// one, else 0.0.0.0 (an ARP probe, which hosts answer too).
func sourceAddr(iface string, ip netip.Addr) (netip.Addr, error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", iface, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses on %s: %w", iface, err)
	}
	var first netip.Addr
	for _, a := range addrs {
		ones, _ := a.Mask.Size()
		addr, ok := netip.AddrFromSlice(a.IP.To4())
		if !ok || addr == ip {
			continue
		}
		if !first.IsValid() {
			first = addr
		}
		if netip.PrefixFrom(addr, ones).Masked().Contains(ip) {
			return addr, nil
		}
	}
	if first.IsValid() {
		return first, nil
	}
	return netip.IPv4Unspecified(), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
