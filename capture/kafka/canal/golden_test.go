package canal

import (
	"testing"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/codec/codectest"
)

// The golden files under testdata/ (see codectest.Golden.Run): canal-json
// as TiCDC writes it (with and without its TiDB extension: rows, DDL,
// watermarks) and Alibaba Canal's flat messages; malformed input is a
// DecodeError naming the field.
func TestGolden(t *testing.T) {
	codectest.Golden{Protocol: codec.ProtocolCanalJSON,
		New: func(c codec.Config) (codectest.Decoder, error) { return NewCanalJSON(c) }}.Run(t, "testdata/canal_json")
	codectest.Golden{Protocol: codec.ProtocolCanal,
		New: func(c codec.Config) (codectest.Decoder, error) { return NewCanalFlat(c) }}.Run(t, "testdata/canal_flat")
}
