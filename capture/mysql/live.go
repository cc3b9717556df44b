package mysql

import (
	"context"
	"fmt"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

// LiveTables connects to the source and returns the current schema of every
// table capture selects (nil: every table outside the system schemas), as
// the capture models it (SHOW CREATE TABLE through the capture's DDL parser).
// `odsync schema plan` and `odsync verify` use it, so they see exactly the
// columns and types the capture would emit.
func LiveTables(ctx context.Context, cfg Config, capture func(event.TableID) bool) ([]*event.Table, error) {
	ls, err := OpenLiveSchemas(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer ls.Close()
	ids, err := ls.Tables(ctx, capture)
	if err != nil {
		return nil, err
	}
	var out []*event.Table
	for _, id := range ids {
		t, err := ls.Table(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// LiveSchemas reads the current schemas of single tables, as the capture
// models them, over one metadata connection.
type LiveSchemas struct {
	srv *server
}

// OpenLiveSchemas connects to the source (cfg is defaulted).
func OpenLiveSchemas(ctx context.Context, cfg Config) (*LiveSchemas, error) {
	cfg.EnsureDefaults()
	srv, err := openServer(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	return &LiveSchemas{srv: srv}, nil
}

// Tables lists the base tables outside the system schemas that capture
// selects (nil: all), in db, table order.
func (l *LiveSchemas) Tables(ctx context.Context, capture func(event.TableID) bool) ([]event.TableID, error) {
	ids, err := l.srv.listTables(ctx)
	if err != nil {
		return nil, err
	}
	out := ids[:0]
	for _, id := range ids {
		if capture == nil || capture(id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// Table returns the current schema of a table (SHOW CREATE TABLE through
// the capture's DDL parser): columns, types and key as the capture emits
// them.
func (l *LiveSchemas) Table(ctx context.Context, id event.TableID) (*event.Table, error) {
	ts, err := l.srv.loadSchema(ctx, id)
	if err != nil {
		return nil, err
	}
	return ts.eventTable(), nil
}

// Flavor is "mysql" or "mariadb".
func (l *LiveSchemas) Flavor() string { return l.srv.flavor }

// BinlogPosition reads the server's current binlog file and offset, and
// its GTID state ("" when the server reports none or it cannot be read):
// the position odsync verify compares the sinks' progress with.
func (l *LiveSchemas) BinlogPosition(ctx context.Context) (file string, pos uint64, gtid string, err error) {
	if file, pos, err = binlogStatus(ctx, l.srv.db); err != nil {
		return "", 0, "", err
	}
	gtid, _ = gtidState(ctx, l.srv.db, l.srv.flavor)
	return file, pos, gtid, nil
}

// Close closes the connection.
func (l *LiveSchemas) Close() { l.srv.close() }

// TableFromCreate models a table from its CREATE TABLE statement, as SHOW
// CREATE TABLE prints it, the way the capture does (the capture's DDL
// parser): the TiDB snapshot source reads SHOW CREATE TABLE at its TSO and
// converts rows with SnapshotRows, so its tables and values are the ones
// `odsync verify` and `odsync schema plan` see.
func TableFromCreate(id event.TableID, create string) (*event.Table, error) {
	st := mysqldialect.ParseDDL(id.DB, create)
	if st.Kind != mysqldialect.DDLCreateTable || st.Create == nil {
		return nil, fmt.Errorf("mysql: table %s: cannot parse CREATE TABLE (%v): %s", id, st.Err, create)
	}
	ts, err := newTableSchema(mysqldialect.TableName{DB: id.DB, Name: id.Table}, st.Create, "")
	if err != nil {
		return nil, fmt.Errorf("mysql: table %s: CREATE TABLE: %w", id, err)
	}
	return ts.eventTable(), nil
}
