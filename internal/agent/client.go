package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// DefaultTimeout bounds one client request when Client.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Client talks to the agents of one cluster. The zero value plus Cluster is
// ready to use; it is safe for concurrent use.
//
//	c := &agent.Client{Cluster: cluster}
//	st, err := c.Status(ctx, "master1")
//	st, err = c.SetRoles(ctx, "master1", []agent.RoleIP{{Role: "writer", IP: "192.168.2.201"}}, nil)
//
// SetRoles sends the FULL set of roles the host must hold: roles left out are
// released. A nil lease means static mode (apply); `mmm watch` sends
// &agent.Lease{TTL: agent.Duration(cluster.Monitor.Lease), Holder: "..."} on
// every check to keep the writer VIP where it is.
type Client struct {
	Cluster *topology.Cluster
	// Timeout bounds each request (connect, send, answer); 0 = DefaultTimeout.
	// The ctx passed to each call bounds it too.
	Timeout time.Duration
	// TLSConfig is used when agent.tls_cert is set. nil: the system roots
	// plus the certificate file agent.tls_cert itself when it is readable on
	// this machine (the usual self-signed setup, the same file on every host).
	TLSConfig *tls.Config

	once sync.Once
	http *http.Client
	err  error
}

// APIError is an answer other than 200 from an agent.
type APIError struct {
	Host       string
	StatusCode int    // 400, 401, 403, 500…
	Message    string // the agent's reason
}

func (e *APIError) Error() string {
	return fmt.Sprintf("agent %s: %d %s: %s", e.Host, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// ErrUnknownHost is returned for a host the cluster does not declare.
var ErrUnknownHost = errors.New("host not declared in the topology")

// URL is the base URL of host's agent ("http://198.18.0.11:9989").
func (c *Client) URL(host string) (string, error) {
	h := c.Cluster.Host(host)
	if h == nil {
		return "", fmt.Errorf("agent %s: %w", host, ErrUnknownHost)
	}
	scheme := "http"
	if c.Cluster.Agent.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(h.Address, strconv.Itoa(c.Cluster.Agent.Port)), nil
}

// Status asks host's agent what it holds.
func (c *Client) Status(ctx context.Context, host string) (*Status, error) {
	return c.do(ctx, host, http.MethodGet, "/v1/status", nil)
}

// SetRoles tells host's agent the full set of VIPs it must hold, with a lease
// (watch) or without (apply: static mode), and returns what it holds after.
func (c *Client) SetRoles(ctx context.Context, host string, roles []RoleIP, lease *Lease) (*Status, error) {
	if roles == nil {
		roles = []RoleIP{} // "hold nothing", not "field missing"
	}
	req := SetRolesRequest{Cluster: c.Cluster.Name, Host: host, Roles: roles, Lease: lease}
	return c.do(ctx, host, http.MethodPut, "/v1/roles", req)
}

func (c *Client) do(ctx context.Context, host, method, path string, body any) (*Status, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc, req, err := c.request(ctx, host, method, path, body)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error names the URL (address, no token).
		return nil, fmt.Errorf("agent %s: %w", host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(host, resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("agent %s: read answer: %w", host, err)
	}
	var st Status
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("agent %s: malformed answer: %w", host, err)
	}
	return &st, nil
}

// request builds an authenticated request to host's agent, with body as JSON.
func (c *Client) request(ctx context.Context, host, method, path string, body any) (*http.Client, *http.Request, error) {
	base, err := c.URL(host)
	if err != nil {
		return nil, nil, err
	}
	hc, err := c.client()
	if err != nil {
		return nil, nil, fmt.Errorf("agent %s: %w", host, err)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("agent %s: %w", host, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Cluster.Agent.Token.Value())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return hc, req, nil
}

// apiError reads an answer other than 200 into an *APIError.
func apiError(host string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb errorBody
	msg := string(bytes.TrimSpace(b))
	if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		msg = eb.Error
	}
	return &APIError{Host: host, StatusCode: resp.StatusCode, Message: msg}
}

func (c *Client) client() (*http.Client, error) {
	c.once.Do(func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if c.Cluster.Agent.TLSCert != "" {
			cfg := c.TLSConfig
			if cfg == nil {
				cfg, c.err = defaultTLS(c.Cluster.Agent.TLSCert)
			}
			tr.TLSClientConfig = cfg
		}
		c.http = &http.Client{Transport: tr}
	})
	return c.http, c.err
}

func defaultTLS(certFile string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if pem, err := os.ReadFile(certFile); err == nil {
		pool.AppendCertsFromPEM(pem)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read agent.tls_cert %s: %w", certFile, err)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
