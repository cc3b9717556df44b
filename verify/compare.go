package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
	"github.com/odsync/odsync/sink/readback"
)

// tableJob verifies one source table against one sink.
type tableJob struct {
	v       *Verifier
	sink    Sink
	src     *SourceTable
	target  *schema.Target // the target layout, reconciled with the source table
	canon   []canonCol
	keys    []keyCol // the target's key columns
	srcKey  []int    // source column indexes of the non-metadata key columns
	keyMap  []int    // for each srcKey column, its index in keys
	meta    struct{ seq, op, pos, commit, srcDB, srcTable, raw int }
	store   *store
	mark    Mark
	res     *TableResult
	chunks  []chunkStat
	scratch []byte
	keyless bool // the table has no key: compared by count and checksum only
}

// chunkStat is the first-pass comparison of one chunk.
type chunkStat struct {
	lo, hi   string // key texts of the bounds, for reports
	srcRows  int64
	srcSum   uint64
	tgtRows  int64
	tgtSum   uint64
	suspects int64 // first-pass differences
	counts   DiffCounts
	examples []Example
}

// srcRow is a source row reduced for comparison.
type srcRow struct {
	key   []byte
	hash  uint64
	canon []byte
	img   []event.Value // the source row
}

// prepare resolves the layout: key, compared columns, metadata indexes,
// and the column check. ok is false when the table cannot be compared row
// by row (the result says why).
func (j *tableJob) prepare(layout Layout) (bool, error) {
	t := j.target
	res := j.res
	res.Target = t.Name
	j.meta.seq, j.meta.op, j.meta.pos, j.meta.commit = t.ColumnIndex(schema.ColSeq), t.ColumnIndex(schema.ColOp),
		t.ColumnIndex(schema.ColPos), t.ColumnIndex(schema.ColCommitTs)
	j.meta.srcDB, j.meta.srcTable = t.ColumnIndex(schema.ColSourceDB), t.ColumnIndex(schema.ColSourceTable)
	j.meta.raw = t.ColumnIndex(schema.ColRaw)
	if j.meta.seq < 0 || j.meta.op < 0 {
		return false, fmt.Errorf("target %s has no %s/%s columns", t.Name, schema.ColSeq, schema.ColOp)
	}
	existing := map[string]bool{}
	for _, c := range layout.Existing.Columns {
		existing[strings.ToLower(c.Name)] = true
	}
	// Compared columns: source columns the target has.
	for i := range t.Columns {
		c := &t.Columns[i]
		if c.Meta != schema.MetaNone || c.Source < 0 || !existing[c.Name] {
			continue
		}
		cc := canonCol{col: c, idx: i}
		if c.Source < len(j.src.Table.Columns) && j.src.Table.Columns[c.Source].Type == event.TypeJSON && j.v.src.flavor == "mysql" {
			// MySQL stores JSON in binary form and renders it on read:
			// compare the JSON value. MariaDB stores the text: compare it
			// exactly.
			cc.json = true
		}
		j.canon = append(j.canon, cc)
	}
	types := map[string]string{}
	for _, c := range layout.Existing.Columns {
		types[strings.ToLower(c.Name)] = c.Type
	}
	for _, cc := range j.canon {
		if cc.col.Source < len(j.src.Table.Columns) {
			res.Columns.Types = append(res.Columns.Types, ColumnType{Column: cc.col.Name,
				Source: j.src.Table.Columns[cc.col.Source].RawType, Target: types[cc.col.Name]})
		}
	}
	if len(t.Key) == 0 {
		// Compared as a whole: row count and checksum (keyless.go).
		j.keyless = true
		return true, nil
	}
	for _, k := range t.Key {
		c := &t.Columns[k]
		kc := keyCol{idx: k}
		if c.Meta == schema.MetaNone {
			if c.Source < 0 || !existing[c.Name] {
				res.Notes = append(res.Notes, fmt.Sprintf("key column %s is not in both source and target: rows cannot be matched", c.Name))
				return false, nil
			}
			sc := &j.src.Table.Columns[c.Source]
			if sc.Nullable {
				return false, fmt.Errorf("key column %s is nullable: verification needs a NOT NULL key (configure mapping.tables[].key)", sc.Name)
			}
			kc.weight = weigherFor(j.src.Collations[c.Source])
			j.keyMap = append(j.keyMap, len(j.keys))
			j.srcKey = append(j.srcKey, c.Source)
		}
		j.keys = append(j.keys, kc)
		res.Key = append(res.Key, c.Name)
	}
	return true, nil
}

