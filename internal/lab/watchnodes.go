//go:build linux

package lab

// Watch nodes: the monitor's node blocks (several `mmm watch --node NAME`,
// raft electing the one that acts). A node on the root namespace's address
// (x.y.z.1) runs in the root namespace like the single watch; every other
// node gets a namespace of its own on the lab's bridge, built like a host's,
// so a chaos test can cut one node off the others without touching the rest.

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// WatchSingle is the name the lab gives the one watch of a file without node
// blocks (`mmm watch --config FILE`, in the root namespace).
const WatchSingle = "watch"

// WatchDirName is the lab directory's subdirectory for the watches' state
// (WatchStateFile; a node keeps its raft data in WATCH_DIR/NODE/). Down
// removes it with the lab; Up keeps it while a recorded watch runs.
const WatchDirName = "watch"

// watchNode is one watch the lab can run.
type watchNode struct {
	Name   string
	Listen string // control API, IP:PORT
	// The rest is set only for a node with a namespace of its own.
	Addr      netip.Addr // its address on the bridge
	Namespace string
	Veth      string // root-namespace end, a port of the bridge
	Interface string // namespace end, carries Addr
}

// WatchNodeState is a watch node's namespace as the lab recorded it.
type WatchNodeState struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Veth      string `json:"veth"`
	Interface string `json:"interface"`
	Address   string `json:"address"`
}

// watchNamespaceName is a watch node's namespace, e.g. "mmm18-0-watch-mon2":
// "watch-" keeps it apart from the hosts' (a host and a node may share a
// name) while the lab's prefix keeps Down's removal by prefix working.
func watchNamespaceName(id, node string) string { return id + "-watch-" + node }

// planWatchNodes checks the monitor's node blocks against the lab and says
// where each node runs. Without node blocks it is the single watch, in the
// root namespace.
func planWatchNodes(c *topology.Cluster, id string, subnet netip.Prefix) ([]watchNode, error) {
	if c.Host(WatchDirName) != nil {
		return nil, fmt.Errorf("host %q: the lab keeps the watches' state in <lab dir>/%s, where this host's data dir would be; rename the host", WatchDirName, WatchDirName)
	}
	if len(c.Monitor.Nodes) == 0 {
		return []watchNode{{Name: WatchSingle, Listen: c.Monitor.Listen}}, nil
	}
	taken := takenAddresses(c)
	monitor := subnet.Addr().Next()
	out := make([]watchNode, 0, len(c.Monitor.Nodes))
	for _, n := range c.Monitor.Nodes {
		w, err := planWatchNode(c, n, id, subnet, monitor, taken)
		if err != nil {
			return nil, err
		}
		if w.Namespace != "" {
			taken[w.Addr] = fmt.Sprintf("watch node %q", n.Name)
		}
		out = append(out, w)
	}
	return out, nil
}

// planWatchNode places one node: the root namespace when its IP is the
// monitor address, else a namespace of its own with that IP.
func planWatchNode(c *topology.Cluster, n *topology.MonitorNode, id string, subnet netip.Prefix, monitor netip.Addr, taken map[netip.Addr]string) (watchNode, error) {
	w := watchNode{Name: n.Name, Listen: n.Listen}
	if !validName.MatchString(n.Name) || len(n.Name) > 40 {
		return w, fmt.Errorf("watch node %q: a lab watch node name must be letters, digits, '.', '_' or '-' (at most 40), because it names the node's network namespace and log file", n.Name)
	}
	addr, err := nodeIP(n)
	if err != nil {
		return w, err
	}
	if err := inSubnet(subnet, addr.String(), fmt.Sprintf("watch node %q: address", n.Name)); err != nil {
		return w, err
	}
	if addr == monitor {
		return w, nil // the root namespace's own address on the bridge
	}
	if last := addr.As4()[3]; last == 0 || last == 255 {
		return w, fmt.Errorf("watch node %q: address %s is the network or broadcast address of %s; use %s (the root namespace) or a free address from .2 to .254", n.Name, addr, subnet, monitor)
	}
	if other, ok := taken[addr]; ok {
		return w, fmt.Errorf("watch node %q: address %s is also %s; a watch node with a namespace of its own needs an address of its own (or %s to run in the root namespace)", n.Name, addr, other, monitor)
	}
	w.Addr = addr
	w.Namespace = watchNamespaceName(id, n.Name)
	w.Veth = vethName(id, addr)
	w.Interface = "eth0"
	for _, h := range c.Hosts {
		if namespaceName(id, h.Name) == w.Namespace {
			return w, fmt.Errorf("watch node %q: its namespace %s would be host %q's; rename the node or the host", n.Name, w.Namespace, h.Name)
		}
	}
	return w, nil
}

