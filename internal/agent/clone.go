package agent

// The physical clone (bootstrap method "physical" on MariaDB) runs between
// two agents, because it needs the data files and the server's stop and
// start, which only the host itself has:
//
//	GET  /v1/backup → the donor's agent streams a mariabackup of its server
//	                  (xbstream). X-Mmm-Estimated-Bytes says how much to
//	                  expect; the trailer X-Mmm-Backup-Status is "ok" only when
//	                  mariabackup completed, so a cut stream is never taken for
//	                  a whole one.
//	POST /v1/clone  → CloneRequest to the target's agent, which pulls the
//	                  donor's stream, restores it (internal/clone, LocalServer)
//	                  and answers with one JSON line per progress event
//	                  (CloneMessage), the last one holding the result or the
//	                  error. Closing the request interrupts the copy; once the
//	                  server is being swapped the agent finishes regardless.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/clone"
)

// CloneRequest is the body of POST /v1/clone.
type CloneRequest struct {
	Cluster string `json:"cluster"`
	Host    string `json:"host"`  // the target: the agent's own host
	Donor   string `json:"donor"` // a declared host whose agent serves /v1/backup
	// Overwrite allows replacing data that is not a partial clone (apply --allow-unsafe).
	Overwrite bool `json:"overwrite,omitempty"`
}

// CloneMessage is one line of the answer to POST /v1/clone: an Event while it
// runs, then Result or Error.
type CloneMessage struct {
	Event  *clone.PhysicalEvent  `json:"event,omitempty"`
	Result *clone.PhysicalResult `json:"result,omitempty"`
	Error  string                `json:"error,omitempty"`
}

const (
	headerEstimate = "X-Mmm-Estimated-Bytes"
	trailerStatus  = "X-Mmm-Backup-Status"
)

// longRunning lifts the server's read and write timeouts for a streaming
// answer (they bound whole requests; a backup takes as long as the data).
func longRunning(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
}

func (a *Agent) handleBackup(w http.ResponseWriter, r *http.Request) {
	if a.server == nil {
		a.refuse(w, r, http.StatusNotImplemented, "this agent runs without server control (mmm agent --server-start/--server-stop)")
		return
	}
	if !a.backupMu.TryLock() {
		a.refuse(w, r, http.StatusConflict, "a backup of "+a.host.Name+" is already streaming")
		return
	}
	defer a.backupMu.Unlock()
	longRunning(w)
	ctx := r.Context()
	estCtx, cancel := context.WithTimeout(ctx, opTimeout)
	est, err := a.server.BackupEstimate(estCtx)
	cancel()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("backup requested", "remote", r.RemoteAddr, "estimated_bytes", est)
	w.Header().Set("Trailer", trailerStatus)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(headerEstimate, strconv.FormatInt(est, 10))
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
	err = a.server.Backup(ctx, w)
	status := "ok"
	if err != nil {
		a.log.Error("backup failed", "remote", r.RemoteAddr, "err", err)
		status = "failed: " + oneLine(err.Error())
	}
	w.Header().Set(trailerStatus, status)
}

// oneLine makes an error fit a header value.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}

