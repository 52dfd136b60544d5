package agent

// POST /v1/witness: the agent probes other hosts from where it stands, so the
// watch can tell a host lost from a monitor cut off (design.md, "Witnesses").

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Witness probe timeouts.
const (
	DefaultWitnessTimeout = 250 * time.Millisecond
	MaxWitnessTimeout     = 5 * time.Second
)

func (a *Agent) handleWitness(w http.ResponseWriter, r *http.Request) {
	var req WitnessRequest
	if rerr := decode(w, r, &req); rerr != nil {
		a.refuse(w, r, rerr.code, rerr.msg)
		return
	}
	if rerr := a.notOurCluster(req.Cluster); rerr != nil {
		a.refuse(w, r, rerr.code, rerr.msg)
		return
	}
	timeout := time.Duration(req.Timeout)
	if timeout <= 0 {
		timeout = DefaultWitnessTimeout
	}
	if timeout > MaxWitnessTimeout {
		a.refuse(w, r, http.StatusBadRequest, "witness timeout "+timeout.String()+": at most "+MaxWitnessTimeout.String())
		return
	}
	for _, t := range req.Targets {
		if a.cluster.Host(t.Host) == nil {
			a.refuse(w, r, http.StatusForbidden, "host "+strconv.Quote(t.Host)+" is not declared in cluster "+strconv.Quote(a.cluster.Name))
			return
		}
	}
	writeJSON(w, http.StatusOK, a.witness(r.Context(), req.Targets, timeout))
}

// witness probes every target's server port and agent in parallel, each
// bounded by timeout.
func (a *Agent) witness(ctx context.Context, targets []WitnessTarget, timeout time.Duration) *WitnessReport {
	rep := &WitnessReport{Witness: a.host.Name, Results: make([]WitnessResult, len(targets))}
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep.Results[i] = a.witnessOne(ctx, t.Host, timeout)
		}()
	}
	wg.Wait()
	return rep
}

func (a *Agent) witnessOne(ctx context.Context, host string, timeout time.Duration) WitnessResult {
	h := a.cluster.Host(host)
	res := WitnessResult{Host: host}
	start := time.Now()
	var wg sync.WaitGroup
	var serverDetail, agentDetail string
	wg.Add(2)
	go func() {
		defer wg.Done()
		res.Server, serverDetail = ProbeServer(ctx, net.JoinHostPort(h.Address, strconv.Itoa(h.Port)), timeout)
	}()
	go func() {
		defer wg.Done()
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		st, err := a.peers.Status(actx, host)
		if err != nil {
			res.Agent, agentDetail = classifyAgentError(err)
			return
		}
		res.Agent = ProbeOK
		if st.Server != nil {
			res.TargetServer = st.Server.State
		}
	}()
	wg.Wait()
	res.Took = Duration(time.Since(start))
	switch {
	case res.Server != ProbeOK && res.Agent != ProbeOK:
		res.Detail = "server: " + serverDetail + "; agent: " + agentDetail
	case res.Server != ProbeOK:
		res.Detail = "server: " + serverDetail
	case res.Agent != ProbeOK:
		res.Detail = "agent: " + agentDetail
	}
	return res
}

// classifyAgentError maps a Client error to a probe outcome.
func classifyAgentError(err error) (string, string) {
	var apiErr *APIError
	var protoErr *ProtocolError
	switch {
	case errors.As(err, &apiErr), errors.As(err, &protoErr):
		return ProbeError, err.Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		return ProbeRefused, err.Error()
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), isTimeout(err):
		return ProbeTimeout, err.Error()
	}
	return ProbeError, err.Error()
}
