package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/consensus"
	"github.com/mysql-mmm/mmm/internal/watch"
)

// mmm show ends with the watch nodes as the answering node sees them.
func TestRenderShowNodes(t *testing.T) {
	r := &watch.Report{Mode: watch.ModeActive, Writer: "master1", Node: "mon2", Leader: "mon1", Epoch: 42,
		Hosts: []watch.HostReport{{Name: "master1", Address: "10.0.0.11", Mode: "master", State: watch.Online,
			Roles: []watch.RoleIP{{Role: "writer", IP: "10.0.0.100"}}}},
		Nodes: []watch.NodeReport{
			{Info: consensus.Info{Name: "mon1", State: "Leader", Term: 7}, Listen: "10.0.0.2:9988"},
			{Info: consensus.Info{Name: "mon2", State: "Follower", Term: 7, LastContact: 12 * time.Millisecond}, Listen: "10.0.0.3:9988"},
			{Info: consensus.Info{Name: "mon3", State: "unreachable"}, Listen: "10.0.0.4:9988", Error: "connection refused"},
		}}
	var b strings.Builder
	renderShow(&b, r)
	want := `# Mode: active, writer: master1
  master1(10.0.0.11) master/ONLINE. Roles: writer(10.0.0.100)
# Watch nodes (asked mon2; leader mon1, epoch 42):
  mon1(10.0.0.2:9988) leader, term 7
  mon2(10.0.0.3:9988) follower, term 7, last contact 12ms ago
  mon3(10.0.0.4:9988) unreachable, term 0  (connection refused)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
