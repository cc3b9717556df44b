package odpsemu

import (
	"strings"
	"testing"

	"github.com/aliyun/aliyun-odps-go-sdk/odps"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
)

// TestSignatures: with keys configured, the SDK's v2, v4 and STS
// signatures are verified on the service API and the Tunnel; a wrong key,
// an unknown id and an unsigned (bearer token) request get 401 in the
// matching error shape.
func TestSignatures(t *testing.T) {
	srv := startEmu(t, t.TempDir(), func(c *Config) { c.AccessID, c.AccessKey = "emu-id", "emu-secret" })
	o, _ := clients(srv, "emu-id", "emu-secret")
	execSQL(t, o, "create table signed (id BIGINT) partitioned by (pt STRING);")

	// Tunnel discovery through the signed service API, then a signed stream
	// write (PUT with Content-Type and x-odps-tunnel-version signed).
	tun := tunnel.NewTunnel(o)
	sess, err := tun.CreateStreamUploadSession(testProject, "signed",
		tunnel.SessionCfg.WithPartitionKey("pt=x"), tunnel.SessionCfg.WithCreatePartition())
	if err != nil {
		t.Fatalf("signed stream session: %v", err)
	}
	w := sess.OpenRecordPackWriter()
	if err := w.Append(data.Record{data.BigInt(1)}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := w.Flush(); err != nil {
		t.Fatalf("signed flush: %v", err)
	}
	assertRows(t, readAll(t, tun, "signed", "pt=x", nil), []string{"bigint:1"})

	for name, acc := range map[string]account.Account{
		"v4":  account.NewAliyunAccount("emu-id", "emu-secret", "cn-hangzhou"),
		"sts": account.NewStsAccount("emu-id", "emu-secret", "token"),
	} {
		o2 := odps.NewOdps(acc, srv.Endpoint())
		o2.SetDefaultProjectName(testProject)
		if err := o2.Table("signed").Load(); err != nil {
			t.Fatalf("%s account: %v", name, err)
		}
	}
	// An endpoint with a trailing slash signs the path without its leading "/".
	o3 := odps.NewOdps(account.NewAliyunAccount("emu-id", "emu-secret"), srv.Endpoint()+"/")
	o3.SetDefaultProjectName(testProject)
	if err := o3.Table("signed").Load(); err != nil {
		t.Fatalf("endpoint with trailing slash: %v", err)
	}

	for _, tc := range []struct {
		name string
		acc  account.Account
		code string
	}{
		{"wrong key", account.NewAliyunAccount("emu-id", "wrong"), "SignatureNotMatch"},
		{"wrong v4 key", account.NewAliyunAccount("emu-id", "wrong", "cn-hangzhou"), "SignatureNotMatch"},
		{"unknown id", account.NewAliyunAccount("someone", "emu-secret"), "InvalidAccessKeyId"},
		{"bearer token", account.NewBearerTokenAccount("tok"), "Unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := odps.NewOdps(tc.acc, srv.Endpoint())
			bad.SetDefaultProjectName(testProject)
			err := bad.Table("signed").Load()
			he := httpError(t, err)
			if he.StatusCode != 401 || he.ErrorMessage.ErrorCode != tc.code || !strings.Contains(string(he.Body), "<Code>"+tc.code+"</Code>") {
				t.Fatalf("service API: %d %s %s", he.StatusCode, he.ErrorMessage.ErrorCode, he.Body)
			}
			_, err = tunnel.NewTunnel(bad, srv.TunnelEndpoint()).CreateStreamUploadSession(testProject, "signed",
				tunnel.SessionCfg.WithPartitionKey("pt=x"))
			he = httpError(t, err)
			if he.StatusCode != 401 || he.ErrorMessage.ErrorCode != tc.code || !strings.HasPrefix(string(he.Body), "{") {
				t.Fatalf("tunnel: %d %s %s", he.StatusCode, he.ErrorMessage.ErrorCode, he.Body)
			}
			if exists, err := bad.Table("signed").Exists(); err == nil || exists {
				t.Fatalf("Exists with a bad signature = %v, %v", exists, err)
			}
		})
	}
}
