package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
	"github.com/odsync/odsync/sink/odsfile"
)

// Schema evolution, as the other sinks do it (see schema.Mapper):
//
//  1. Once per target and process, before its first row or schema change,
//     the mapper is reconciled (Mapper.Reconcile) with the layout the
//     target has at the cursor: the last layout change before it recorded
//     in state.json (see headAt), else the bucket's current.json (or its
//     newest schema file). A schema change is acknowledged only once it
//     is published (5), so the bucket has every layout change before the
//     cursor; it may have later ones, which the replay plans again. So a restart never starts a different layout for the same
//     table: a column dropped in the source stays in place (NULL) and CSV
//     columns never shift.
//  2. Every schema change event, and every row of a table version the
//     layout does not fit yet, goes through Mapper.Resolve, which plans
//     the change and moves the head.
//  3. A row whose layout differs from its open file's cuts that file: an
//     object holds one layout.
//  4. When the head of a target changes, the change is queued and
//     published in order by one goroutine: {table}/_schema/v{layout}.json
//     and, for parquet and csv, the Athena DDL v{layout}.sql; then
//     current.sql and current.json, copies of the current layout's files.
//  5. The event that moved the head is acknowledged only after its change
//     is published (the watermark stops before it): a crash before that
//     replays it from the log, and the change is planned and queued again.

// Names of the current-layout pointers under {table}/_schema/.
const (
	currentSchema = "current.json"
	currentDDL    = "current.sql"
)

// resolve returns the target of a row or schema change event, reconciling
// the target first and recording a new head. Called with s.mu held.
func (s *Sink) resolve(ctx context.Context, e *event.Event) (*schema.Target, error) {
	if t := s.resolved[e.Table]; t != nil && e.Op != event.OpDDL {
		return t, nil
	}
	if err := s.reconcile(ctx, e); err != nil {
		return nil, err
	}
	t, plan, err := s.mapper.Resolve(e.Table)
	if err != nil {
		return nil, fmt.Errorf("%w: s3 sink: table %s at %s (seq %d): %w", sink.ErrPermanent, e.Source, e.Pos, e.Seq, err)
	}
	if plan != nil && !plan.Empty() {
		s.lg.Info("s3 sink: schema change", "source", e.Source.String(), "position", e.Pos.String(), "seq", e.Seq,
			"target", t.Name, "plan", strings.TrimSpace(plan.String()))
		clear(s.resolved) // other tables of the target are aligned anew
	}
	if err := s.noteHead(t, e.Seq); err != nil {
		return nil, err
	}
	s.resolved[e.Table] = t
	return t, nil
}

// noteHead records t's layout as its target's head (at event seq); a
// change is queued for publication. Called with s.mu held.
func (s *Sink) noteHead(t *schema.Target, seq uint64) error {
	lv, _ := s.layoutOf(t)
	if s.unverified[t.BaseName] {
		if _, ok := s.st.Unverified[t.BaseName]; !ok {
			if s.st.Unverified == nil {
				s.st.Unverified = map[string]headRef{}
			}
			s.st.Unverified[t.BaseName] = headRef{Table: t.Name, Layout: lv}
		}
	}
	h, ok := s.st.Heads[t.BaseName]
	if ok && h.Table == t.Name && h.Layout == lv {
		return nil
	}
	if s.st.Heads == nil {
		s.st.Heads = map[string]headRef{}
	}
	s.st.Heads[t.BaseName] = headRef{Table: t.Name, Layout: lv}
	p := publication{Seq: seq, Base: t.BaseName, Table: t.Name, Layout: lv, PrevTable: h.Table, Prev: h.Layout, Schema: string(t.SchemaJSON())}
	var prev *schema.Target
	if ok && h.Table == t.Name {
		if l := s.layouts[h.Layout]; l != nil {
			prev = l.Target
		}
	}
	p.DDL = s.athenaDDL(p, t, prev)
	s.st.Publish = append(s.st.Publish, p)
	return s.noteHeadAt(headAt{Seq: seq, Base: t.BaseName, Table: t.Name, Layout: lv, Schema: p.Schema, Target: t})
}

