package kafka

import (
	"testing"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/codec/codectest"
)

// The golden tests of the decoders live in their packages (canal, open,
// debezium, maxwell, odsync), run by codectest. The tests here use its
// framing, invariants and rendering.

func appendFrames(b []byte, frames [][]byte) []byte { return codectest.AppendFrames(b, frames) }

func checkDecoded(t *testing.T, pos string, d codec.Decoded) { t.Helper(); codectest.Check(t, pos, d) }

func renderDecoded(ds []codec.Decoded) string { return codectest.Render(ds) }
