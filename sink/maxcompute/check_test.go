package maxcompute

import (
	"context"
	"strings"
	"testing"

	"github.com/odsync/odsync/odpsemu"
)

func TestCheck(t *testing.T) {
	srv, err := odpsemu.New(odpsemu.Config{DataDir: t.TempDir(), AccessID: "id", AccessKey: "secret", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := Config{Connection: Connection{Endpoint: srv.Endpoint(), Project: "p", AccessID: "id", AccessKey: "secret"}}
	// Discovered Tunnel endpoint, signatures verified.
	ep, err := Check(ctxT(t), cfg)
	if err != nil || ep != srv.TunnelEndpoint() {
		t.Fatalf("Check = %q, %v; want %s", ep, err, srv.TunnelEndpoint())
	}
	// v4 signatures, and STS credentials.
	cfg.Region = "cn-hangzhou"
	if _, err := Check(ctxT(t), cfg); err != nil {
		t.Fatalf("v4 signature: %v", err)
	}
	cfg.STSToken = "token"
	if _, err := Check(ctxT(t), cfg); err != nil {
		t.Fatalf("STS account: %v", err)
	}
	cfg.TunnelEndpoint = srv.TunnelEndpoint()
	cfg.AccessKey = "wrong"
	if _, err := Check(ctxT(t), cfg); err == nil || !strings.Contains(err.Error(), "SignatureNotMatch") {
		t.Fatalf("wrong key: %v", err)
	}
	if strings.Contains(func() string { _, err := Check(ctxT(t), cfg); return err.Error() }(), "wrong") {
		t.Error("the error shows the key")
	}
}

func TestEndpointNote(t *testing.T) {
	for _, c := range []struct {
		configured, used, want string
	}{
		{"", "http://dt.cn-hangzhou.maxcompute.aliyun.com", "discovered and is public"},
		{"http://dt.cn-hangzhou.maxcompute.aliyun.com", "http://dt.cn-hangzhou.maxcompute.aliyun.com", "is public"},
		{"http://dt.cn-hangzhou-vpc.maxcompute.aliyun-inc.com", "http://dt.cn-hangzhou-vpc.maxcompute.aliyun-inc.com", ""},
		{"", "http://127.0.0.1:9090", ""},
	} {
		got := EndpointNote(Config{Connection: Connection{TunnelEndpoint: c.configured}}, c.used)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("EndpointNote(%q, %q) = %q, want %q", c.configured, c.used, got, c.want)
		}
	}
}
