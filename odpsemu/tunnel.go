package odpsemu

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Tunnel API (tunnel endpoint, /projects/...): stream sessions, batch
// upload sessions, download sessions.

type tunnelColumnJSON struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Nullable     bool   `json:"nullable"` // must be a bool
	Comment      string `json:"comment"`
	DefaultValue string `json:"default_value"`
	ColumnID     string `json:"column_id"` // must be a string
}

type tunnelSchemaJSON struct {
	IsVirtualView bool               `json:"IsVirtualView"`
	Columns       []tunnelColumnJSON `json:"columns"`
	PartitionKeys []tunnelColumnJSON `json:"partitionKeys"`
}

func tunnelColumns(cols []column) []tunnelColumnJSON {
	out := make([]tunnelColumnJSON, len(cols))
	for i, c := range cols {
		out[i] = tunnelColumnJSON{Name: c.name, Type: c.typ.String(), Nullable: !c.notNull, Comment: c.comment, ColumnID: strconv.Itoa(i)}
	}
	return out
}

func tunnelSchema(cols, partKeys []column) tunnelSchemaJSON {
	return tunnelSchemaJSON{Columns: tunnelColumns(cols), PartitionKeys: tunnelColumns(partKeys)}
}

func noSuchTable(p *project, name string) *apiError {
	return notFound("NoSuchTable", "table %s.%s does not exist", p.name, name)
}

// sessionTable finds the table a session was opened on; a dropped (or
// dropped and re-created) table is gone for the session.
func sessionTable(p *project, name, id string) *table {
	t := p.table(name)
	if t == nil || t.id != id {
		return nil
	}
	return t
}

// partitionFor resolves the `partition` query parameter of a tunnel request.
func partitionFor(p *project, t *table, spec string) ([]string, *apiError) {
	kvs, err := parseKVSpec(spec)
	if err != nil {
		return nil, badRequest("InvalidPartitionSpec", "%v", err)
	}
	if t.partitioned() && len(kvs) == 0 {
		return nil, badRequest("MissingPartitionSpec", "table %s.%s is partitioned by (%s): a partition spec is required", p.name, t.name, t.partKeyNames())
	}
	values, _, err := t.resolveSpec(kvs, true)
	if err != nil {
		return nil, badRequest("InvalidPartitionSpec", "%v", err)
	}
	return values, nil
}

func wantCreatePartition(q map[string][]string) bool {
	v, ok := q["create_partition"]
	return ok && (len(v) == 0 || !strings.EqualFold(v[0], "false"))
}

// getOrCreatePartition finds a partition, creating it if asked. Caller holds
// p.mu for writing.
func (s *Server) getOrCreatePartition(p *project, t *table, values []string, create bool, spec string) (*partition, *apiError) {
	if pt := t.findPartition(values); pt != nil {
		return pt, nil
	}
	if !create {
		return nil, notFound("NoSuchPartition", "partition %s of table %s.%s does not exist", spec, p.name, t.name)
	}
	pt := t.addPartition(p, values)
	if err := p.save(); err != nil {
		t.parts = t.parts[:len(t.parts)-1]
		return nil, internalError(err)
	}
	return pt, nil
}

// Stream sessions.

type streamSessionJSON struct {
	SessionName   string           `json:"session_name"`
	Status        string           `json:"status"`
	Schema        tunnelSchemaJSON `json:"schema"`
	Slots         [][2]any         `json:"slots"`
	QuotaName     string           `json:"quota_name"`
	SchemaVersion int              `json:"schema_version"`
	CompressMode  string           `json:"compress_mode"`
	FileFormat    string           `json:"file_format"`
}

func (s *Server) streamReply(r *http.Request, sess *streamSession, t *table) streamSessionJSON {
	host := s.hostFor(r)
	n := int(s.slots.Load())
	slots := make([][2]any, n) // must be non-empty: an empty list panics the SDK
	for i := range slots {
		slots[i] = [2]any{i + 1, host}
	}
	sess.mu.Lock()
	sess.Slots = n
	sess.mu.Unlock()
	return streamSessionJSON{
		SessionName: sess.ID, Status: "normal",
		Schema: tunnelSchema(t.columnsAt(sess.SchemaVersion), t.partKeys),
		Slots:  slots, SchemaVersion: sess.SchemaVersion,
	}
}

