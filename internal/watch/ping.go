package watch

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// pingICMP sends one ICMP echo to ip and waits for the reply: a raw socket
// when running as root (the monitor usually does), else an unprivileged ping
// socket (net.ipv4.ping_group_range).
func pingICMP(ctx context.Context, ip string, timeout time.Duration) error {
	dst := net.ParseIP(ip)
	if dst == nil || dst.To4() == nil {
		return fmt.Errorf("ping %s: not an IPv4 address", ip)
	}
	network, addr := "ip4:icmp", net.Addr(&net.IPAddr{IP: dst})
	c, err := icmp.ListenPacket(network, "0.0.0.0")
	if err != nil {
		network, addr = "udp4", &net.UDPAddr{IP: dst}
		if c, err = icmp.ListenPacket(network, "0.0.0.0"); err != nil {
			return fmt.Errorf("ping %s: %w", ip, err)
		}
	}
	defer c.Close()
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetDeadline(deadline)
	id := os.Getpid() & 0xffff
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("mmm watch")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(b, addr); err != nil {
		return fmt.Errorf("ping %s: %w", ip, err)
	}
	buf := make([]byte, 1500)
	for {
		n, peer, err := c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("ping %s: %w", ip, err)
		}
		reply, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || reply.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		if host, _, _ := net.SplitHostPort(peer.String()); peer.String() == dst.String() || host == dst.String() {
			return nil
		}
	}
}
