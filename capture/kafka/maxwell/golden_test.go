package maxwell

import (
	"testing"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/codec/codectest"
)

// The golden file under testdata/ (see codectest.Golden.Run): Maxwell rows
// (insert, update, delete, bootstrap), DDL and bootstrap markers; malformed
// input is a DecodeError naming the field.
func TestGolden(t *testing.T) {
	codectest.Golden{Protocol: codec.ProtocolMaxwell,
		New: func(c codec.Config) (codectest.Decoder, error) { return NewMaxwell(c) }}.Run(t, "testdata/maxwell")
}
