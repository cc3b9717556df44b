package maxcompute

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/common"
	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
)

// This file speaks the Tunnel protocol for the data plane (stream record
// packs, batch upload sessions and blocks)
// exactly as the Go SDK v0.4.24 does, with the SDK's account for request
// signing. Owning the requests (instead of the SDK's writers) lets the sink
// send its own encoding, re-send an identical body after any failure
// (instead of the SDK's poisoned writer after a failed Flush), honour
// contexts, and keep one connection pool sized to its concurrency.

// Tunnel protocol headers (as the SDK sends them).
const (
	hdrSlotNum       = "odps-tunnel-slot-num"
	hdrRoutedServer  = "odps-tunnel-routed-server"
	hdrLatestVersion = "x-odps-tunnel-latest-schema-version"
	hdrRequestID     = "x-odps-request-id"
)

// apiError is a non-2xx answer of the service or the Tunnel.
type apiError struct {
	Op        string
	Status    int
	Code      string
	Message   string
	RequestID string
	// LatestSchemaVersion is set on 412 SchemaModified (-1 otherwise).
	LatestSchemaVersion int
	// RetryAfter is the answer's Retry-After (0 when absent).
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d %s: %s", e.Op, e.Status, e.Code, e.Message)
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	return s
}

// tunnelClient sends Tunnel requests.
type tunnelClient struct {
	acct     account.Account
	hc       *http.Client
	endpoint string
	project  string
	schema   string
	quota    string
	codec    *codec
}

func newHTTPClient(conns int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns * 2,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

func (c *tunnelClient) addQuota(q url.Values) {
	if c.quota != "" {
		q.Set("quotaName", c.quota)
	}
}

// tableResource is the Tunnel path of a table.
func (c *tunnelClient) tableResource(table string) string {
	rb := common.NewResourceBuilder(c.project)
	return rb.Table(c.schema, table)
}

// do sends one request and returns the response headers and body of a 2xx
// answer; any other answer is an *apiError.
func (c *tunnelClient) do(ctx context.Context, op, method, resource string, q url.Values, hdr map[string]string, body []byte) (http.Header, []byte, error) {
	u := strings.TrimRight(c.endpoint, "/") + "/" + strings.TrimLeft(resource, "/")
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	req.URL.RawQuery = q.Encode()
	req.Header.Set("odps-tunnel-date-transform", "v1")
	req.Header.Set("x-odps-tunnel-version", "5")
	req.Header.Set("odps-tunnel-sdk-support-schema-evolution", "true")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set(common.HttpHeaderUserAgent, common.UserAgentValue)
	req.Header.Set(common.HttpHeaderXOdpsUserAgent, "odsync "+common.UserAgentValue)
	req.Header.Set(common.HttpHeaderDate, time.Now().In(common.GMT).Format(time.RFC1123))
	if err := c.acct.SignRequest(req, c.endpoint); err != nil {
		return nil, nil, fmt.Errorf("%s: signing: %w", op, err)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading the answer: %w", op, err)
	}
	if res.StatusCode/100 != 2 {
		return res.Header, nil, newAPIError(op, res, b)
	}
	return res.Header, b, nil
}

func newAPIError(op string, res *http.Response, body []byte) *apiError {
	e := &apiError{Op: op, Status: res.StatusCode, RequestID: res.Header.Get(hdrRequestID), LatestSchemaVersion: -1,
		RetryAfter: retryAfter(res.Header.Get("Retry-After"), time.Now())}
	var m struct {
		Code      string `json:"Code" xml:"Code"`
		Message   string `json:"Message" xml:"Message"`
		RequestID string `json:"RequestId" xml:"RequestId"`
	}
	if json.Unmarshal(body, &m) == nil || xml.Unmarshal(body, &m) == nil {
		e.Code, e.Message = m.Code, m.Message
		if e.RequestID == "" {
			e.RequestID = m.RequestID
		}
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 512 {
			e.Message = e.Message[:512] + "..."
		}
	}
	if e.Code == "" {
		e.Code = http.StatusText(res.StatusCode)
	}
	if v := res.Header.Get(hdrLatestVersion); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			e.LatestSchemaVersion = n
		}
	} else if v := res.Header.Get("odps-tunnel-latest-schema-version"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			e.LatestSchemaVersion = n
		}
	}
	return e
}