// reconcile makes the layout a target has (see the file comment) the
// mapper's current one, once per target and process. Called with s.mu held.
func (s *Sink) reconcile(ctx context.Context, e *event.Event) error {
	base, err := s.mapper.TargetName(e.Table.ID)
	if err != nil {
		return fmt.Errorf("%w: s3 sink: table %s at %s (seq %d): %w", sink.ErrPermanent, e.Source, e.Pos, e.Seq, err)
	}
	if s.reconciled[base] {
		return nil
	}
	ex, where, err := s.existing(ctx, base)
	if errors.Is(err, errBucketLayout) {
		// Keep taking rows in (S3 may be down for long); the layout is
		// checked against the bucket before the target's first upload.
		s.lg.Warn("s3 sink: cannot read the bucket for the layout of ODS table "+base+
			"; using the mapping's layout, checked against the bucket before the first upload",
			"source", e.Source.String(), "err", err)
		s.unverified[base] = true
		err, where = nil, ""
	}
	if err != nil {
		return fmt.Errorf("s3 sink: table %s: reading the layout of ODS table %s: %w", e.Source, base, err)
	}
	if where != "" {
		plan, err := s.mapper.Reconcile(e.Table, ex)
		if err != nil {
			return fmt.Errorf("%w: s3 sink: table %s at %s (seq %d): reconciling with the layout in %s: %w",
				sink.ErrPermanent, e.Source, e.Pos, e.Seq, where, err)
		}
		msg := "s3 sink: continuing the existing layout"
		args := []any{"target", plan.New.Name, "from", where, "source", e.Source.String()}
		if !plan.Empty() {
			msg = "s3 sink: the existing layout needs changes made while odsync was down"
			args = append(args, "plan", strings.TrimSpace(plan.String()))
		}
		s.lg.Info(msg, args...)
		clear(s.resolved)
	}
	s.reconciled[base] = true
	return nil
}

