package schema

import "github.com/hashicorp/hcl/v2"

// The spec structs mirror the HCL blocks one to one. They are decoded
// structurally by gohcl (unknown and duplicate attributes and blocks are
// reported there) and keep every attribute as *hcl.Attribute, so values are
// evaluated later, with the right evaluation context, and every diagnostic can
// point at the attribute that caused it. Conversion to the desired model lives
// in convert.go.

// rootSpec is one topology file, or the merged files of a directory.
type rootSpec struct {
	Clusters    []*clusterSpec     `hcl:"cluster,block"`
	Variables   []*variableSpec    `hcl:"variable,block"`
	Defaults    []*defaultsSpec    `hcl:"defaults,block"`
	Hosts       []*hostSpec        `hcl:"host,block"`
	Replication []*replicationSpec `hcl:"replication,block"`
	Users       []*userSpec        `hcl:"user,block"`
	Roles       []*roleSpec        `hcl:"role,block"`
	Agents      []*agentSpec       `hcl:"agent,block"`
	Monitors    []*monitorSpec     `hcl:"monitor,block"`
	Checks      []*checkSpec       `hcl:"check,block"`
	Modules     []*moduleSpec      `hcl:"module,block"`
	TLS         []*tlsSpec         `hcl:"tls,block"`
}

// moduleRootSpec is what a module directory may declare.
type moduleRootSpec struct {
	Variables []*variableSpec `hcl:"variable,block"`
	Users     []*userSpec     `hcl:"user,block"`
	Roles     []*roleSpec     `hcl:"role,block"`
	Checks    []*checkSpec    `hcl:"check,block"`
}

type clusterSpec struct {
	Name             string         `hcl:"name,label"`
	Flavor           *hcl.Attribute `hcl:"flavor"`
	ActiveMasterRole *hcl.Attribute `hcl:"active_master_role"`
	DefRange         hcl.Range      `hcl:",def_range"`
}

type variableSpec struct {
	Name        string         `hcl:"name,label"`
	Default     *hcl.Attribute `hcl:"default"`
	Sensitive   *hcl.Attribute `hcl:"sensitive"`
	Description *hcl.Attribute `hcl:"description"`
	DefRange    hcl.Range      `hcl:",def_range"`
}

// hostAttrsSpec is every host attribute; the defaults block takes the same.
type hostAttrsSpec struct {
	Address   *hcl.Attribute   `hcl:"address"`
	Port      *hcl.Attribute   `hcl:"port"`
	Mode      *hcl.Attribute   `hcl:"mode"`
	Peer      *hcl.Attribute   `hcl:"peer"`
	ServerID  *hcl.Attribute   `hcl:"server_id"`
	Interface *hcl.Attribute   `hcl:"interface"`
	Admin     []*adminSpec     `hcl:"admin,block"`
	Bootstrap []*bootstrapSpec `hcl:"bootstrap,block"`
}

// defaultsSpec and hostSpec keep their body and decode it into hostAttrsSpec
// (gohcl does not follow embedded structs).
type defaultsSpec struct {
	Body     hcl.Body  `hcl:",remain"`
	DefRange hcl.Range `hcl:",def_range"`
	attrs    hostAttrsSpec
}

type hostSpec struct {
	Name     string    `hcl:"name,label"`
	Body     hcl.Body  `hcl:",remain"`
	DefRange hcl.Range `hcl:",def_range"`
	attrs    hostAttrsSpec
}

