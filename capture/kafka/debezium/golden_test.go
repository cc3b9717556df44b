package debezium

import (
	"testing"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/codec/codectest"
)

// The golden file under testdata/ (see codectest.Golden.Run): Debezium
// change events (create, update, delete, snapshot reads, schema changes,
// tombstones and heartbeats); malformed input is a DecodeError naming the
// field.
func TestGolden(t *testing.T) {
	codectest.Golden{Protocol: codec.ProtocolDebezium,
		New: func(c codec.Config) (codectest.Decoder, error) { return NewDebezium(c) }}.Run(t, "testdata/debezium")
}