// nodeIP is the one IP of a node's listen and raft addresses: the lab gives a
// node one address (one namespace, one interface), so both must use it.
func nodeIP(n *topology.MonitorNode) (netip.Addr, error) {
	listen, err := netip.ParseAddrPort(n.Listen)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("watch node %q: listen %q is not IP:PORT: %w", n.Name, n.Listen, err)
	}
	raft, err := netip.ParseAddrPort(n.Raft)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("watch node %q: raft %q is not IP:PORT: %w", n.Name, n.Raft, err)
	}
	if listen.Addr() != raft.Addr() {
		return netip.Addr{}, fmt.Errorf("watch node %q: listen %s and raft %s are on different IPs; in a lab a node has one address (its namespace's, or the root namespace's x.y.z.1), so both must use the same IP", n.Name, n.Listen, n.Raft)
	}
	if !listen.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("watch node %q: %s is not an IPv4 address; a lab node needs one in the lab's /24", n.Name, listen.Addr())
	}
	return listen.Addr(), nil
}

// takenAddresses are the lab addresses a namespaced node may not use: the
// hosts' and the roles' VIPs (a VIP lives inside a host's namespace).
func takenAddresses(c *topology.Cluster) map[netip.Addr]string {
	taken := map[netip.Addr]string{}
	for _, h := range c.Hosts {
		if a, err := netip.ParseAddr(h.Address); err == nil {
			taken[a] = fmt.Sprintf("the address of host %q", h.Name)
		}
	}
	for _, r := range c.Roles {
		for _, ip := range r.IPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				taken[a] = fmt.Sprintf("a VIP of role %q", r.Name)
			}
		}
	}
	return taken
}

// watchNodeStates are the namespaced nodes as State records them.
func (l *Lab) watchNodeStates() []*WatchNodeState {
	var out []*WatchNodeState
	for _, w := range l.watches {
		if w.Namespace == "" {
			continue
		}
		out = append(out, &WatchNodeState{Name: w.Name, Namespace: w.Namespace, Veth: w.Veth, Interface: w.Interface, Address: w.Addr.String()})
	}
	return out
}

func (s *State) watchNode(name string) *WatchNodeState {
	for _, w := range s.WatchNodes {
		if w.Name == name {
			return w
		}
	}
	return nil
}

// keptWatchNodes are the namespaced nodes whose namespace and veth are
// there as recorded: Up leaves them alone, so a watch node running in one
// survives a second `mmm lab up`.
func keptWatchNodes(old, want *State) map[string]bool {
	kept := map[string]bool{}
	if old == nil {
		return kept
	}
	for _, w := range want.WatchNodes {
		if o := old.watchNode(w.Name); o != nil && *o == *w && namespaceExists(o.Namespace) && linkPresent(o.Veth) {
			kept[w.Name] = true
		}
	}
	return kept
}

// upWatchNetworks builds the namespace and veth of every namespaced node
// that is not kept.
func (l *Lab) upWatchNetworks(want *State, kept map[string]bool) error {
	for _, w := range want.WatchNodes {
		if kept[w.Name] {
			continue
		}
		addr := netip.MustParseAddr(w.Address)
		if err := createHostNetwork(w.Namespace, l.Bridge(), w.Veth, w.Interface, netip.PrefixFrom(addr, 24)); err != nil {
			return fmt.Errorf("lab watch node %s: %w", w.Name, err)
		}
	}
	return nil
}

// WatchNodes are the names of the watches the lab runs: the file's monitor
// nodes in file order, or WatchSingle.
func (l *Lab) WatchNodes() []string {
	out := make([]string, len(l.watches))
	for i, w := range l.watches {
		out[i] = w.Name
	}
	return out
}

// WatchNamespace is the network namespace a watch node runs in, "" for the
// root namespace (a node on the monitor address, or the single watch).
func (l *Lab) WatchNamespace(node string) string {
	if w := l.watchNode(node); w != nil {
		return w.Namespace
	}
	return ""
}

// WatchListen is a watch node's control API address.
func (l *Lab) WatchListen(node string) string {
	if w := l.watchNode(node); w != nil {
		return w.Listen
	}
	return ""
}

// WatchStateFile is a state file for the lab's watches inside the lab dir
// (`mmm watch --state-file`): a node keeps its raft data beside it, in
// WATCH_DIR/NODE/, and `mmm lab down` removes it with the lab, so no raft
// log of an earlier lab meets a fresh one.
func (l *Lab) WatchStateFile() string {
	return filepath.Join(l.dir, WatchDirName, "watch.state")
}

// WatchDataDir is where watch node node keeps its raft data in the lab
// (`mmm watch --data-dir`): beside WatchStateFile, removed with the lab.
func (l *Lab) WatchDataDir(node string) string {
	return filepath.Join(l.dir, WatchDirName, node)
}

// WatchLog is where a watch node's output goes.
func (l *Lab) WatchLog(node string) string {
	return filepath.Join(l.dir, "watch-"+node+".log")
}

func (l *Lab) watchNode(name string) *watchNode {
	for i := range l.watches {
		if l.watches[i].Name == name {
			return &l.watches[i]
		}
	}
	return nil
}

// dialable turns a listen address into one to dial: an unspecified IP
// (":9988", "0.0.0.0:9988") is reached on loopback.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