// columnCheck compares the source's mapped columns with the target's.
func (j *tableJob) columnCheck(layout Layout, plan *schema.Plan) {
	c := &j.res.Columns
	t := j.target
	existing := map[string]bool{}
	for _, ec := range layout.Existing.Columns {
		if !strings.HasPrefix(ec.Name, "_") || !isMeta(ec.Name) {
			existing[strings.ToLower(ec.Name)] = true
		}
	}
	c.TargetColumns = len(existing)
	for i := range t.Columns {
		col := &t.Columns[i]
		if col.Meta != schema.MetaNone {
			continue
		}
		if col.Source >= 0 {
			c.SourceColumns++
			if !existing[col.Name] {
				c.MissingInTarget = append(c.MissingInTarget, col.Name)
			}
			continue
		}
		if !existing[col.Name] {
			continue
		}
		// A target column without a source column.
		if src, ok := layout.Sources[col.Name]; ok && src != "" && j.src.Table.ColumnIndex(src) < 0 {
			c.ExtraInTarget = append(c.ExtraInTarget, col.Name)
		} else {
			c.Retired = append(c.Retired, col.Name)
		}
	}
	if plan != nil {
		for _, st := range plan.Steps {
			switch st.Kind {
			case schema.StepWidenColumn:
				c.TypeDiffs = append(c.TypeDiffs, fmt.Sprintf("%s is %s in the target, the source needs %s", st.From.Name, st.From.TypeSpec(), st.Column.TypeSpec()))
			case schema.StepCreateTable:
				c.TypeDiffs = append(c.TypeDiffs, "the target needs a new table version: "+st.Reason)
			}
		}
		for _, n := range plan.Notes {
			if strings.Contains(n, "target column") && strings.Contains(n, "keeps") {
				j.res.Notes = append(j.res.Notes, n)
			}
		}
	}
	c.Match = len(c.MissingInTarget) == 0 && len(c.ExtraInTarget) == 0 && len(c.TypeDiffs) == 0
}

func isMeta(name string) bool {
	switch name {
	case schema.ColOp, schema.ColSeq, schema.ColCommitTs, schema.ColPos, schema.ColRaw, schema.ColSourceDB, schema.ColSourceTable:
		return true
	}
	return false
}

// canonRow encodes the compared columns of a target row. A typed column
// that is NULL while the row's _raw object holds a text for it is encoded
// as that text (D1: the value did not fit its typed column), so it
// compares equal to the source's text of the value.
func (j *tableJob) canonRow(buf []byte, row []event.Value) []byte {
	raw := j.rawTexts(row)
	for i := range j.canon {
		v := row[j.canon[i].idx]
		if text, ok := raw[j.canon[i].col.Name]; ok && v.IsNull() {
			buf = appendCanonRaw(buf, text)
			continue
		}
		buf = appendCanon(buf, &j.canon[i], v, &j.scratch)
	}
	return buf
}

// rawTexts reads a row's _raw object (nil when the target has no _raw
// column or the row's is NULL).
func (j *tableJob) rawTexts(row []event.Value) map[string]string {
	if j.meta.raw < 0 || j.meta.raw >= len(row) || row[j.meta.raw].IsNull() {
		return nil
	}
	m, err := parseRawObject(row[j.meta.raw].Str())
	if err != nil {
		return map[string]string{} // unreadable: no column is taken from it
	}
	return m
}

