package agent

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// The agent client ignores HTTP(S)_PROXY: the token and the backup stream
// must not go to a proxy.
func TestClientIgnoresProxyEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://198.18.99.1:3128")
	t.Setenv("HTTPS_PROXY", "http://198.18.99.1:3128")
	c := &Client{Cluster: &topology.Cluster{}}
	hc, err := c.client()
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T", hc.Transport)
	}
	if tr.Proxy != nil {
		req := &http.Request{URL: &url.URL{Scheme: "http", Host: "198.18.3.11:9989"}}
		if u, _ := tr.Proxy(req); u != nil {
			t.Errorf("agent traffic goes through the proxy %s", u)
		}
	}
}
