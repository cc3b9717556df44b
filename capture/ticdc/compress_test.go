package ticdc

import (
	"bytes"
	"fmt"

	"github.com/klauspost/compress/snappy"
	"github.com/pierrec/lz4/v4"
)

// compressForTest compresses like TiCDC's pkg/compression.
func compressForTest(codec string, b []byte) ([]byte, error) {
	switch codec {
	case CompressionSnappy:
		return snappy.Encode(nil, b), nil
	case CompressionLZ4:
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
	return nil, fmt.Errorf("codec %q", codec)
}
