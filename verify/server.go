package verify

import (
	"context"
	"time"

	"github.com/odsync/odsync/event"
)

// Server is how verify reaches a MySQL-protocol server (MySQL, MariaDB,
// TiDB): the source, or the target of a MySQL sink. Verify reads rows over
// its own connections and takes the server's table schemas and binlog
// position from the capture, so both sides of a comparison see the columns
// and types the capture emits; verify never imports the capture.
type Server struct {
	Addr     string // host:port
	User     string
	Password string
	// ConnectTimeout bounds connecting and each metadata query (> 0).
	ConnectTimeout time.Duration
	// Capture connects the capture's view of the server
	// (capture/mysql.OpenLiveSchemas).
	Capture func(context.Context) (Capture, error)
}

// Capture is the capture's view of a server that verification needs.
// capture/mysql's LiveSchemas implements it.
type Capture interface {
	// Flavor is "mysql" or "mariadb".
	Flavor() string
	// Tables lists the base tables outside the system schemas that capture
	// accepts (nil: all), in db, table order.
	Tables(ctx context.Context, capture func(event.TableID) bool) ([]event.TableID, error)
	// Table returns a table's current schema as the capture models it.
	Table(ctx context.Context, id event.TableID) (*event.Table, error)
	// BinlogPosition reads the server's current binlog file and offset,
	// and its GTID state ("" when the server reports none).
	BinlogPosition(ctx context.Context) (file string, pos uint64, gtid string, err error)
	Close()
}