// sourceCanonRow encodes a source row converted to target row trow: a
// non-NULL source value whose typed target column is NULL (it does not
// fit) is encoded as its raw text, like the sink's _raw holds it. Only for
// targets with a _raw column.
func (j *tableJob) sourceCanonRow(buf []byte, trow, img []event.Value) []byte {
	if j.meta.raw < 0 {
		return j.canonRow(buf, trow)
	}
	raw := j.rawTexts(trow) // the mapping's own _raw, when it writes one
	for i := range j.canon {
		c := &j.canon[i]
		v := trow[c.idx]
		if v.IsNull() && c.col.Source >= 0 && c.col.Source < len(img) && !img[c.col.Source].IsNull() {
			text, ok := raw[c.col.Name]
			if !ok {
				text = rawText(img[c.col.Source])
			}
			buf = appendCanonRaw(buf, text)
			continue
		}
		buf = appendCanon(buf, c, v, &j.scratch)
	}
	return buf
}

// ingest reads the target's rows written since the last mark into the store.
func (j *tableJob) ingest(ctx context.Context) error {
	id := j.src.Table.ID
	var keyBuf, canonBuf, valBuf []byte
	var n int64
	mark, err := j.sink.Reader.Scan(ctx, j.target, j.mark, func(row []event.Value) error {
		if j.meta.srcDB >= 0 && j.meta.srcTable >= 0 {
			if row[j.meta.srcDB].Str() != id.DB || row[j.meta.srcTable].Str() != id.Table {
				return nil
			}
		}
		seq, ok := readback.SeqValue(row[j.meta.seq])
		if !ok {
			return fmt.Errorf("row without a valid %s", schema.ColSeq)
		}
		op := byte('?')
		if s := row[j.meta.op].Str(); len(s) == 1 {
			op = s[0]
		}
		keyBuf = appendKey(keyBuf[:0], j.keys, row)
		canonBuf = j.canonRow(canonBuf[:0], row)
		r := targetRow{Seq: seq, Op: op, Hash: rowHash(canonBuf), Canon: canonBuf}
		if j.meta.pos >= 0 {
			r.Pos = row[j.meta.pos].Str()
		}
		if j.meta.commit >= 0 && row[j.meta.commit].Kind() == event.KindTimestamp {
			r.Commit = row[j.meta.commit].Micros()
		}
		n++
		return j.store.put(keyBuf, &r, valBuf)
	})
	if err != nil {
		return fmt.Errorf("read target %s: %w", j.target.Name, err)
	}
	j.mark = mark
	return j.store.flush()
}

// reduce converts source rows through the target mapping (the sinks'
// conversion) into comparable rows, sorted by store key.
func (j *tableJob) reduce(rows [][]event.Value) ([]srcRow, error) {
	out := make([]srcRow, 0, len(rows))
	var trow []event.Value
	t := j.src.Table
	for _, img := range rows {
		e := event.Event{Op: event.OpRead, Source: t.ID, Table: t, After: img}
		trow = j.target.Row(&e, trow)
		r := srcRow{key: appendKey(nil, j.keys, trow)}
		r.canon = j.sourceCanonRow(nil, trow, img)
		r.hash = rowHash(r.canon)
		r.img = img
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b srcRow) int { return bytes.Compare(a.key, b.key) })
	return out, nil
}