// existing finds the layout the target has: where is "" when it has none.
func (s *Sink) existing(ctx context.Context, base string) (ex schema.Existing, where string, err error) {
	if h := s.headBefore(base, s.from); h != nil {
		// The layout in force at the cursor (the bucket may have a later one).
		ex, err = schema.ParseSchemaJSON([]byte(h.Schema))
		if err != nil {
			return ex, "", fmt.Errorf("%w: %s: layout %s-%s: %v", sink.ErrPermanent, s.statePath(), h.Table, hex16(h.Layout), err)
		}
		// The head in force, as the first run had it (the next change's
		// Athena DDL alters from it).
		if s.st.Heads == nil {
			s.st.Heads = map[string]headRef{}
		}
		s.st.Heads[base] = headRef{Table: h.Table, Layout: h.Layout}
		if _, ok := s.layouts[h.Layout]; !ok && h.Target != nil {
			s.layouts[h.Layout] = &layout{Target: h.Target, Schema: h.Schema}
		}
		return ex, s.statePath() + " (layout " + h.Table + " " + hex16(h.Layout) + " from seq " + fmt.Sprint(h.Seq) + ")", nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	key, body, err := s.store.currentLayout(cctx, s.cfg.Prefix, base)
	if err != nil {
		if ctx.Err() != nil {
			return ex, "", ctx.Err()
		}
		return ex, "", fmt.Errorf("%w: %w", errBucketLayout, err)
	}
	if body == nil {
		return ex, "", nil
	}
	ex, err = schema.ParseSchemaJSON(body)
	if err != nil {
		return ex, "", fmt.Errorf("%w: s3://%s/%s: %v", sink.ErrPermanent, s.cfg.Bucket, key, err)
	}
	return ex, "s3://" + s.cfg.Bucket + "/" + key, nil
}

var (
	errBucketLayout   = errors.New("reading the layout in the bucket")
	errLayoutConflict = errors.New("the bucket's layout conflicts with the spooled one")
)

// verifyBucket checks the layout a target was spooled with while the
// bucket could not be read against the bucket, once: the bucket must have
// no layout for the target, or one whose columns (names and types) start
// the spooled layout's. A conflict is permanent (errLayoutConflict): the
// spooled rows are kept and nothing is uploaded.
func (s *Sink) verifyBucket(ctx context.Context, base string) error {
	s.mu.Lock()
	u, ok := s.st.Unverified[base]
	l := s.layouts[u.Layout]
	s.mu.Unlock()
	if !ok || l == nil {
		return nil
	}
	key, body, err := s.store.currentLayout(ctx, s.cfg.Prefix, base)
	if err != nil {
		return err
	}
	if body != nil {
		have, err := schema.ParseSchemaJSON(body)
		if err != nil {
			return fmt.Errorf("%w: s3://%s/%s: %v", errLayoutConflict, s.cfg.Bucket, key, err)
		}
		mine, err := schema.ParseSchemaJSON([]byte(l.Schema))
		if err != nil {
			return fmt.Errorf("%w: layout %s-%s: %v", errLayoutConflict, u.Table, hex16(u.Layout), err)
		}
		if !layoutPrefix(have, mine) {
			return fmt.Errorf("%w: ODS table %s: the bucket's layout s3://%s/%s (%s) is not where the rows taken in while S3 was unreachable continue (%s); "+
				"they stay in the log: move the table's objects aside and restart",
				errLayoutConflict, u.Table, s.cfg.Bucket, key, columnList(have), columnList(mine))
		}
	}
	s.mu.Lock()
	if cur, ok := s.st.Unverified[base]; ok && cur == u {
		delete(s.st.Unverified, base)
		delete(s.unverified, base)
	}
	s.mu.Unlock()
	s.lg.Info("s3 sink: the spooled layout continues the bucket's", "target", u.Table, "bucket_layout", key)
	return nil
}

// layoutPrefix reports whether have's columns (name and type) start
// mine's, in the same table version.
func layoutPrefix(have, mine schema.Existing) bool {
	if have.Version != mine.Version || len(have.Columns) > len(mine.Columns) {
		return false
	}
	for i, c := range have.Columns {
		if !strings.EqualFold(c.Name, mine.Columns[i].Name) || !strings.EqualFold(c.Type, mine.Columns[i].Type) {
			return false
		}
	}
	return true
}

func columnList(ex schema.Existing) string {
	var cols []string
	for _, c := range ex.Columns {
		cols = append(cols, c.Name+" "+c.Type)
	}
	return strings.Join(cols, ", ")
}

// publisher publishes layout changes in order until ctx is done.
func (s *Sink) publisher(ctx context.Context) {
	for ctx.Err() == nil {
		s.mu.Lock()
		changed := s.progress
		wait := time.Second
		var p publication
		ready := s.failed == nil && len(s.st.Publish) > 0
		if ready && time.Now().Before(s.pubRetryAt) {
			ready, wait = false, time.Until(s.pubRetryAt)
		}
		if ready {
			p = s.st.Publish[0]
		}
		s.mu.Unlock()
		if !ready {
			sleepUntil(ctx, wait, changed)
			continue
		}
		err := s.verifyBucket(ctx, p.Base)
		if errors.Is(err, errLayoutConflict) {
			s.fail(err)
			return
		}
		if err == nil {
			err = s.publish(ctx, p)
		}
		var acks []accepted
		s.mu.Lock()
		if err != nil {
			if ctx.Err() == nil {
				s.pubAttempts++
				wait := backoff.Attempt(s.pubAttempts, 200*time.Millisecond, s.cfg.MaxBackoff)
				s.pubRetryAt = time.Now().Add(wait)
				s.lastErr = err
				s.lg.Warn("s3 sink: publishing a schema change failed; retrying", "table", p.Table,
					"layout", hex16(p.Layout), "attempt", s.pubAttempts, "backoff", wait, "err", err)
			}
		} else {
			s.pubAttempts = 0
			if len(s.st.Publish) > 0 && s.st.Publish[0] == p {
				s.st.Publish = s.st.Publish[1:]
				acks = s.advance()
				s.signal()
			}
		}
		s.mu.Unlock()
		s.fire(acks, nil)
	}
}

// publish puts the files of one layout change: the layout's schema file
// (unless there), its Athena DDL, then current.sql and current.json.
func (s *Sink) publish(ctx context.Context, p publication) error {
	if err := s.putSchema(ctx, p.Table, p.Layout, p.Schema); err != nil {
		return err
	}
	if p.DDL != "" {
		for _, name := range []string{fmt.Sprintf("%s/_schema/v%016x.sql", p.Table, p.Layout), p.Table + "/_schema/" + currentDDL} {
			if err := s.store.putBytes(ctx, objectKey(s.cfg.Prefix, name), []byte(p.DDL), "application/sql"); err != nil {
				return err
			}
		}
	}
	return s.store.putBytes(ctx, objectKey(s.cfg.Prefix, p.Table+"/_schema/"+currentSchema), []byte(p.Schema), "application/json")
}

// putSchema puts the schema file of a layout unless the bucket has it: an
// older layout's file is never rewritten, so the newest schema file (by
// modification time) stays the current layout's.
func (s *Sink) putSchema(ctx context.Context, table string, lv uint64, content string) error {
	key := objectKey(s.cfg.Prefix, odsfile.SchemaName(table, lv))
	s.mu.Lock()
	have := s.schemaDone[key]
	s.mu.Unlock()
	if have {
		return nil
	}
	ok, err := s.store.exists(ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.store.putBytes(ctx, key, []byte(content), "application/json"); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.schemaDone[key] = true
	s.mu.Unlock()
	return nil
}

// athenaDDL renders the Athena/Glue DDL of a layout change: the CREATE
// EXTERNAL TABLE of the new layout t and, when the target had a layout
// prev before, the ALTER TABLE statements that bring a table created from
// it up to date. Column definitions come from t only (a layout loaded from
// disk lacks the source types the comments name). "" for jsonl.
func (s *Sink) athenaDDL(p publication, t, prev *schema.Target) string {
	if s.cfg.Format == odsfile.FormatJSONL {
		return ""
	}
	o := s.cfg.AthenaOptions("")
	var b strings.Builder
	fmt.Fprintf(&b, "-- odsync: Athena/Glue DDL of ODS table %s, layout %016x (schema file v%016x.json).\n", t.Name, p.Layout, p.Layout)
	if prev != nil {
		if alter := layoutChange(prev, t).Athena(o); len(alter) > 0 {
			fmt.Fprintf(&b, "-- A table created from layout %016x: run these statements in order.\n", p.Prev)
			for _, a := range alter {
				b.WriteString(a + ";\n")
			}
		}
	}
	b.WriteString("-- A new table:\n")
	b.WriteString(t.AthenaCreate(o) + ";\n")
	return b.String()
}

// layoutChange is the plan from layout old to layout cur of the same
// table: columns dropped, widened, added (in the order evolve plans them).
// Every rendered column definition is cur's: the drop step's table lists
// old's columns as cur defines them (REPLACE COLUMNS then already has the
// new types; the CHANGE COLUMN after it is a no-op).
func layoutChange(old, cur *schema.Target) *schema.Plan {
	p := &schema.Plan{Old: old, New: cur}
	var dropped, added []schema.TargetColumn
	var widen []schema.Step
	before := *old
	before.Columns = nil
	for i := range old.Columns {
		oc := &old.Columns[i]
		j := cur.ColumnIndex(oc.Name)
		switch {
		case j < 0:
			dropped = append(dropped, *oc)
			before.Columns = append(before.Columns, *oc)
			continue
		case cur.Columns[j].TypeSpec() != oc.TypeSpec():
			widen = append(widen, schema.Step{Kind: schema.StepWidenColumn, Table: &before, Column: cur.Columns[j], From: *oc})
		}
		before.Columns = append(before.Columns, cur.Columns[j])
	}
	for i := range cur.Columns {
		if old.ColumnIndex(cur.Columns[i].Name) < 0 {
			added = append(added, cur.Columns[i])
		}
	}
	if len(dropped) > 0 {
		p.Steps = append(p.Steps, schema.Step{Kind: schema.StepDropColumns, Table: &before, Columns: dropped})
	}
	p.Steps = append(p.Steps, widen...)
	if len(added) > 0 {
		p.Steps = append(p.Steps, schema.Step{Kind: schema.StepAddColumns, Table: &before, Columns: added})
	}
	return p
}
