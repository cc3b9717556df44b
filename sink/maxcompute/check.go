package maxcompute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Check verifies a config against the service (for `odsync check`): the
// credentials are accepted, the project exists, and the Tunnel endpoint
// (configured or discovered) answers signed requests. It returns the
// Tunnel endpoint used.
func Check(ctx context.Context, cfg Config) (string, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate("maxcompute"); err != nil {
		return "", err
	}
	acct, err := newAccount(&cfg)
	if err != nil {
		return "", err
	}
	cat := newCatalog(&cfg, acct)
	cat.mu.Lock()
	err = cat.odps.Project(cfg.Project).Load()
	cat.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("project %s: %w", cfg.Project, err)
	}
	ep, err := cat.tunnelEndpoint(ctx)
	if err != nil {
		return "", err
	}
	cd, _ := newCodec(CompressionNone)
	tun := &tunnelClient{acct: acct, hc: newHTTPClient(1, cfg.Timeout), endpoint: ep, project: cfg.Project,
		schema: cfg.Schema, quota: cfg.QuotaName, codec: cd}
	defer tun.hc.CloseIdleConnections()
	// The status of a session that does not exist: 404 proves the endpoint
	// is a Tunnel and the signature is accepted.
	q := url.Values{"uploadid": {"odsync-check"}}
	tun.addQuota(q)
	_, _, err = tun.do(ctx, "tunnel check", http.MethodGet, tun.tableResource("odsync_check_no_such_table"), q, nil, nil)
	var ae *apiError
	if err == nil || errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return ep, nil
	}
	return ep, fmt.Errorf("tunnel endpoint %s: %w", ep, err)
}

// EndpointNote says what `odsync check` should point out about the Tunnel
// endpoint in use: a discovered or public one is slow and metered where a
// private one exists (seed lesson: long public routes time out).
func EndpointNote(cfg Config, used string) string {
	u, err := url.Parse(used)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	private := strings.Contains(host, "-vpc") || strings.Contains(host, "-inc") || strings.Contains(host, "intranet") ||
		host == "localhost" || net.ParseIP(host) != nil
	switch {
	case cfg.TunnelEndpoint == "" && !private:
		return "the Tunnel endpoint was discovered and is public (" + host + "): inside Alibaba Cloud set tunnel_endpoint to the region's VPC endpoint (dt.<region>-vpc.maxcompute.aliyun-inc.com); public routes are slower and time out more often"
	case !private:
		return "the Tunnel endpoint " + host + " is public: a private (VPC) Tunnel endpoint is faster and more reliable where the network allows it"
	}
	return ""
}