func (a *Agent) handleClone(w http.ResponseWriter, r *http.Request) {
	var req CloneRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		a.refuse(w, r, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	if rerr := a.notOurCluster(req.Cluster); rerr != nil {
		a.refuse(w, r, rerr.code, rerr.msg)
		return
	}
	switch {
	case req.Host != a.host.Name:
		a.refuse(w, r, http.StatusForbidden, fmt.Sprintf("this agent is host %q, not %q", a.host.Name, req.Host))
		return
	case a.cluster.Host(req.Donor) == nil || req.Donor == a.host.Name:
		a.refuse(w, r, http.StatusBadRequest, fmt.Sprintf("donor %q is not another declared host", req.Donor))
		return
	case a.server == nil:
		a.refuse(w, r, http.StatusNotImplemented, "this agent runs without server control (mmm agent --server-start/--server-stop)")
		return
	}
	if !a.cloneMu.TryLock() {
		a.refuse(w, r, http.StatusConflict, "a clone onto "+a.host.Name+" is already running")
		return
	}
	defer a.cloneMu.Unlock()
	if err := a.cloneGuard(r.Context(), req.Overwrite); err != nil {
		a.refuse(w, r, http.StatusForbidden, err.Error())
		return
	}
	a.cloneFrom.set(req.Donor)
	defer a.cloneFrom.set("")
	longRunning(w)
	a.log.Info("clone requested", "donor", req.Donor, "remote", r.RemoteAddr, "overwrite", req.Overwrite)

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(m CloneMessage) {
		_ = enc.Encode(m)
		_ = rc.Flush()
	}
	src := func(ctx context.Context) (io.ReadCloser, int64, error) {
		return a.peers.Backup(ctx, req.Donor)
	}
	res, err := a.server.Restore(r.Context(), req.Donor, src, req.Overwrite, func(e clone.PhysicalEvent) {
		send(CloneMessage{Event: &e})
	})
	if err != nil {
		a.log.Error("clone failed", "donor", req.Donor, "err", err)
		send(CloneMessage{Error: err.Error()})
		return
	}
	send(CloneMessage{Result: res})
}

// Backup opens the backup stream of host's agent. The body reports an error
// instead of io.EOF when the donor's backup did not complete.
func (c *Client) Backup(ctx context.Context, host string) (io.ReadCloser, int64, error) {
	resp, err := c.stream(ctx, host, http.MethodGet, "/v1/backup", nil)
	if err != nil {
		return nil, 0, err
	}
	est, _ := strconv.ParseInt(resp.Header.Get(headerEstimate), 10, 64)
	return &backupBody{host: host, resp: resp}, est, nil
}

type backupBody struct {
	host string
	resp *http.Response
}

func (b *backupBody) Read(p []byte) (int, error) {
	n, err := b.resp.Body.Read(p)
	if errors.Is(err, io.EOF) {
		// Trailers are there once the body is read to the end.
		if st := b.resp.Trailer.Get(trailerStatus); st != "ok" {
			if st == "" {
				st = "the stream ended without a status (the donor's agent stopped?)"
			}
			return n, fmt.Errorf("backup of %s: %s", b.host, st)
		}
	}
	return n, err
}

func (b *backupBody) Close() error { return b.resp.Body.Close() }

// Clone asks host's agent to make its server a copy of donor's (physical
// method) and waits for the end, passing progress events to onEvent.
// Cancelling ctx interrupts the copy.
func (c *Client) Clone(ctx context.Context, host, donor string, overwrite bool, onEvent func(clone.PhysicalEvent)) (*clone.PhysicalResult, error) {
	req := CloneRequest{Cluster: c.Cluster.Name, Host: host, Donor: donor, Overwrite: overwrite}
	resp, err := c.stream(ctx, host, http.MethodPost, "/v1/clone", req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m CloneMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("agent %s: malformed clone message: %w", host, err)
		}
		switch {
		case m.Error != "":
			return nil, fmt.Errorf("agent %s: %s", host, m.Error)
		case m.Result != nil:
			return m.Result, nil
		case m.Event != nil && onEvent != nil:
			onEvent(*m.Event)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("agent %s: clone answer: %w", host, err)
	}
	return nil, fmt.Errorf("agent %s: the clone answer ended without a result (the agent stopped?)", host)
}

// stream sends a request whose answer may take as long as the data: only
// the wait for the answer's headers is bounded (by the client's Timeout), the
// body by ctx alone.
func (c *Client) stream(ctx context.Context, host, method, path string, body any) (*http.Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	hc, err := c.client()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("agent %s: %w", host, err)
	}
	req, err := c.request(ctx, host, method, path, body)
	if err != nil {
		cancel()
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// The donor's agent answers after sizing its data directory.
	headers := time.AfterFunc(timeout+opTimeout, cancel)
	resp, err := hc.Do(req)
	if !headers.Stop() && err == nil {
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("agent %s: %w", host, err)
	}
	if err := checkProtocol(host, resp); err != nil {
		resp.Body.Close()
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		return nil, apiError(host, resp)
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
