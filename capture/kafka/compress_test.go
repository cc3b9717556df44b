package kafka

import (
	"bytes"
	"fmt"

	"github.com/klauspost/compress/snappy"
	"github.com/pierrec/lz4/v4"

	"github.com/odsync/odsync/capture/kafka/codec"
)

// compressForTest compresses like TiCDC's pkg/compression.
func compressForTest(alg string, b []byte) ([]byte, error) {
	switch alg {
	case codec.CompressionSnappy:
		return snappy.Encode(nil, b), nil
	case codec.CompressionLZ4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("codec %q", alg)
}
