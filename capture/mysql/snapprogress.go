package mysql

import (
	"context"

	"github.com/odsync/odsync/capture/snapprogress"
)

// SnapshotTable is the snapshot progress of one table, as SnapshotProgress
// reports it for metrics and the status page.
type SnapshotTable = snapprogress.Table

// SnapshotProgress reports every table this run planned to snapshot: rows
// read, the estimate, chunks, started and done. Safe for concurrent use.
func (s *Source) SnapshotProgress(context.Context) ([]SnapshotTable, error) {
	return s.snapProg.List(), nil
}