// pass1 reads the source chunk by chunk and compares each chunk with the
// store. Differences become suspects.
func (j *tableJob) pass1(ctx context.Context) error {
	reader, err := j.v.src.newChunkReader(ctx, j.src, j.srcKey, j.v.opts.ChunkSize)
	if err != nil {
		return err
	}
	defer reader.close()
	var lo []byte    // the running maximum of chunk upper keys
	loText := "-inf" // its text
	var rowsRead int64
	for {
		c, err := reader.read(ctx)
		if err != nil {
			return err
		}
		if c == nil {
			return nil
		}
		rows, err := j.reduce(c.Rows)
		if err != nil {
			return fmt.Errorf("chunk %d: %w", c.No, err)
		}
		var hi []byte
		hiText := "+inf"
		if !c.Last && len(c.Rows) > 0 {
			last := c.Rows[len(c.Rows)-1]
			e := event.Event{Op: event.OpRead, Source: j.src.Table.ID, Table: j.src.Table, After: last}
			trow := j.target.Row(&e, nil)
			hi = appendKey(nil, j.keys, trow)
			hiText = keyText(j.keys, j.target, trow)
			if lo != nil && bytes.Compare(hi, lo) < 0 {
				hi = lo // keep the ranges contiguous when the orders disagree
			}
		}
		st := chunkStat{lo: loText, hi: hiText}
		if err := j.compareChunk(c, rows, lo, hi, &st); err != nil {
			return fmt.Errorf("chunk %d: %w", c.No, err)
		}
		j.chunks = append(j.chunks, st)
		rowsRead += int64(len(c.Rows))
		j.v.progress(Progress{Table: j.res.Table, Sink: j.sink.Name, Phase: "compare", Rows: rowsRead,
			EstimatedRows: j.src.EstimatedRows, Chunks: len(j.chunks)})
		if c.Last {
			return nil
		}
		lo, loText = hi, hiText
	}
}

// compareChunk merges a chunk's sorted source rows with the store's rows
// in the chunk's key range (lo, hi], streaming the store side: memory is
// bounded by the chunk.
func (j *tableJob) compareChunk(c *sourceChunk, rows []srcRow, lo, hi []byte, st *chunkStat) error {
	for _, r := range rows {
		st.srcRows++
		st.srcSum += r.hash
	}
	i := 0
	// sourceOnly handles a source row without a live target row at its
	// position in the range: the key may sit elsewhere in the store (when
	// the key order differs from the source's) or be missing.
	sourceOnly := func(r *srcRow) error {
		tr, err := j.store.get(r.key)
		if err != nil {
			return err
		}
		if !tr.live() || tr.Hash != r.hash {
			return j.addSuspect(c, r, st)
		}
		return nil
	}
	err := j.store.scanTargets(lo, hi, func(key []byte, r *targetRow) error {
		if !r.live() {
			return nil
		}
		st.tgtRows++
		st.tgtSum += r.Hash
		for i < len(rows) && bytes.Compare(rows[i].key, key) < 0 {
			if err := sourceOnly(&rows[i]); err != nil {
				return err
			}
			i++
		}
		if i < len(rows) && bytes.Equal(rows[i].key, key) {
			if rows[i].hash != r.Hash {
				if err := j.addSuspect(c, &rows[i], st); err != nil {
					return err
				}
			}
			i++
			return nil
		}
		return j.addExtra(c, key, r, st)
	})
	if err != nil {
		return err
	}
	for ; i < len(rows); i++ {
		if err := sourceOnly(&rows[i]); err != nil {
			return err
		}
	}
	return nil
}

// addSuspect records a source row whose target row differs or is missing.
func (j *tableJob) addSuspect(c *sourceChunk, r *srcRow, st *chunkStat) error {
	t := j.src.Table
	e := event.Event{Op: event.OpRead, Source: t.ID, Table: t, After: r.img}
	trow := j.target.Row(&e, nil)
	params := make([]any, len(j.srcKey))
	for i, sc := range j.srcKey {
		p, err := sqlParam(&t.Columns[sc], r.img[sc])
		if err != nil {
			return err
		}
		params[i] = p
	}
	s := &suspect{chunk: c.No, hasSnap: true, srcPresent: true, srcHash: r.hash, srcCanon: r.canon,
		before: c.Before, after: c.After, keyText: keyText(j.keys, j.target, trow), params: params}
	st.suspects++
	return j.store.putSuspect(r.key, s.encode())
}

