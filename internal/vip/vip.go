// Package vip manages a host's virtual IPs: /32 addresses on the declared
// interface (netlink), gratuitous ARP so that neighbours follow a moved address
// at once, and an ARP probe from the monitor side that tells how many machines
// answer for an address (exactly one is healthy).
//
// All functions act on the network namespace of the calling OS thread, like the
// ip(8) command. The Linux implementation is in vip_linux.go; other systems get
// stubs that return ErrUnsupported, so the rest of mmm still builds there.
//
// Packets: ARP is sent and received with github.com/mdlayher/packet (an
// AF_PACKET datagram socket, so the kernel writes the Ethernet header and the
// socket has deadlines). github.com/mdlayher/arp was the first choice, but it
// needs github.com/mdlayher/ethernet, which the module proxy reachable here does
// not serve; an ARP packet for IPv4 over Ethernet is 28 fixed bytes, encoded in
// this file and unit-tested.
package vip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// ErrUnsupported is returned on systems without netlink and packet sockets.
var ErrUnsupported = errors.New("virtual IPs are supported on Linux only")

// Announce timing: a burst right after the address is added, repeated a
// little later for a neighbour that missed the first, and once more after
// AnnounceLate: Linux ignores an ARP update that comes within locktime (1 s by
// default) of the entry's last update, so a neighbour that used the old MAC a
// moment before the move ignores the burst and the repeat alike, and would
// keep sending to the old host until its entry goes stale (seconds).
const (
	AnnounceBurst  = 3
	AnnounceGap    = 20 * time.Millisecond
	AnnounceRepeat = 300 * time.Millisecond
	AnnounceLate   = 1200 * time.Millisecond
)

// ConflictError says that more than one machine answered ARP for a VIP: the
// address is up on two hosts and clients reach either at random.
type ConflictError struct {
	IP   netip.Addr
	MACs []net.HardwareAddr
}

func (e *ConflictError) Error() string {
	macs := make([]string, len(e.MACs))
	for i, m := range e.MACs {
		macs[i] = m.String()
	}
	return fmt.Sprintf("VIP %s is answered by %d MAC addresses (%s): it is up on more than one host", e.IP, len(e.MACs), strings.Join(macs, ", "))
}

// ARP operations.
const (
	arpRequest = 1
	arpReply   = 2
)

// etherTypeARP is the Ethernet protocol number of ARP.
const etherTypeARP = 0x0806

// arpPacket is an ARP packet for IPv4 over Ethernet (RFC 826).
type arpPacket struct {
	Op        uint16
	SenderMAC net.HardwareAddr
	SenderIP  netip.Addr
	TargetMAC net.HardwareAddr
	TargetIP  netip.Addr
}

const arpPacketLen = 28

var zeroMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}

// broadcastMAC is where ARP requests go.
var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func (p arpPacket) marshal() ([]byte, error) {
	if len(p.SenderMAC) != 6 || len(p.TargetMAC) != 6 {
		return nil, fmt.Errorf("arp: hardware addresses must be 6 bytes (Ethernet)")
	}
	if !p.SenderIP.Is4() || !p.TargetIP.Is4() {
		return nil, fmt.Errorf("arp: addresses must be IPv4")
	}
	b := make([]byte, arpPacketLen)
	binary.BigEndian.PutUint16(b[0:2], 1)      // hardware type: Ethernet
	binary.BigEndian.PutUint16(b[2:4], 0x0800) // protocol type: IPv4
	b[4], b[5] = 6, 4                          // address lengths
	binary.BigEndian.PutUint16(b[6:8], p.Op)   // operation
	copy(b[8:14], p.SenderMAC)                 // sender hardware address
	copy(b[14:18], p.SenderIP.AsSlice())       // sender protocol address
	copy(b[18:24], p.TargetMAC)                // target hardware address
	copy(b[24:28], p.TargetIP.AsSlice())       // target protocol address
	return b, nil
}

func parseARP(b []byte) (arpPacket, error) {
	if len(b) < arpPacketLen {
		return arpPacket{}, fmt.Errorf("arp: packet of %d bytes, want at least %d", len(b), arpPacketLen)
	}
	if binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != 0x0800 || b[4] != 6 || b[5] != 4 {
		return arpPacket{}, fmt.Errorf("arp: not IPv4 over Ethernet")
	}
	return arpPacket{
		Op:        binary.BigEndian.Uint16(b[6:8]),
		SenderMAC: net.HardwareAddr(append([]byte(nil), b[8:14]...)),
		SenderIP:  netip.AddrFrom4([4]byte(b[14:18])),
		TargetMAC: net.HardwareAddr(append([]byte(nil), b[18:24]...)),
		TargetIP:  netip.AddrFrom4([4]byte(b[24:28])),
	}, nil
}

// gratuitousARP is the announcement of ip at mac: a broadcast request whose
// sender and target are both the address, which every neighbour that has the
// address in its cache updates (RFC 5227 section 3 calls it an ARP
// announcement).
func gratuitousARP(mac net.HardwareAddr, ip netip.Addr) arpPacket {
	return arpPacket{Op: arpRequest, SenderMAC: mac, SenderIP: ip, TargetMAC: zeroMAC, TargetIP: ip}
}

// macSet keeps the distinct sender MACs of ARP replies for ip, in arrival order.
type macSet struct {
	ip   netip.Addr
	macs []net.HardwareAddr
}

func (s *macSet) add(p arpPacket) {
	if p.Op != arpReply || p.SenderIP != s.ip {
		return
	}
	for _, m := range s.macs {
		if m.String() == p.SenderMAC.String() {
			return
		}
	}
	s.macs = append(s.macs, p.SenderMAC)
}

// result is what Probe returns for the MACs seen.
func (s *macSet) result() ([]net.HardwareAddr, error) {
	if len(s.macs) > 1 {
		return s.macs, &ConflictError{IP: s.ip, MACs: s.macs}
	}
	return s.macs, nil
}

// checkIP accepts the IPv4 addresses a VIP can be.
func checkIP(ip netip.Addr) error {
	if !ip.Is4() {
		return fmt.Errorf("VIP %s: only IPv4 addresses are supported", ip)
	}
	return nil
}
