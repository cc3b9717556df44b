package mysql

import (
	"context"

	"github.com/odsync/odsync/event"
)

// LiveTables connects to the source and returns the current schema of every
// table capture selects (nil: every table outside the system schemas), as
// the capture models it (SHOW CREATE TABLE through the capture's DDL parser).
// `odsync schema plan` and `odsync verify` use it, so they see exactly the
// columns and types the capture would emit.
func LiveTables(ctx context.Context, cfg Config, capture func(event.TableID) bool) ([]*event.Table, error) {
	cfg.EnsureDefaults()
	srv, err := openServer(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer srv.close()
	ids, err := srv.listTables(ctx)
	if err != nil {
		return nil, err
	}
	var out []*event.Table
	for _, id := range ids {
		if capture != nil && !capture(id) {
			continue
		}
		ts, err := srv.loadSchema(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, ts.eventTable())
	}
	return out, nil
}