// tunnelSchema is the schema part of session answers.
type tunnelSchema struct {
	Columns []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"columns"`
}

func (s tunnelSchema) names() []string {
	out := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		out[i] = strings.ToLower(c.Name)
	}
	return out
}

// Stream sessions.

type slot struct {
	id     string
	server string
}

// streamSession is a stream upload session of one table partition. PUTs
// on one session may run concurrently; each takes the next slot.
type streamSession struct {
	id            string
	table         string
	part          string // partition spec "ds=20240101"
	cols          []string
	schemaVersion int
	quota         string // the quota the server assigned

	mu     sync.Mutex
	slots  []slot
	next   int
	reload bool // the server's slot count changed: reload before the next PUT
}

type streamSessionJSON struct {
	SessionName   string          `json:"session_name"`
	Status        string          `json:"status"`
	Schema        tunnelSchema    `json:"schema"`
	Slots         [][]interface{} `json:"slots"`
	QuotaName     string          `json:"quota_name"`
	SchemaVersion int             `json:"schema_version"`
}

func parseSlots(raw [][]interface{}) ([]slot, error) {
	var out []slot
	for _, r := range raw {
		if len(r) < 2 {
			return nil, fmt.Errorf("malformed slot %v", r)
		}
		n, ok := r[0].(float64)
		srv, ok2 := r[1].(string)
		if !ok || !ok2 || strings.Count(srv, ":") != 1 {
			return nil, fmt.Errorf("malformed slot %v", r)
		}
		out = append(out, slot{id: strconv.Itoa(int(n)), server: srv})
	}
	if len(out) == 0 {
		return nil, errors.New("the session has no slots")
	}
	return out, nil
}

// createStream opens a stream session on a table partition, creating the
// partition if needed.
func (c *tunnelClient) createStream(ctx context.Context, table, part string) (*streamSession, error) {
	q := url.Values{}
	if part != "" {
		q.Set("partition", part)
		q.Set("create_partition", "")
	}
	op := "create stream session on " + table + " " + part
	_, body, err := c.do(ctx, op, http.MethodPost, c.tableResource(table)+common.StreamsPath, q, nil, nil)
	if err != nil {
		return nil, err
	}
	var m streamSessionJSON
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%s: answer: %w", op, err)
	}
	if m.Status == "init" {
		return nil, fmt.Errorf("%s: session %s is initiating", op, m.SessionName)
	}
	slots, err := parseSlots(m.Slots)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return &streamSession{id: m.SessionName, table: table, part: part, cols: m.Schema.names(),
		schemaVersion: m.SchemaVersion, quota: m.QuotaName, slots: slots, next: int(time.Now().UnixNano() % int64(len(slots)))}, nil
}

// reloadStream refreshes the slots of a session.
func (c *tunnelClient) reloadStream(ctx context.Context, s *streamSession) error {
	q := url.Values{"uploadid": {s.id}, "schema_version": {strconv.Itoa(s.schemaVersion)}}
	if s.part != "" {
		q.Set("partition", s.part)
	}
	if s.quota != "" {
		q.Set("quotaName", s.quota)
	}
	op := "reload stream session on " + s.table + " " + s.part
	_, body, err := c.do(ctx, op, http.MethodPost, c.tableResource(s.table)+common.StreamsPath, q, nil, nil)
	if err != nil {
		return err
	}
	var m streamSessionJSON
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("%s: answer: %w", op, err)
	}
	slots, err := parseSlots(m.Slots)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	s.mu.Lock()
	s.slots, s.next, s.reload = slots, 0, false
	s.mu.Unlock()
	return nil
}

// putPack sends one record pack (body already compressed with c.codec) to
// a session. A nil error means the server stored the records.
func (c *tunnelClient) putPack(ctx context.Context, s *streamSession, body []byte, records int64) error {
	s.mu.Lock()
	if s.reload {
		s.mu.Unlock()
		if err := c.reloadStream(ctx, s); err != nil {
			return err
		}
		s.mu.Lock()
	}
	sl := s.slots[s.next%len(s.slots)]
	s.next++
	n := len(s.slots)
	s.mu.Unlock()
	q := url.Values{"uploadid": {s.id}, "slotid": {sl.id}, "schema_version": {strconv.Itoa(s.schemaVersion)},
		"record_count": {strconv.FormatInt(records, 10)}, "check_latest_schema": {"true"}}
	if s.part != "" {
		q.Set("partition", s.part)
	}
	if s.quota != "" {
		q.Set("quotaName", s.quota)
	}
	hdr := map[string]string{"Content-Type": "application/octet-stream", hdrSlotNum: strconv.Itoa(n), hdrRoutedServer: sl.server}
	if c.codec.name != "" {
		hdr["Content-Encoding"] = c.codec.name
	}
	rh, _, err := c.do(ctx, "write record pack to "+s.table+" "+s.part, http.MethodPut, c.tableResource(s.table)+common.StreamsPath, q, hdr, body)
	if err != nil {
		return err
	}
	// The records are stored. Slot bookkeeping problems only affect later PUTs.
	if got, err := strconv.Atoi(rh.Get(hdrSlotNum)); err != nil || got != n {
		s.mu.Lock()
		s.reload = true
		s.mu.Unlock()
	} else if srv := rh.Get(hdrRoutedServer); srv != "" && srv != sl.server && strings.Count(srv, ":") == 1 {
		s.mu.Lock()
		for i := range s.slots {
			if s.slots[i].id == sl.id {
				s.slots[i].server = srv
			}
		}
		s.mu.Unlock()
	}
	return nil
}

// Batch upload sessions.

type uploadSessionJSON struct {
	UploadID          string       `json:"UploadID"`
	Status            string       `json:"Status"`
	Schema            tunnelSchema `json:"Schema"`
	UploadedBlockList []struct {
		BlockID int `json:"BlockID"`
	} `json:"UploadedBlockList"`
}

// uploadSession is the state of a batch upload session as the server reports it.
type uploadSession struct {
	id     string
	status string // lower case: normal, closed, expired, ...
	cols   []string
	blocks []int
}

func parseUpload(op string, body []byte) (*uploadSession, error) {
	var m uploadSessionJSON
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%s: answer: %w", op, err)
	}
	u := &uploadSession{id: m.UploadID, status: strings.ToLower(m.Status), cols: m.Schema.names()}
	for _, b := range m.UploadedBlockList {
		u.blocks = append(u.blocks, b.BlockID)
	}
	return u, nil
}

func (c *tunnelClient) createUpload(ctx context.Context, table, part string) (*uploadSession, error) {
	q := url.Values{"uploads": {""}}
	if part != "" {
		q.Set("partition", part)
		q.Set("create_partition", "true")
	}
	c.addQuota(q)
	op := "create upload session on " + table + " " + part
	_, body, err := c.do(ctx, op, http.MethodPost, c.tableResource(table), q, nil, nil)
	if err != nil {
		return nil, err
	}
	return parseUpload(op, body)
}

func (c *tunnelClient) uploadStatus(ctx context.Context, table, part, id string) (*uploadSession, error) {
	q := url.Values{"uploadid": {id}}
	if part != "" {
		q.Set("partition", part)
	}
	c.addQuota(q)
	op := "upload session " + id + " status on " + table + " " + part
	_, body, err := c.do(ctx, op, http.MethodGet, c.tableResource(table), q, nil, nil)
	if err != nil {
		return nil, err
	}
	return parseUpload(op, body)
}

func (c *tunnelClient) writeBlock(ctx context.Context, table, part, id string, block int, body []byte) error {
	q := url.Values{"uploadid": {id}, "blockid": {strconv.Itoa(block)}}
	if part != "" {
		q.Set("partition", part)
	}
	c.addQuota(q)
	hdr := map[string]string{"Content-Type": "application/octet-stream"}
	if c.codec.name != "" {
		hdr["Content-Encoding"] = c.codec.name
	}
	_, _, err := c.do(ctx, fmt.Sprintf("write block %d of upload session %s on %s %s", block, id, table, part),
		http.MethodPut, c.tableResource(table), q, hdr, body)
	return err
}

func (c *tunnelClient) commitUpload(ctx context.Context, table, part, id string) error {
	q := url.Values{"uploadid": {id}}
	if part != "" {
		q.Set("partition", part)
	}
	c.addQuota(q)
	_, _, err := c.do(ctx, "commit upload session "+id+" on "+table+" "+part, http.MethodPost, c.tableResource(table), q, nil, nil)
	return err
}

// Compression of request bodies.

type codec struct {
	name   string // Content-Encoding; "" for none
	kind   string
	snappy sync.Pool
	zlib   sync.Pool
	zstd   *zstd.Encoder
}

func newCodec(kind string) (*codec, error) {
	c := &codec{kind: kind}
	switch kind {
	case CompressionNone:
	case CompressionSnappy:
		c.name = "x-snappy-framed"
	case CompressionDeflate:
		c.name = "deflate"
	case CompressionZstd:
		c.name = "zstd"
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		c.zstd = enc
	default:
		return nil, fmt.Errorf("unknown compression %q", kind)
	}
	return c, nil
}

// writer returns a writer compressing into dst (a block's body built as
// its rows come; the same encoding as compress, cut differently).
func (c *codec) writer(dst io.Writer) (io.WriteCloser, error) {
	switch c.kind {
	case CompressionSnappy:
		return snappy.NewBufferedWriter(dst), nil
	case CompressionDeflate:
		return zlib.NewWriterLevel(dst, flate.BestSpeed)
	case CompressionZstd:
		return zstd.NewWriter(dst, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	}
	return nopCloser{dst}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// compress returns the body to send for a record stream.
func (c *codec) compress(src []byte) ([]byte, error) {
	switch c.kind {
	case CompressionSnappy:
		var out bytes.Buffer
		out.Grow(len(src)/2 + 64)
		w, _ := c.snappy.Get().(*snappy.Writer)
		if w == nil {
			w = snappy.NewBufferedWriter(&out)
		} else {
			w.Reset(&out)
		}
		defer c.snappy.Put(w)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return out.Bytes(), nil
	case CompressionDeflate:
		var out bytes.Buffer
		out.Grow(len(src)/2 + 64)
		w, _ := c.zlib.Get().(*zlib.Writer)
		if w == nil {
			var err error
			if w, err = zlib.NewWriterLevel(&out, flate.BestSpeed); err != nil {
				return nil, err
			}
		} else {
			w.Reset(&out)
		}
		defer c.zlib.Put(w)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return out.Bytes(), nil
	case CompressionZstd:
		return c.zstd.EncodeAll(src, make([]byte, 0, len(src)/2+64)), nil
	}
	return src, nil
}
