package odsync

import (
	"testing"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/codec/codectest"
)

// The golden file under testdata/ (see codectest.Golden.Run): odsync's
// own format as its Kafka sink writes it (insert, update, delete, snapshot
// read, DDL, watermark); malformed input is a DecodeError naming the table
// and field.
func TestGolden(t *testing.T) {
	codectest.Golden{Protocol: codec.ProtocolOdsync,
		New: func(c codec.Config) (codectest.Decoder, error) { return NewOdsync(c) }}.Run(t, "testdata/odsync")
}
