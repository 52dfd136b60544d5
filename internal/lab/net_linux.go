//go:build linux

package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// The network is built with netlink and netns directly (no `ip` binary): bridge,
// veth pairs whose inner end is created straight inside the host's namespace
// under its final name (so it never clashes with the root namespace's eth0),
// addresses and link state. Namespaces are bind mounts under /run/netns, the
// same place `ip netns` uses, so `ip netns exec mmm18-0-master1 …` works on them.
const netnsDir = "/run/netns"

// ensureBridge creates the lab's bridge if needed, gives the root namespace the
// monitor address on it and brings it up.
func ensureBridge(name string, monitor netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if !errors.As(err, &notFound) {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: macFor(monitor.Addr())}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("%s exists and is a %s, not a bridge: remove it (ip link del %s)", name, link.Type(), name)
	}
	if mac := macFor(monitor.Addr()); link.Attrs().HardwareAddr.String() != mac.String() {
		if err := netlink.LinkSetHardwareAddr(link, mac); err != nil {
			return fmt.Errorf("bridge %s: set MAC: %w", name, err)
		}
	}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipNet(monitor)}); err != nil {
		return fmt.Errorf("bridge %s: address %s: %w", name, monitor, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bridge %s: up: %w", name, err)
	}
	return nil
}

// createHostNetwork makes the namespace ns with lo up and a veth pair to the
// bridge: veth in the root namespace, ifname (carrying addr) inside ns.
func createHostNetwork(ns, bridge, veth, ifname string, addr netip.Prefix) error {
	bridgeLink, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", bridge, err)
	}
	handle, err := newNamedNamespace(ns)
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	defer handle.Close()

	pair := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: veth, MasterIndex: bridgeLink.Attrs().Index},
		PeerName:         ifname,
		PeerNamespace:    netlink.NsFd(int(handle)),
		PeerHardwareAddr: macFor(addr.Addr()),
	}
	if err := netlink.LinkAdd(pair); err != nil {
		return fmt.Errorf("create veth %s/%s for %s: %w", veth, ifname, ns, err)
	}
	if err := netlink.LinkSetUp(pair); err != nil {
		return fmt.Errorf("veth %s: up: %w", veth, err)
	}

	inside, err := netlink.NewHandleAt(handle)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", ns, err)
	}
	defer inside.Close()
	lo, err := inside.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("%s: lo: %w", ns, err)
	}
	if err := inside.LinkSetUp(lo); err != nil {
		return fmt.Errorf("%s: lo up: %w", ns, err)
	}
	link, err := inside.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", ns, ifname, err)
	}
	if err := inside.AddrReplace(link, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
		return fmt.Errorf("%s: address %s on %s: %w", ns, addr, ifname, err)
	}
	if err := inside.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s: %s up: %w", ns, ifname, err)
	}
	return nil
}

// newNamedNamespace creates a named namespace without leaving the calling thread
// in it (netns.NewNamed switches the current thread).
func newNamedNamespace(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return netns.None(), err
	}
	defer origin.Close()
	handle, err := netns.NewNamed(name)
	if restoreErr := netns.Set(origin); restoreErr != nil {
		// Leave the thread locked: Go discards it when the goroutine ends, so no
		// other goroutine runs in the wrong namespace.
		return netns.None(), fmt.Errorf("return to the root namespace: %w", restoreErr)
	}
	runtime.UnlockOSThread()
	return handle, err
}

// startInNamespace starts cmd inside the named namespace: the forking thread is
// locked and switched into it, so the child inherits the namespace.
func startInNamespace(name string, cmd *exec.Cmd) error {
	target, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer origin.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace %s: %w", name, err)
	}
	startErr := cmd.Start()
	if err := netns.Set(origin); err != nil {
		return fmt.Errorf("return to the root namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return startErr
}

// namespaceExists reports whether /run/netns/name is there.
func namespaceExists(name string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, name))
	return err == nil
}

// labNamespaces lists the namespaces whose names start with the lab's prefix.
func labNamespaces(id string) []string {
	entries, _ := os.ReadDir(netnsDir)
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), id+"-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// namespacePids lists the processes whose network namespace is the named one.
func namespacePids(name string) []int {
	var want syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, name), &want); err != nil {
		return nil
	}
	procs, _ := os.ReadDir("/proc")
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat("/proc/"+p.Name()+"/ns/net", &st); err != nil {
			continue
		}
		if st.Dev == want.Dev && st.Ino == want.Ino {
			out = append(out, pid)
		}
	}
	return out
}

// deleteNamespace stops what still runs inside the lab's namespace (processes
// first: a namespace deleted under a live process keeps its veth), then removes it.
// Every process in a lab namespace was started by the lab or its tests.
func deleteNamespace(name string, grace time.Duration) error {
	if !namespaceExists(name) {
		return nil
	}
	var errs []error
	for _, pid := range namespacePids(name) {
		if err := stopProcess(pid, grace, func() bool { return serverAlive(pid, "") }); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", name, err))
		}
	}
	if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("delete namespace %s: %w", name, err))
	}
	return errors.Join(errs...)
}

// deleteLink removes a link by name; a missing link is no error.
func deleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("link %s: %w", name, err)
	}
	// ENODEV: it went meanwhile (a veth goes with its peer, whose namespace
	// the kernel tears down asynchronously).
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// labLinks lists root-namespace links named after the lab (bridge and veths).
func labLinks(id string) []string {
	links, _ := netlink.LinkList()
	var out []string
	for _, l := range links {
		n := l.Attrs().Name
		if n == id || strings.HasPrefix(n, id+"v") {
			out = append(out, n)
		}
	}
	return out
}

// macFor derives a stable, locally administered MAC from an address. A host that
// is rebuilt (or the bridge, re-created) keeps its MAC, so the ARP caches of the
// root namespace and of the other hosts stay right; with random MACs a rebuilt
// host was unreachable for ~30 s until the stale neighbour entry expired.
func macFor(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0x00, b[0], b[1], b[2], b[3]}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}
}
