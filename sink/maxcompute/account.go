package maxcompute

import "github.com/aliyun/aliyun-odps-go-sdk/odps/account"

// NewAccount resolves the sink's credentials (config, key file,
// environment; STS and region) into an SDK account, for tools that read
// the ODS tables the sink writes (`odsync verify`).
func NewAccount(cfg Config) (account.Account, error) {
	return newAccount(&cfg)
}
