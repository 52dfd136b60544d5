package vip

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestGratuitousARPBytes(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	ip := netip.MustParseAddr("198.18.3.100")
	b, err := gratuitousARP(mac, ip).marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // Ethernet, IPv4, lengths, request
		0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 198, 18, 3, 100, // sender
		0, 0, 0, 0, 0, 0, 198, 18, 3, 100, // target: same IP
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("gratuitous ARP\n got %x\nwant %x", b, want)
	}
	p, err := parseARP(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Op != arpRequest || p.SenderIP != ip || p.TargetIP != ip || p.SenderMAC.String() != mac.String() {
		t.Fatalf("round trip: %+v", p)
	}
}

func TestParseARPRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"short":      make([]byte, 27),
		"not ipv4":   append([]byte{0, 1, 0x86, 0xdd, 6, 4}, make([]byte, 22)...),
		"token ring": append([]byte{0, 6, 0x08, 0x00, 6, 4}, make([]byte, 22)...),
	} {
		if _, err := parseARP(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestMarshalRejects(t *testing.T) {
	v6 := arpPacket{Op: arpRequest, SenderMAC: zeroMAC, TargetMAC: zeroMAC, SenderIP: netip.MustParseAddr("::1"), TargetIP: netip.MustParseAddr("::1")}
	if _, err := v6.marshal(); err == nil {
		t.Error("IPv6 ARP marshalled")
	}
	short := arpPacket{Op: arpRequest, SenderMAC: net.HardwareAddr{1}, TargetMAC: zeroMAC, SenderIP: netip.MustParseAddr("1.2.3.4"), TargetIP: netip.MustParseAddr("1.2.3.4")}
	if _, err := short.marshal(); err == nil {
		t.Error("short MAC marshalled")
	}
}

func TestMacSet(t *testing.T) {
	vip := netip.MustParseAddr("198.18.3.100")
	other := netip.MustParseAddr("198.18.3.11")
	a := net.HardwareAddr{2, 0, 0, 0, 0, 0xa}
	b := net.HardwareAddr{2, 0, 0, 0, 0, 0xb}
	reply := func(mac net.HardwareAddr, ip netip.Addr) arpPacket {
		return arpPacket{Op: arpReply, SenderMAC: mac, SenderIP: ip, TargetMAC: zeroMAC, TargetIP: other}
	}
	tests := []struct {
		name     string
		packets  []arpPacket
		wantMACs int
		conflict bool
	}{
		{"nobody", nil, 0, false},
		{"one holder, answered twice", []arpPacket{reply(a, vip), reply(a, vip)}, 1, false},
		{"requests and other addresses are ignored", []arpPacket{gratuitousARP(b, vip), reply(b, other), reply(a, vip)}, 1, false},
		{"two holders", []arpPacket{reply(a, vip), reply(b, vip), reply(a, vip)}, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &macSet{ip: vip}
			for _, p := range tt.packets {
				s.add(p)
			}
			macs, err := s.result()
			if len(macs) != tt.wantMACs {
				t.Errorf("MACs = %v, want %d", macs, tt.wantMACs)
			}
			var ce *ConflictError
			if got := errors.As(err, &ce); got != tt.conflict {
				t.Fatalf("conflict = %v (%v), want %v", got, err, tt.conflict)
			}
			if tt.conflict && (!strings.Contains(err.Error(), a.String()) || !strings.Contains(err.Error(), b.String())) {
				t.Errorf("conflict error does not name both MACs: %v", err)
			}
		})
	}
}
