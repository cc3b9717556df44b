package open

import (
	"testing"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/codec/codectest"
)

// The golden file under testdata/ (see codectest.Golden.Run): TiCDC
// open-protocol batches of rows, DDL and resolved events; malformed input
// is a DecodeError naming the field.
func TestGolden(t *testing.T) {
	codectest.Golden{Protocol: codec.ProtocolOpen, OpenBatchVersion: OpenBatchVersion,
		New: func(c codec.Config) (codectest.Decoder, error) { return NewOpenProtocol(c) }}.Run(t, "testdata/open_protocol")
}