// lockSessionTarget locks p and resolves the table and partition a new
// session writes to, creating the partition when the request asks for it.
// On success p.mu stays locked for the caller; on error it is unlocked.
func (s *Server) lockSessionTarget(p *project, name string, q url.Values) (*table, []string, *apiError) {
	p.mu.Lock()
	t := p.table(name)
	if t == nil {
		p.mu.Unlock()
		return nil, nil, noSuchTable(p, name)
	}
	values, e := partitionFor(p, t, q.Get("partition"))
	if e != nil {
		p.mu.Unlock()
		return nil, nil, e
	}
	if _, e := s.getOrCreatePartition(p, t, values, wantCreatePartition(q), q.Get("partition")); e != nil {
		p.mu.Unlock()
		return nil, nil, e
	}
	return t, values, nil
}

func (s *Server) handleStreamCreate(w http.ResponseWriter, r *http.Request, p *project, name string) *apiError {
	s.drain(r)
	q := r.URL.Query()
	t, values, e := s.lockSessionTarget(p, name, q)
	if e != nil {
		return e
	}
	version := t.latestVersion()
	if d := time.Duration(s.schemaDelay.Load()); d > 0 && version > 0 && time.Since(t.lastDDL) < d {
		version-- // the new schema is not visible to new sessions yet
	}
	if v := q.Get("schema_version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 || n > t.latestVersion() {
			p.mu.Unlock()
			return badRequest("InvalidSchemaVersion", "schema_version %q: table %s.%s has schema versions 0..%d", v, p.name, t.name, t.latestVersion())
		}
		if n >= 0 {
			version = n
		}
	}
	if zc := q.Get("zorder_columns"); zc != "" {
		for _, c := range strings.Split(zc, ",") {
			if t.colIndex(c) < 0 {
				p.mu.Unlock()
				return badRequest("InvalidColumnSpec", "zorder column %q is not a column of %s.%s", c, p.name, t.name)
			}
		}
	}
	if e := s.admitSession(p, t, ""); e != nil {
		p.mu.Unlock()
		return e
	}
	now := s.now()
	sess := &streamSession{ID: newID(), TableID: t.id, Table: t.name, Partition: values, SchemaVersion: version,
		Created: now.Unix(), CreatedNS: now.UnixNano()}
	reply := s.streamReply(r, sess, t)
	p.mu.Unlock()
	if err := p.registerStream(sess); err != nil {
		return internalError(err)
	}
	return writeJSON(w, reply)
}

func (s *Server) lookupStream(p *project, id string) (*streamSession, *apiError) {
	sess, err := p.streamSession(id)
	if err == errNoSession {
		return nil, notFound("NoSuchUpload", "stream session %q does not exist", id)
	}
	if err != nil {
		return nil, internalError(err)
	}
	if s.expired(createdNS(sess.Created, sess.CreatedNS)) {
		return nil, sessionExpired("stream", id)
	}
	return sess, nil
}