// addExtra records a live target row in the chunk's range that the source
// chunk does not have. The source is read by key before it counts.
func (j *tableJob) addExtra(c *sourceChunk, key []byte, r *targetRow, st *chunkStat) error {
	text, params, err := j.keyFromCanon(r.Canon)
	if err != nil {
		params = nil // reported unsettled: the source cannot be asked for it
	}
	s := &suspect{chunk: c.No, keyText: text, params: params}
	st.suspects++
	return j.store.putSuspect(key, s.encode())
}

// errNoParams marks a target key that cannot be turned back into source
// key values.
var errNoParams = errors.New("key not readable back")

// keyFromCanon recovers the key of a target row, as report text and as
// source key parameters. The store keeps no typed key values: key columns
// are compared columns, and their canonical text parses back into target
// values.
func (j *tableJob) keyFromCanon(canon []byte) (string, []any, error) {
	texts, null, ok := decodeCanon(canon, len(j.canon))
	if !ok {
		return "?", nil, errCorruptSuspect
	}
	row := make([]event.Value, len(j.target.Columns))
	for n := range j.canon {
		if !null[n] {
			row[j.canon[n].idx] = odsfile.FromText(j.canon[n].col, texts[n])
		}
	}
	if j.meta.srcDB >= 0 && j.meta.srcTable >= 0 {
		row[j.meta.srcDB] = event.String(j.src.Table.ID.DB)
		row[j.meta.srcTable] = event.String(j.src.Table.ID.Table)
	}
	text := keyText(j.keys, j.target, row)
	params := make([]any, len(j.srcKey))
	for i, sc := range j.srcKey {
		v := row[j.keys[j.keyMap[i]].idx]
		if v.IsNull() {
			return text, nil, errNoParams
		}
		p, err := sqlParam(&j.src.Table.Columns[sc], v)
		if err != nil {
			return text, nil, err
		}
		params[i] = p
	}
	return text, params, nil
}

// recheck re-evaluates the suspects in rounds until each is cleared or
// confirmed, or the rounds run out.
func (j *tableJob) recheck(ctx context.Context) error {
	for round := 0; round < j.v.opts.Rounds; round++ {
		// 1. Fresh source snapshots: every pending key from round 1 on;
		// in round 0 only the keys never read (extra candidates).
		var latest Watermark
		var pending int64
		err := j.pendingBatches(func(keys [][]byte) error {
			pending += int64(len(keys))
			return j.refresh(ctx, keys, round > 0, &latest)
		})
		if err != nil {
			return err
		}
		if pending == 0 {
			return nil
		}
		j.res.Rounds = round + 1
		if round == 0 {
			j.res.Rechecked = pending
		}
		// 2. Wait until the sink has caught up with the latest snapshot.
		j.v.progress(Progress{Table: j.res.Table, Sink: j.sink.Name, Phase: fmt.Sprintf("re-check %d of %d keys: waiting for the sink", round+1, pending),
			Rows: pending})
		caught, err := j.v.waitCaughtUp(ctx, j.sink, j.target.Name, latest)
		if err != nil {
			return err
		}
		// 3. Read what the sink wrote meanwhile.
		if err := j.ingest(ctx); err != nil {
			return err
		}
		// 4. Evaluate.
		if err := j.pendingBatches(func(keys [][]byte) error { return j.evaluate(keys, caught) }); err != nil {
			return err
		}
	}
	return nil
}

// pendingBatches calls fn with the store keys of pending suspects, at most
// suspectBatch at a time (memory stays bounded however many there are).
// fn may rewrite the suspects it is given.
func (j *tableJob) pendingBatches(fn func(keys [][]byte) error) error {
	const suspectBatch = 1000
	var after []byte
	for {
		var keys [][]byte
		err := j.store.scanSuspectsAfter(after, func(key, v []byte) (bool, error) {
			s, err := decodeSuspect(v)
			if err != nil {
				return false, err
			}
			if s.state == suspectPending {
				keys = append(keys, key)
			}
			return len(keys) < suspectBatch, nil
		})
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		if err := fn(keys); err != nil {
			return err
		}
		after = keys[len(keys)-1]
		if len(keys) < suspectBatch {
			return nil
		}
	}
}

