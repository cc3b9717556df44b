package offsets

import (
	"context"
	"log/slog"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/odsync/odsync/event"
)

// The API the pipeline and the sinks rely on, checked by the compiler.
var (
	_ func(string, Options) (*Log, error)                                       = Open
	_ func(*Log) error                                                          = (*Log).Close
	_ func(*Log, context.Context, []event.Event, []byte, ...KV) (uint64, error) = (*Log).Append
	_ func(*Log) []byte                                                         = (*Log).Checkpoint
	_ func(*Log) uint64                                                         = (*Log).Head
	_ func(*Log) uint64                                                         = (*Log).Tail
	_ func(*Log, context.Context, uint64) (uint64, error)                       = (*Log).Wait
	_ func(*Log, uint64, int, int64, []event.Event) ([]event.Event, error)      = (*Log).Read
	_ func(*Log, int64) (uint64, error)                                         = (*Log).SeekTime
	_ func(*Log, string) (uint64, bool)                                         = (*Log).Cursor
	_ func(*Log, string) (uint64, error)                                        = (*Log).Register
	_ func(*Log, string, uint64, uint64) error                                  = (*Log).Ack
	_ func(*Log, string, uint64) error                                          = (*Log).SetCursor
	_ func(*Log) map[string]uint64                                              = (*Log).Cursors
	_ func(*Log, string) error                                                  = (*Log).DropCursor
	_ func(*Log, string, []uint64) error                                        = (*Log).SetPending
	_ func(*Log, string) []uint64                                               = (*Log).Pending
	_ func(*Log, string, string) ([]byte, bool, error)                          = (*Log).Get
	_ func(*Log, string, string, []byte) error                                  = (*Log).Put
	_ func(*Log, string, string, func(string, []byte) error) error              = (*Log).Scan
	_ func(*Log) (uint64, error)                                                = (*Log).GC
	_ func(*Log) Stats                                                          = (*Log).Stats

	_ = Options{MaxBytes: 0, FS: vfs.NewMem(), Logger: slog.Default()}
	_ = KV{NS: "", Key: "", Value: nil}
	_ = Stats{Head: 0, Tail: 0, Uncommitted: 0, Bytes: 0, DiskBytes: 0}
)