func (s *Server) handleStreamReload(w http.ResponseWriter, r *http.Request, p *project, name string) *apiError {
	s.drain(r)
	sess, e := s.lookupStream(p, r.URL.Query().Get("uploadid"))
	if e != nil {
		return e
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	t := sessionTable(p, name, sess.TableID)
	if t == nil {
		return noSuchTable(p, name)
	}
	before := sess.slotCount()
	reply := s.streamReply(r, sess, t)
	if sess.slotCount() != before {
		sess.mu.Lock()
		err := p.saveSession("streams", sess.ID, sess)
		sess.mu.Unlock()
		if err != nil {
			return internalError(err)
		}
	}
	return writeJSON(w, reply)
}

func (s *Server) handleStreamWrite(w http.ResponseWriter, r *http.Request, p *project, name string) *apiError {
	q := r.URL.Query()
	sess, e := s.lookupStream(p, q.Get("uploadid"))
	if e != nil {
		return e
	}
	body, e := s.readBody(r) // read it all before answering
	if e != nil {
		return e
	}
	if !s.cfg.AcceptUnknownSlots {
		slot, err := strconv.Atoi(q.Get("slotid"))
		if n := sess.slotCount(); err != nil || slot < 1 || (n > 0 && slot > n) {
			return badRequest("InvalidArgument", "slot id %q is not a slot of stream session %s (it has slots 1..%d)", q.Get("slotid"), sess.ID, n)
		}
	}
	version := sess.SchemaVersion
	if v := q.Get("schema_version"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			version = n
		}
	}
	p.mu.RLock()
	t := sessionTable(p, name, sess.TableID)
	if t == nil {
		p.mu.RUnlock()
		return noSuchTable(p, name)
	}
	if version > t.latestVersion() {
		p.mu.RUnlock()
		return badRequest("InvalidSchemaVersion", "schema_version %d: table %s.%s has schema versions 0..%d", version, p.name, t.name, t.latestVersion())
	}
	latest := t.latestVersion()
	injected := s.takeSchemaModified()
	if injected || (q.Get("check_latest_schema") == "true" && version != latest) {
		p.mu.RUnlock()
		lv := strconv.Itoa(latest)
		return &apiError{status: http.StatusPreconditionFailed, code: "SchemaModified",
			msg:     fmt.Sprintf("the schema of table %s.%s changed: session schema version %d, latest %d; create a new session", p.name, t.name, version, latest),
			headers: map[string]string{"x-odps-tunnel-latest-schema-version": lv, "odps-tunnel-latest-schema-version": lv}}
	}
	cols := t.columnsAt(version)
	if t.findPartition(sess.Partition) == nil {
		p.mu.RUnlock()
		return notFound("NoSuchPartition", "partition %s of table %s.%s does not exist", specString(t, sess.Partition), p.name, t.name)
	}
	p.mu.RUnlock()

	var bb batchBuilder
	n, err := newDecoder(cols).decode(body, func(raw []byte, _ []fieldSpan) error {
		bb.add(raw)
		return nil
	})
	if err != nil {
		return badRequest("MalformedDataStream", "table %s.%s: %v", p.name, name, err)
	}
	if rc := q.Get("record_count"); rc != "" && rc != strconv.FormatInt(n, 10) {
		return badRequest("MalformedDataStream", "table %s.%s: record_count=%s but the body holds %d records", p.name, name, rc, n)
	}
	if n > 0 {
		if e := s.appendStream(p, sess, name, bb.bytes(), n); e != nil {
			return e
		}
	}
	// Both headers are required, or the SDK fails after the data was stored.
	routed := r.Header.Get("odps-tunnel-routed-server")
	if routed == "" || strings.Count(routed, ":") != 1 {
		routed = s.hostFor(r)
	}
	w.Header().Set("odps-tunnel-slot-num", strconv.Itoa(int(s.slots.Load())))
	w.Header().Set("odps-tunnel-routed-server", routed)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) takeSchemaModified() bool {
	for {
		n := s.schemaModified.Load()
		if n <= 0 {
			return false
		}
		if s.schemaModified.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// appendStream appends one batch to the session's partition.
func (s *Server) appendStream(p *project, sess *streamSession, name string, batch []byte, n int64) *apiError {
	for {
		p.mu.RLock()
		t := sessionTable(p, name, sess.TableID)
		if t == nil {
			p.mu.RUnlock()
			return noSuchTable(p, name)
		}
		pt := t.findPartition(sess.Partition)
		if pt == nil {
			p.mu.RUnlock()
			return notFound("NoSuchPartition", "partition %s of table %s.%s does not exist", specString(t, sess.Partition), p.name, t.name)
		}
		if pt.active == nil {
			p.mu.RUnlock()
			if e := s.ensureActive(p, sess, name); e != nil {
				return e
			}
			continue
		}
		pt.mu.Lock()
		seg := pt.active
		err := appendFile(filepath.Join(p.dir, seg.rel), batch, p.sync)
		if err == nil {
			seg.rows += n
			seg.size += int64(len(batch))
			pt.lastModified.Store(time.Now().UnixNano())
		}
		pt.mu.Unlock()
		p.mu.RUnlock()
		if err != nil {
			return internalError(fmt.Errorf("table %s.%s: appending rows: %w", p.name, name, err))
		}
		return nil
	}
}

func (s *Server) ensureActive(p *project, sess *streamSession, name string) *apiError {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := sessionTable(p, name, sess.TableID)
	if t == nil {
		return noSuchTable(p, name)
	}
	pt := t.findPartition(sess.Partition)
	if pt == nil || pt.active != nil {
		return nil // the caller re-checks
	}
	seg, err := p.newSegment(t, pt)
	if err != nil {
		return internalError(err)
	}
	pt.segs = append(pt.segs, seg)
	pt.active = seg
	if err := p.save(); err != nil {
		pt.segs = pt.segs[:len(pt.segs)-1]
		pt.active = nil
		return internalError(err)
	}
	return nil
}

// Batch upload sessions.

type uploadBlockJSON struct {
	BlockID     int    `json:"BlockID"`
	CreateTime  int64  `json:"CreateTime"`
	Date        string `json:"Date"`
	FileName    string `json:"FileName"`
	RecordCount int64  `json:"RecordCount"`
	Version     int64  `json:"Version"`
}

type uploadSessionJSON struct {
	UploadID          string            `json:"UploadID"`
	Status            string            `json:"Status"`
	Owner             string            `json:"Owner"`
	Initiated         string            `json:"Initiated"`
	IsOverwrite       bool              `json:"IsOverwrite"`
	MaxFieldSize      int               `json:"MaxFieldSize"`
	QuotaName         string            `json:"QuotaName"`
	Schema            tunnelSchemaJSON  `json:"Schema"`
	UploadedBlockList []uploadBlockJSON `json:"UploadedBlockList"`
}

// uploadReply renders a session. Caller holds sess.mu.
func (s *Server) uploadReply(sess *uploadSession, partKeys []column) uploadSessionJSON {
	out := uploadSessionJSON{
		UploadID: sess.ID, Status: sess.Status, Owner: s.owner(), Initiated: gmt(time.Unix(sess.Created, 0)),
		IsOverwrite: sess.Overwrite, MaxFieldSize: maxFieldBytes, Schema: tunnelSchema(sess.cols, partKeys),
		UploadedBlockList: []uploadBlockJSON{},
	}
	ids := make([]int, 0, len(sess.Blocks))
	for id := range sess.Blocks {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		b := sess.Blocks[id]
		out.UploadedBlockList = append(out.UploadedBlockList, uploadBlockJSON{BlockID: id, CreateTime: b.Created, RecordCount: b.Records})
	}
	return out
}

func (s *Server) handleUploadCreate(w http.ResponseWriter, r *http.Request, p *project, name string) *apiError {
	s.drain(r)
	q := r.URL.Query()
	t, values, e := s.lockSessionTarget(p, name, q)
	if e != nil {
		return e
	}
	id := newID()
	if e := s.admitSession(p, t, id); e != nil {
		p.mu.Unlock()
		return e
	}
	now := s.now()
	sess := &uploadSession{
		ID: id, TableID: t.id, Table: t.name, Partition: values, Overwrite: q.Get("overwrite") == "true",
		Columns: columnsToJSON(t.cols), cols: t.cols, Created: now.Unix(), CreatedNS: now.UnixNano(),
		DDLVersion: t.latestVersion() + 1, Status: "normal", Blocks: map[int]blockMeta{},
	}
	partKeys := t.partKeys
	p.mu.Unlock()
	if err := p.registerUpload(sess); err != nil {
		s.closeUpload(sess.TableID, sess.ID)
		return internalError(err)
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return writeJSON(w, s.uploadReply(sess, partKeys))
}

func (s *Server) lookupUpload(p *project, id string) (*uploadSession, *apiError) {
	sess, err := p.uploadSession(id)
	if err == errNoSession {
		return nil, notFound("NoSuchUpload", "upload session %q does not exist", id)
	}
	if err != nil {
		return nil, internalError(err)
	}
	return sess, nil
}

func (s *Server) partKeysOf(p *project, name, tableID string) ([]column, *apiError) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	t := sessionTable(p, name, tableID)
	if t == nil {
		return nil, noSuchTable(p, name)
	}
	return t.partKeys, nil
}

func (s *Server) handleUploadStatus(w http.ResponseWriter, r *http.Request, p *project, name string) *apiError {
	s.drain(r)
	sess, e := s.lookupUpload(p, r.URL.Query().Get("uploadid"))
	if e != nil {
		return e
	}
	partKeys, e := s.partKeysOf(p, name, sess.TableID)
	if e != nil {
		return e
	}
	s.syncCommitted(p, sess, name)
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.Status != "closed" && s.uploadExpired(sess) {
		return sessionExpired("upload", sess.ID)
	}
	return writeJSON(w, s.uploadReply(sess, partKeys))
}

// syncCommitted marks a session closed if the catalog says its commit
// happened (a crash may have come between the two writes).
func (s *Server) syncCommitted(p *project, sess *uploadSession, name string) {
	p.mu.RLock()
	t := sessionTable(p, name, sess.TableID)
	done := t != nil && t.isCommitted(sess.ID)
	p.mu.RUnlock()
	sess.mu.Lock()
	if done && sess.Status != "closed" {
		sess.Status = "closed"
		_ = p.saveSession("uploads", sess.ID, sess)
	}
	sess.mu.Unlock()
}

const maxBlockID = 19999

func (s *Server) handleBlockWrite(w http.ResponseWriter, r *http.Request, p *project, name string) *apiError {
	q := r.URL.Query()
	sess, e := s.lookupUpload(p, q.Get("uploadid"))
	if e != nil {
		return e
	}
	if _, arrow := q["arrow"]; arrow {
		return badRequest("NotSupported", "Arrow uploads are not supported by the emulator; use OpenRecordWriter")
	}
	blockID, err := strconv.Atoi(q.Get("blockid"))
	if err != nil || blockID < 0 || blockID > maxBlockID {
		return badRequest("InvalidBlockID", "blockid %q must be 0..%d", q.Get("blockid"), maxBlockID)
	}
	body, e := s.readBody(r)
	if e != nil {
		return e
	}
	if _, e := s.partKeysOf(p, name, sess.TableID); e != nil {
		return e
	}
	s.syncCommitted(p, sess, name)
	sess.mu.Lock()
	status, cols := sess.Status, sess.cols
	sess.mu.Unlock()
	closed := func() *apiError {
		return &apiError{status: http.StatusConflict, code: "StatusConflict", msg: fmt.Sprintf("upload session %s is %s: no more blocks can be written", sess.ID, status)}
	}
	if status != "normal" {
		return closed()
	}
	if s.uploadExpired(sess) {
		return sessionExpired("upload", sess.ID)
	}
	// Decode outside the session lock: blocks of one session upload in parallel.
	var bb batchBuilder
	n, err := newDecoder(cols).decode(body, func(raw []byte, _ []fieldSpan) error {
		bb.add(raw)
		return nil
	})
	if err != nil {
		return badRequest("MalformedDataStream", "table %s.%s block %d: %v", p.name, name, blockID, err)
	}
	data := bb.bytes()
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if status = sess.Status; status != "normal" {
		return closed()
	}
	if err := writeFileAtomic(filepath.Join(p.dir, blockRel(sess.ID, blockID)), data, p.sync); err != nil {
		return internalError(err)
	}
	sess.Blocks[blockID] = blockMeta{Records: n, Size: int64(len(data)), Created: time.Now().Unix()}
	if err := p.saveSession("uploads", sess.ID, sess); err != nil {
		return internalError(err)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) uploadExpired(sess *uploadSession) bool {
	return s.expired(createdNS(sess.Created, sess.CreatedNS))
}

func blockRel(uploadID string, block int) string {
	return filepath.Join("uploads", uploadID, fmt.Sprintf("block-%d.seg", block))
}

func (s *Server) handleUploadCommit(w http.ResponseWriter, r *http.Request, p *project, name string) *apiError {
	s.drain(r)
	sess, e := s.lookupUpload(p, r.URL.Query().Get("uploadid"))
	if e != nil {
		return e
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	p.mu.Lock()
	t := sessionTable(p, name, sess.TableID)
	if t == nil {
		p.mu.Unlock()
		return noSuchTable(p, name)
	}
	if sess.Status == "closed" || t.isCommitted(sess.ID) {
		// The SDK retries commits: a repeated commit succeeds without effect.
		p.mu.Unlock()
		s.closeUpload(sess.TableID, sess.ID)
		return s.finishCommit(w, p, sess)
	}
	if s.uploadExpired(sess) {
		p.mu.Unlock()
		return sessionExpired("upload", sess.ID)
	}
	if !s.cfg.AllowCommitAfterAlter && sess.DDLVersion > 0 && sess.DDLVersion != t.latestVersion()+1 {
		p.mu.Unlock()
		return &apiError{status: http.StatusConflict, code: "TableModified",
			msg: fmt.Sprintf("The specified table has been modified since the upload initiated: table %s.%s changed from schema version %d to %d; create a new session",
				p.name, t.name, sess.DDLVersion-1, t.latestVersion())}
	}
	if e := s.admitCommit(p, t); e != nil {
		p.mu.Unlock()
		return e
	}
	pt := t.findPartition(sess.Partition)
	if pt == nil {
		p.mu.Unlock()
		return notFound("NoSuchPartition", "partition %s of table %s.%s does not exist", specString(t, sess.Partition), p.name, t.name)
	}
	ids := make([]int, 0, len(sess.Blocks))
	for id := range sess.Blocks {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var segs []*segment
	for _, id := range ids {
		b := sess.Blocks[id]
		segs = append(segs, &segment{rel: blockRel(sess.ID, id), rows: b.Records, size: b.Size})
	}
	oldSegs, oldActive, oldCommitted := pt.segs, pt.active, t.committed
	if sess.Overwrite {
		pt.segs = segs
	} else {
		pt.segs = append(append([]*segment(nil), pt.segs...), segs...)
	}
	pt.active = nil // later stream rows go after the committed ones
	t.noteCommitted(sess.ID)
	if err := p.save(); err != nil {
		pt.segs, pt.active, t.committed = oldSegs, oldActive, oldCommitted
		p.mu.Unlock()
		return internalError(err)
	}
	pt.lastModified.Store(time.Now().UnixNano())
	p.mu.Unlock()
	s.closeUpload(sess.TableID, sess.ID)
	if sess.Overwrite {
		for _, sg := range oldSegs {
			s.removeSegment(p, sg.rel)
		}
	}
	return s.finishCommit(w, p, sess)
}

func (s *Server) finishCommit(w http.ResponseWriter, p *project, sess *uploadSession) *apiError {
	if sess.Status != "closed" {
		sess.Status = "closed"
		if err := p.saveSession("uploads", sess.ID, sess); err != nil {
			s.log.Warn("odpsemu: cannot save a committed upload session (the catalog has the commit)", "id", sess.ID, "err", err)
		}
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// Download sessions.

type downloadSessionJSON struct {
	DownloadID  string           `json:"DownloadID"`
	Initiated   string           `json:"Initiated"`
	Owner       string           `json:"Owner"`
	RecordCount int64            `json:"RecordCount"`
	Schema      tunnelSchemaJSON `json:"Schema"`
	Status      string           `json:"Status"`
}

func (s *Server) handleDownloadCreate(w http.ResponseWriter, r *http.Request, p *project, name string) *apiError {
	s.drain(r)
	q := r.URL.Query()
	if id := q.Get("downloadid"); id != "" { // attach
		sess, e := s.lookupDownload(p, id)
		if e != nil {
			return e
		}
		partKeys, e := s.partKeysOf(p, name, sess.TableID)
		if e != nil {
			return e
		}
		return writeJSON(w, s.downloadReply(sess, partKeys))
	}
	p.mu.RLock()
	t := p.table(name)
	if t == nil {
		p.mu.RUnlock()
		return noSuchTable(p, name)
	}
	values, e := partitionFor(p, t, q.Get("partition"))
	if e != nil {
		p.mu.RUnlock()
		return e
	}
	pt := t.findPartition(values)
	if pt == nil {
		p.mu.RUnlock()
		return notFound("NoSuchPartition", "partition %s of table %s.%s does not exist", q.Get("partition"), p.name, t.name)
	}
	sess := &downloadSession{ID: newID(), TableID: t.id, Table: t.name, Partition: values,
		Columns: columnsToJSON(t.cols), cols: t.cols, Created: time.Now().Unix()}
	pt.mu.Lock()
	for _, sg := range pt.segs {
		sess.Segments = append(sess.Segments, snapSeg{Rel: sg.rel, Rows: sg.rows})
		sess.Rows += sg.rows
	}
	pt.mu.Unlock()
	partKeys := t.partKeys
	p.mu.RUnlock()
	if err := p.registerDownload(sess); err != nil {
		return internalError(err)
	}
	return writeJSON(w, s.downloadReply(sess, partKeys))
}

func (s *Server) downloadReply(sess *downloadSession, partKeys []column) downloadSessionJSON {
	return downloadSessionJSON{
		DownloadID: sess.ID, Initiated: gmt(time.Unix(sess.Created, 0)), Owner: s.owner(),
		RecordCount: sess.Rows, Schema: tunnelSchema(sess.cols, partKeys), Status: "normal",
	}
}

func (s *Server) lookupDownload(p *project, id string) (*downloadSession, *apiError) {
	sess, err := p.downloadSession(id)
	if err == errNoSession {
		return nil, notFound("NoSuchDownload", "download session %q does not exist", id)
	}
	if err != nil {
		return nil, internalError(err)
	}
	return sess, nil
}

func parseRowRange(s string) (start, count int64, ok bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "(") || !strings.HasSuffix(s, ")") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(s[1:len(s)-1], ",")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	count, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	return start, count, err1 == nil && err2 == nil && start >= 0 && count >= 0
}

func (s *Server) handleDownloadRead(w http.ResponseWriter, r *http.Request, p *project, name string) *apiError {
	s.drain(r)
	q := r.URL.Query()
	sess, e := s.lookupDownload(p, q.Get("downloadid"))
	if e != nil {
		return e
	}
	if _, arrow := q["arrow"]; arrow {
		return badRequest("NotSupported", "Arrow downloads are not supported by the emulator; use OpenRecordReader")
	}
	start, count, ok := parseRowRange(q.Get("rowrange"))
	if !ok {
		return badRequest("InvalidRowRange", "rowrange %q must be (start,count)", q.Get("rowrange"))
	}
	if start+count > sess.Rows {
		return badRequest("InvalidRowRange", "rowrange (%d,%d) exceeds the session's %d records", start, count, sess.Rows)
	}
	// Output field numbers follow the columns= order.
	outCols := make([]int, 0, len(sess.cols))
	if cs := q.Get("columns"); cs != "" {
		for _, c := range strings.Split(cs, ",") {
			i := -1
			for j, col := range sess.cols {
				if strings.EqualFold(col.name, strings.TrimSpace(c)) {
					i = j
				}
			}
			if i < 0 {
				return badRequest("InvalidColumnSpec", "column %q is not a data column of %s.%s", c, p.name, sess.Table)
			}
			outCols = append(outCols, i)
		}
	} else {
		for i := range sess.cols {
			outCols = append(outCols, i)
		}
	}
	dec := newDecoder(sess.cols)
	fieldAt := make([]int, len(sess.cols))
	var enc streamEncoder
	skip, left := start, count
	for _, sg := range sess.Segments {
		if left == 0 {
			break
		}
		if skip >= sg.Rows {
			skip -= sg.Rows
			continue
		}
		n := sg.Rows - skip
		if n > left {
			n = left
		}
		err := readSegmentRecords(filepath.Join(p.dir, sg.Rel), skip, n, func(rec []byte) error {
			if err := dec.decodeRecord(rec); err != nil {
				return err
			}
			for i := range fieldAt {
				fieldAt[i] = -1
			}
			for i, f := range dec.fields {
				fieldAt[f.col] = i
			}
			enc.addRecord(sess.cols, outCols, fieldAt, dec.fields, rec, dec.scratch)
			if int64(len(enc.buf)) > s.cfg.MaxBodyBytes {
				return errTooLarge
			}
			return nil
		})
		if err == errTooLarge {
			return badRequest("InvalidRowRange", "rowrange (%d,%d) is larger than the emulator's MaxBodyBytes; read fewer rows per request", start, count)
		}
		if os.IsNotExist(err) {
			return &apiError{status: http.StatusGone, code: "DataChanged", msg: "the rows of this download session were overwritten or dropped; create a new session"}
		}
		if err != nil {
			return internalError(fmt.Errorf("table %s.%s: reading stored rows: %w", p.name, sess.Table, err))
		}
		skip = 0
		left -= n
	}
	enc.finish()
	body, encName, err := compressResponse(r.Header.Get("Accept-Encoding"), enc.buf)
	if err != nil {
		return internalError(err)
	}
	if encName != "" {
		w.Header().Set("Content-Encoding", encName)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

var errTooLarge = fmt.Errorf("response too large")
