package apply

import (
	"context"
	"fmt"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/plan"
)

// Agents is what apply needs of the agent client.
type Agents interface {
	Status(ctx context.Context, host string) (*agent.Status, error)
	SetRoles(ctx context.Context, host string, roles []agent.RoleIP, lease *agent.Lease) (*agent.Status, error)
}

// VIPRunner carries out assign_vip and release_vip steps through the host's
// agent. The agent API is declarative (the full set of roles a host holds),
// so a step reads what the host holds, adds or removes its one address, and
// sends the whole set back in static mode: apply never takes a lease, that is
// the watch's. Steps of one host run one after another, so the read and the
// write do not race within an apply; the cluster lock keeps other applies out.
type VIPRunner struct {
	Agents Agents
}

func (r *VIPRunner) RunStep(ctx context.Context, s plan.Step) error {
	if (s.Kind != plan.KindAssignVIP && s.Kind != plan.KindReleaseVIP) || s.VIP == nil {
		return ErrNotHandled
	}
	if r.Agents == nil {
		return fmt.Errorf("no agent client configured for VIP step %s", s.ID)
	}
	st, err := r.Agents.Status(ctx, s.Host)
	if err != nil {
		return fmt.Errorf("ask the agent on %s: %w", s.Host, err)
	}
	if st.Mode == agent.ModeLease {
		return fmt.Errorf("the agent on %s holds its roles on a watch's lease; move roles with mmm move-role while a watch runs", s.Host)
	}
	var roles []agent.RoleIP
	for _, h := range st.Roles {
		if h.IP != s.VIP.IP {
			roles = append(roles, agent.RoleIP{Role: h.Role, IP: h.IP})
		}
	}
	if s.Kind == plan.KindAssignVIP {
		roles = append(roles, agent.RoleIP{Role: s.VIP.Role, IP: s.VIP.IP})
	}
	after, err := r.Agents.SetRoles(ctx, s.Host, roles, nil)
	if err != nil {
		return fmt.Errorf("agent on %s: %w", s.Host, err)
	}
	if held := after.Holds(s.VIP.IP); held != (s.Kind == plan.KindAssignVIP) {
		return fmt.Errorf("agent on %s answered, but %s is held=%v afterwards", s.Host, s.VIP.IP, held)
	}
	return nil
}