func (j *tableJob) loadSuspect(key []byte) (*suspect, error) {
	v, closer, err := j.store.db.Get(prefixed(prefixSuspect, key))
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return decodeSuspect(v)
}

// refresh reads the source rows of pending suspects by key (all of them,
// or only those without a snapshot) and stores the new snapshots.
func (j *tableJob) refresh(ctx context.Context, keys [][]byte, all bool, latest *Watermark) error {
	const batch = 1000
	for start := 0; start < len(keys); start += batch {
		part := keys[start:min(start+batch, len(keys))]
		var sus []*suspect
		var skeys [][]byte
		var params [][]any
		for _, k := range part {
			s, err := j.loadSuspect(k)
			if err != nil {
				return err
			}
			if s.hasSnap && !all {
				*latest = laterOf(*latest, s.after)
				continue
			}
			if s.params == nil {
				// A key that cannot be read back: it stays a suspect and
				// is reported unsettled.
				s.reason = "the target key cannot be read back as source key values"
				if err := j.store.putSuspect(k, s.encode()); err != nil {
					return err
				}
				continue
			}
			sus = append(sus, s)
			skeys = append(skeys, k)
			params = append(params, s.params)
		}
		if len(sus) == 0 {
			continue
		}
		rows, before, after, err := j.v.src.readKeys(ctx, j.src, j.srcKey, params)
		if err != nil {
			return err
		}
		*latest = laterOf(*latest, after)
		red, err := j.reduce(rows)
		if err != nil {
			return err
		}
		byKey := map[string]*srcRow{}
		for i := range red {
			byKey[string(red[i].key)] = &red[i]
		}
		for i, s := range sus {
			s.hasSnap = true
			s.before, s.after = before, after
			if r := byKey[string(skeys[i])]; r != nil {
				s.srcPresent, s.srcHash, s.srcCanon = true, r.hash, r.canon
			} else {
				s.srcPresent, s.srcHash, s.srcCanon = false, 0, nil
			}
			if err := j.store.putSuspect(skeys[i], s.encode()); err != nil {
				return err
			}
		}
	}
	return nil
}

// laterOf returns the later of two watermarks (by clock).
func laterOf(a, b Watermark) Watermark {
	if b.Micros >= a.Micros {
		return b
	}
	return a
}

// evaluate compares each pending suspect's snapshot with the target's
// current row: equal clears it; a difference the sink's lag cannot explain
// counts as a confirmation (two in a row confirm it); a target row newer
// than the snapshot means the key changed meanwhile (it is read again).
func (j *tableJob) evaluate(keys [][]byte, caughtUp bool) error {
	for _, k := range keys {
		s, err := j.loadSuspect(k)
		if err != nil {
			return err
		}
		if !s.hasSnap {
			continue
		}
		tr, err := j.store.get(k)
		if err != nil {
			return err
		}
		equal := (!s.srcPresent && !tr.live()) || (s.srcPresent && tr.live() && tr.Hash == s.srcHash)
		switch {
		case equal:
			s.state = suspectCleared
		case !caughtUp:
			s.confirms = 0
			s.reason = "the sink did not catch up with the source within the wait"
		case j.v.notAfter(tr, s.before):
			s.confirms++
			s.reason = ""
			if s.confirms >= 2 {
				s.state = suspectConfirmed
			}
		default:
			s.confirms = 0
			s.reason = "the key kept changing during the re-checks"
		}
		if err := j.store.putSuspect(k, s.encode()); err != nil {
			return err
		}
	}
	return nil
}

