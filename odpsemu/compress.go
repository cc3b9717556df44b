package odpsemu

import (
	"bytes"
	"compress/zlib"
	"io"
	"net/http"
	"strings"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Body compression. The Go SDK sends and accepts "deflate"
// (a zlib stream), "x-snappy-framed" and "zstd"; the Java SDK also uses
// "x-lz4-frame", which the emulator accepts as well.

// readBody reads and decompresses a request body, refusing more than limit
// bytes before or after decompression. The body is always drained.
func (s *Server) readBody(r *http.Request) ([]byte, *apiError) {
	defer s.drain(r)
	limit := s.cfg.MaxBodyBytes
	raw := io.LimitReader(r.Body, limit+1)
	var src io.Reader = raw
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch {
	case enc == "" || enc == "identity":
	case strings.Contains(enc, "deflate"):
		zr, err := zlib.NewReader(raw)
		if err != nil {
			return nil, badRequest("MalformedDataStream", "deflate (zlib) body: %v", err)
		}
		defer zr.Close()
		src = zr
	case strings.Contains(enc, "x-snappy-framed"):
		src = snappy.NewReader(raw)
	case strings.Contains(enc, "zstd"):
		zr, err := zstd.NewReader(raw, zstd.WithDecoderMaxMemory(uint64(limit)))
		if err != nil {
			return nil, badRequest("MalformedDataStream", "zstd body: %v", err)
		}
		defer zr.Close()
		src = zr
	case strings.Contains(enc, "lz4"):
		src = lz4.NewReader(raw)
	default:
		return nil, badRequest("UnsupportedCompression", "Content-Encoding %q is not supported (deflate, x-snappy-framed, zstd, x-lz4-frame)", enc)
	}
	b, err := io.ReadAll(io.LimitReader(src, limit+1))
	if err != nil {
		return nil, badRequest("MalformedDataStream", "reading %s body: %v", encName(enc), err)
	}
	if int64(len(b)) > limit {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "RequestTooLarge",
			msg: "request body exceeds the emulator's MaxBodyBytes"}
	}
	return b, nil
}

func encName(enc string) string {
	if enc == "" {
		return "uncompressed"
	}
	return enc
}

// compressResponse compresses body with the first encoding of the
// Accept-Encoding header the emulator knows, returning the body and the
// Content-Encoding to send ("" for none).
func compressResponse(accept string, body []byte) ([]byte, string, error) {
	for _, part := range strings.Split(strings.ToLower(accept), ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		var buf bytes.Buffer
		var w io.WriteCloser
		switch name {
		case "deflate":
			w = zlib.NewWriter(&buf)
		case "x-snappy-framed":
			w = snappy.NewBufferedWriter(&buf)
		case "zstd":
			zw, err := zstd.NewWriter(&buf)
			if err != nil {
				return nil, "", err
			}
			w = zw
		case "x-lz4-frame":
			w = lz4.NewWriter(&buf)
		default:
			continue
		}
		if _, err := w.Write(body); err != nil {
			return nil, "", err
		}
		if err := w.Close(); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), name, nil
	}
	return body, "", nil
}