type adminSpec struct {
	User     *hcl.Attribute `hcl:"user"`
	Password *hcl.Attribute `hcl:"password"`
	TLS      *hcl.Attribute `hcl:"tls"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type bootstrapSpec struct {
	Donor    *hcl.Attribute `hcl:"donor"`
	Method   *hcl.Attribute `hcl:"method"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type replicationSpec struct {
	User            *hcl.Attribute `hcl:"user"`
	SemiSync        *hcl.Attribute `hcl:"semi_sync"`
	SemiSyncTimeout *hcl.Attribute `hcl:"semi_sync_timeout"`
	ConnectRetry    *hcl.Attribute `hcl:"connect_retry"`
	Heartbeat       *hcl.Attribute `hcl:"heartbeat"`
	SSL             *hcl.Attribute `hcl:"ssl"`
	SSLCA           *hcl.Attribute `hcl:"ssl_ca"`
	SSLCert         *hcl.Attribute `hcl:"ssl_cert"`
	SSLKey          *hcl.Attribute `hcl:"ssl_key"`
	DefRange        hcl.Range      `hcl:",def_range"`
}

type userSpec struct {
	Label    string         `hcl:"label,label"`
	Name     *hcl.Attribute `hcl:"name"`
	Host     *hcl.Attribute `hcl:"host"`
	Password *hcl.Attribute `hcl:"password"`
	Ensure   *hcl.Attribute `hcl:"ensure"`
	// AllowReadOnlyBypass silences the warning about privileges that write
	// past read_only (for mmm's own agent account, which needs them).
	AllowReadOnlyBypass *hcl.Attribute `hcl:"allow_read_only_bypass"`
	Grants              []*grantSpec   `hcl:"grant,block"`
	DefRange            hcl.Range      `hcl:",def_range"`
}

type grantSpec struct {
	On              string         `hcl:"on,label"`
	Privileges      *hcl.Attribute `hcl:"privileges"`
	WithGrantOption *hcl.Attribute `hcl:"with_grant_option"`
	DefRange        hcl.Range      `hcl:",def_range"`
}

type roleSpec struct {
	Name     string         `hcl:"name,label"`
	Mode     *hcl.Attribute `hcl:"mode"`
	Hosts    *hcl.Attribute `hcl:"hosts"`
	IPs      *hcl.Attribute `hcl:"ips"`
	Prefer   *hcl.Attribute `hcl:"prefer"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type agentSpec struct {
	Port     *hcl.Attribute `hcl:"port"`
	Token    *hcl.Attribute `hcl:"token"`
	Clone    *hcl.Attribute `hcl:"clone_token"`
	TLSCert  *hcl.Attribute `hcl:"tls_cert"`
	TLSKey   *hcl.Attribute `hcl:"tls_key"`
	Fence    *hcl.Attribute `hcl:"fence"`
	Failsafe *hcl.Attribute `hcl:"failsafe"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type monitorSpec struct {
	Listen        *hcl.Attribute     `hcl:"listen"`
	Token         *hcl.Attribute     `hcl:"token"`
	CheckPeriod   *hcl.Attribute     `hcl:"check_period"`
	TrapPeriod    *hcl.Attribute     `hcl:"trap_period"`
	Lease         *hcl.Attribute     `hcl:"lease"`
	AutoSetOnline *hcl.Attribute     `hcl:"auto_set_online"`
	FlapCount     *hcl.Attribute     `hcl:"flap_count"`
	FlapDuration  *hcl.Attribute     `hcl:"flap_duration"`
	PingIPs       *hcl.Attribute     `hcl:"ping_ips"`
	StateFile     *hcl.Attribute     `hcl:"state_file"`
	FailBack      *hcl.Attribute     `hcl:"fail_back"`
	PreFailover   *hcl.Attribute     `hcl:"pre_failover"`
	PostFailover  *hcl.Attribute     `hcl:"post_failover"`
	FenceHook     *hcl.Attribute     `hcl:"fence_hook"`
	HostLostAfter *hcl.Attribute     `hcl:"host_lost_after"`
	Reconcile     *hcl.Attribute     `hcl:"reconcile_period"`
	Nodes         []*monitorNodeSpec `hcl:"node,block"`
	DefRange      hcl.Range          `hcl:",def_range"`
}

// monitorNodeSpec is one watch node of a monitor run by several (raft).
type monitorNodeSpec struct {
	Name     string         `hcl:"name,label"`
	Listen   *hcl.Attribute `hcl:"listen"`
	Raft     *hcl.Attribute `hcl:"raft"`
	DefRange hcl.Range      `hcl:",def_range"`
}

// tlsSpec is the tls block: mutual TLS with the cluster's own CA.
type tlsSpec struct {
	Dir      *hcl.Attribute `hcl:"dir"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type checkSpec struct {
	Name       string         `hcl:"name,label"`
	Command    *hcl.Attribute `hcl:"command"`
	Period     *hcl.Attribute `hcl:"period"`
	TrapPeriod *hcl.Attribute `hcl:"trap_period"`
	Timeout    *hcl.Attribute `hcl:"timeout"`
	MaxBacklog *hcl.Attribute `hcl:"max_backlog"`
	DefRange   hcl.Range      `hcl:",def_range"`
}

type moduleSpec struct {
	Name     string         `hcl:"name,label"`
	Source   *hcl.Attribute `hcl:"source"`
	Inputs   hcl.Body       `hcl:",remain"`
	DefRange hcl.Range      `hcl:",def_range"`
}