// finish turns the suspects into chunk results and counts.
func (j *tableJob) finish() error {
	ex := j.v.opts.Examples
	fx := fixFacts{nullInTarget: map[string]int64{}}
	err := j.store.scanSuspects(func(key, v []byte) error {
		s, err := decodeSuspect(v)
		if err != nil {
			return err
		}
		if s.chunk >= len(j.chunks) {
			return nil
		}
		st := &j.chunks[s.chunk]
		var kind string
		tr, err := j.store.get(key)
		if err != nil {
			return err
		}
		switch s.state {
		case suspectCleared:
			return nil
		case suspectConfirmed:
			switch {
			case s.srcPresent && tr.live():
				kind = DiffChanged
				st.counts.Changed++
			case s.srcPresent:
				kind = DiffMissing
				st.counts.Missing++
			default:
				kind = DiffExtra
				st.counts.Extra++
			}
		default:
			kind = "unsettled"
			st.counts.Unsettled++
		}
		if kind == DiffChanged {
			for _, d := range j.valueDiffs(s.srcCanon, tr.Canon) {
				if d.Target == "NULL" && d.Source != "NULL" {
					fx.nullInTarget[d.Column]++
				} else {
					fx.otherValues++
				}
			}
		}
		if tr != nil && (kind == DiffChanged || kind == DiffExtra) && (fx.minSeq == 0 || tr.Seq < fx.minSeq) {
			fx.minSeq = tr.Seq
		}
		if len(st.examples) < ex {
			e := Example{Key: s.keyText, Kind: kind}
			if tr != nil {
				e.TargetPos, e.TargetSeq = tr.Pos, tr.Seq
			}
			if kind == DiffChanged || (kind == "unsettled" && s.srcPresent && tr.live()) {
				e.Columns = j.valueDiffs(s.srcCanon, tr.Canon)
			}
			if kind == "unsettled" && s.reason != "" {
				e.Kind = "unsettled (" + s.reason + ")"
			}
			st.examples = append(st.examples, e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	res := j.res
	res.Chunks = len(j.chunks)
	var srcSum, tgtSum uint64
	for i := range j.chunks {
		srcSum += j.chunks[i].srcSum
		tgtSum += j.chunks[i].tgtSum
	}
	res.SourceChecksum, res.TargetChecksum = fmt.Sprintf("%016x", srcSum), fmt.Sprintf("%016x", tgtSum)
	defer func() { res.Fixes = j.fixes(fx) }()
	for i := range j.chunks {
		st := &j.chunks[i]
		res.SourceRows += st.srcRows
		res.TargetRows += st.tgtRows
		res.Diffs.Changed += st.counts.Changed
		res.Diffs.Missing += st.counts.Missing
		res.Diffs.Extra += st.counts.Extra
		res.Diffs.Unsettled += st.counts.Unsettled
		if st.counts.confirmed() == 0 && st.counts.Unsettled == 0 {
			continue
		}
		status := StatusUnsettled
		if st.counts.confirmed() > 0 {
			status = StatusMismatch
			res.BadChunks++
		}
		if len(res.ChunkList) < j.v.opts.MaxChunks {
			res.ChunkList = append(res.ChunkList, ChunkResult{Chunk: i, Range: j.rangeText(st), Status: status,
				SourceRows: st.srcRows, TargetRows: st.tgtRows,
				SourceChecksum: fmt.Sprintf("%016x", st.srcSum), TargetChecksum: fmt.Sprintf("%016x", st.tgtSum),
				DiffCounts: st.counts, Examples: st.examples})
		}
	}
	return nil
}

func (j *tableJob) rangeText(st *chunkStat) string {
	name := strings.Join(j.res.Key, ",")
	lo, hi := stripNames(st.lo), stripNames(st.hi)
	if len(j.res.Key) > 1 {
		name = "(" + name + ")"
	}
	return fmt.Sprintf("%s in (%s, %s]", name, lo, hi)
}

// stripNames turns "a=1,b=2" into "1,2" (or "(1,2)").
func stripNames(keyText string) string {
	if keyText == "-inf" || keyText == "+inf" {
		return keyText
	}
	parts := strings.Split(keyText, ",")
	var vals []string
	for _, p := range parts {
		if _, v, ok := strings.Cut(p, "="); ok {
			vals = append(vals, v)
		} else if len(vals) > 0 {
			vals[len(vals)-1] += "," + p
		}
	}
	if len(vals) == 1 {
		return vals[0]
	}
	return "(" + strings.Join(vals, ",") + ")"
}

// valueDiffs lists the compared columns whose canonical texts differ.
func (j *tableJob) valueDiffs(src, tgt []byte) []ValueDiff {
	st, sn, ok1 := decodeCanon(src, len(j.canon))
	tt, tn, ok2 := decodeCanon(tgt, len(j.canon))
	if !ok1 || !ok2 {
		return nil
	}
	var out []ValueDiff
	for i := range j.canon {
		if sn[i] == tn[i] && st[i] == tt[i] {
			continue
		}
		d := ValueDiff{Column: j.canon[i].col.Name, Source: showCanon(j.canon[i].col, st[i], sn[i]), Target: showCanon(j.canon[i].col, tt[i], tn[i])}
		out = append(out, d)
	}
	return out
}

func showCanon(c *schema.TargetColumn, text string, null bool) string {
	if null {
		return "NULL"
	}
	const maxLen = 80
	if len(text) > maxLen {
		text = text[:maxLen] + "…"
	}
	if c.Kind == schema.KindBinary {
		return "base64:" + text
	}
	return fmt.Sprintf("%q", text)
}

// elapsed returns a duration rounded for reports.
func elapsed(since time.Time) float64 {
	return float64(time.Since(since).Milliseconds()) / 1000
}

// fixFacts are what finish learns about the differences, for the fixes.
type fixFacts struct {
	nullInTarget map[string]int64 // changed rows whose column is NULL in the target only
	otherValues  int64            // other differing values
	minSeq       uint64           // the lowest _seq of a differing target row
}

// fixes suggests the likely fixes of a table's differences.
func (j *tableJob) fixes(fx fixFacts) []string {
	res := j.res
	cfg := j.v.opts.ConfigPath
	if cfg == "" {
		cfg = "FILE"
	}
	snapshot := fmt.Sprintf("odsync snapshot -c %s --table %s", cfg, res.Table)
	var out []string
	c := res.Columns
	if len(c.MissingInTarget) > 0 || len(c.TypeDiffs) > 0 {
		out = append(out, fmt.Sprintf("the target has not applied the source's schema change (check odsync's log; it applies DDL when it reads the change), then copy the table again: %s", snapshot))
	}
	var cols []string
	for col := range fx.nullInTarget {
		cols = append(cols, col)
	}
	slices.Sort(cols)
	for _, col := range cols {
		out = append(out, fmt.Sprintf("column %s is NULL in the target in %d rows where the source has a value: rows written before ALTER TABLE … ADD COLUMN %s … DEFAULT keep NULL in the change log; copy the table again: %s",
			col, fx.nullInTarget[col], col, snapshot))
	}
	if res.Diffs.Missing > 0 || fx.otherValues > 0 {
		fix := "rows differ: copy the table again: " + snapshot
		if fx.minSeq > 0 {
			fix += fmt.Sprintf("; or, when the change log still holds the right rows, deliver it again from the first differing row: odsync replay -c %s --sink %s --from %d", cfg, j.sink.Name, fx.minSeq)
		}
		out = append(out, fix)
	}
	if res.Diffs.Extra > 0 {
		out = append(out, fmt.Sprintf("%d keys are in the target but not in the source (deleted without a binlog event, or written by something else): a snapshot does not remove them; rebuild the ODS table (drop it, then %s) or delete them there", res.Diffs.Extra, snapshot))
	}
	return out
}
