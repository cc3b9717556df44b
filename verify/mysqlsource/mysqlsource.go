// Package mysqlsource is how odsync verify reaches a MySQL-protocol server
// that package capture/mysql can read (a source, or a MySQL sink's target):
// a verify.Server with the capture's view of its tables and binlog
// position. It keeps package verify free of the capture.
package mysqlsource

import (
	"context"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/verify"
)

// Server returns the verify.Server of the server c connects to (c is
// defaulted).
func Server(c mysql.Config) verify.Server {
	c.EnsureDefaults()
	return verify.Server{Addr: c.Addr, User: c.User, Password: c.Password, ConnectTimeout: c.ConnectTimeout,
		Capture: func(ctx context.Context) (verify.Capture, error) {
			ls, err := mysql.OpenLiveSchemas(ctx, c)
			if err != nil {
				return nil, err
			}
			return ls, nil
		}}
}
