// Package builtin lists odsync's own source and sink kinds. Adding a kind
// is one package plus one line here (docs/extending.md).
package builtin

import (
	"github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/capture/tidb"
	"github.com/odsync/odsync/capture/warehouse"
	"github.com/odsync/odsync/registry"
	kafkasink "github.com/odsync/odsync/sink/kafka"
	"github.com/odsync/odsync/sink/local"
	"github.com/odsync/odsync/sink/maxcompute"
	mysqlsink "github.com/odsync/odsync/sink/mysql"
	"github.com/odsync/odsync/sink/s3"
)

// Registry returns a new registry of the built-in kinds, in the order
// messages list them.
func Registry() *registry.Registry {
	return registry.New(
		[]registry.Source{
			mysql.Kind(),
			kafka.TiCDCKind(),
			kafka.KafkaKind(),
			tidb.Kind(),
			warehouse.S3Kind(),
			warehouse.MaxComputeKind(),
		},
		[]registry.Sink{
			local.Kind(),
			s3.Kind(),
			maxcompute.Kind(),
			kafkasink.Kind(),
			mysqlsink.Kind(),
		},
	)
}
