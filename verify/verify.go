package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// Options tune a verification run. Call EnsureDefaults, then Validate.
type Options struct {
	// ChunkSize is the number of source rows per chunk (default 10000).
	ChunkSize int
	// Checksum is how chunks are compared: ChecksumRows (default) reads
	// every source row; ChecksumSQL has the source server compute each
	// chunk's count and checksum and reads only the rows of chunks that
	// differ (sqlsum.go).
	Checksum string
	// RowsPerSecond limits reads from the source (0: unlimited).
	RowsPerSecond float64
	// MemoryBudget bounds the memory of the on-disk store that holds the
	// target's rebuilt state (memtables and cache; default 64MiB). Source
	// chunks add ChunkSize rows.
	MemoryBudget int64
	// TempDir holds the temporary store ("": the system's temp directory).
	// It needs room for the target's latest rows of the largest table.
	TempDir string
	// Rounds is the number of re-check rounds for keys that differ
	// (default 4; a difference is confirmed by two consecutive rounds).
	Rounds int
	// Wait bounds how long each re-check round waits for the sink to catch
	// up with the source position of the snapshot (default 2m). Set it
	// above the sink's file latency (S3: max_age).
	Wait time.Duration
	// Settle is how long the sink must write nothing to count as caught up
	// when its progress cannot be compared with the source position
	// (default 5s).
	Settle time.Duration
	// Poll is the interval of progress polls while waiting (default 250ms).
	Poll time.Duration
	// Examples is the number of example keys listed per chunk (default 5).
	Examples int
	// MaxChunks is the number of chunks with differences listed per table
	// (default 20).
	MaxChunks int
	// StatusURL is odsync's admin status endpoint (http://host:port/status);
	// when set, catching up is decided from the running odsync's source
	// checkpoint and sink cursors.
	StatusURL string
	// ConfigPath is the configuration file, for the commands the report
	// suggests ("" renders as FILE).
	ConfigPath string
	// Progress, when set, receives progress updates.
	Progress func(Progress)
	// HTTPClient is used for StatusURL (default: a client with a 10s timeout).
	HTTPClient *http.Client
}

// Progress is a progress update.
type Progress struct {
	Table, Sink   string
	Phase         string
	Rows          int64
	EstimatedRows int64
	Chunks        int
}

// EnsureDefaults fills unset fields.
func (o *Options) EnsureDefaults() {
	if o.ChunkSize == 0 {
		o.ChunkSize = 10000
	}
	if o.Checksum == "" {
		o.Checksum = ChecksumRows
	}
	if o.MemoryBudget == 0 {
		o.MemoryBudget = 64 << 20
	}
	if o.Rounds == 0 {
		o.Rounds = 4
	}
	if o.Wait == 0 {
		o.Wait = 2 * time.Minute
	}
	if o.Settle == 0 {
		o.Settle = 5 * time.Second
	}
	if o.Poll == 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Examples == 0 {
		o.Examples = 5
	}
	if o.MaxChunks == 0 {
		o.MaxChunks = 20
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
}

// Validate reports every problem at once.
func (o *Options) Validate() error {
	var errs []error
	if o.ChunkSize < 1 || o.ChunkSize > 1_000_000 {
		errs = append(errs, fmt.Errorf("chunk size %d: want 1..1000000", o.ChunkSize))
	}
	if o.Checksum != ChecksumRows && o.Checksum != ChecksumSQL {
		errs = append(errs, fmt.Errorf("checksum %q: want %s or %s", o.Checksum, ChecksumRows, ChecksumSQL))
	}
	if o.RowsPerSecond < 0 {
		errs = append(errs, fmt.Errorf("rate %g: must not be negative", o.RowsPerSecond))
	}
	if o.MemoryBudget < 16<<20 {
		errs = append(errs, fmt.Errorf("memory budget %d: at least 16MiB", o.MemoryBudget))
	}
	if o.Rounds < 2 || o.Rounds > 100 {
		errs = append(errs, fmt.Errorf("rounds %d: want 2..100 (a difference is confirmed by two rounds)", o.Rounds))
	}
	if o.Wait <= 0 || o.Settle <= 0 || o.Poll <= 0 {
		errs = append(errs, errors.New("wait, settle and poll intervals must be positive"))
	}
	if o.Examples < 0 || o.MaxChunks < 0 {
		errs = append(errs, errors.New("examples and max chunks must not be negative"))
	}
	if o.StatusURL != "" && !strings.HasPrefix(o.StatusURL, "http://") && !strings.HasPrefix(o.StatusURL, "https://") {
		errs = append(errs, fmt.Errorf("status URL %q: want http(s)://host:port/status", o.StatusURL))
	}
	return errors.Join(errs...)
}

// Sink is one sink to verify: its name (as in the configuration) and a
// reader of its ODS tables.
type Sink struct {
	Name   string
	Reader TargetReader
	// System is the sink's target system (schema.Config.System: its type
	// limits decide the expected rows); "" is schema.SystemFiles.
	System schema.System
}

// Verifier compares source tables with the ODS tables of sinks.
type Verifier struct {
	opts    Options
	src     *Source
	mapping schema.Config
	sinks   []Sink
	// caught is, per sink, the source watermark the sink was last found
	// caught up with: while the source does not move, the next table need
	// not wait again.
	caught map[string]Watermark
	// rev is set when verifying a reverse job (reverse.go): src is then
	// the MySQL sink's target and the one sink reads the warehouse.
	rev *reverseRun
}

// New returns a verifier. mapping is the configuration's mapping section
// (the same the sinks map with).
func New(src *Source, mapping schema.Config, sinks []Sink, opts Options) (*Verifier, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if src == nil || len(sinks) == 0 {
		return nil, errors.New("verify: a source and at least one sink are required")
	}
	mapping.EnsureDefaults()
	if _, err := schema.New(mapping); err != nil {
		return nil, fmt.Errorf("verify: mapping: %w", err)
	}
	return &Verifier{opts: opts, src: src, mapping: mapping, sinks: sinks}, nil
}

func (v *Verifier) progress(p Progress) {
	if v.opts.Progress != nil {
		v.opts.Progress(p)
	}
}

// Tables returns the captured source tables, or those of only (db.table
// names; an unknown or uncaptured name is an error).
func (v *Verifier) Tables(ctx context.Context, only []string) ([]event.TableID, error) {
	if v.rev != nil {
		return v.rev.tables(ctx, only)
	}
	m, err := schema.New(v.mapping)
	if err != nil {
		return nil, err
	}
	all, err := v.src.Tables(ctx, m.Captures)
	if err != nil {
		return nil, err
	}
	if len(only) == 0 {
		return all, nil
	}
	var out []event.TableID
	var errs []error
	for _, name := range only {
		db, table, ok := strings.Cut(name, ".")
		if !ok || db == "" || table == "" {
			errs = append(errs, fmt.Errorf("--table %q: want db.table", name))
			continue
		}
		found := false
		for _, id := range all {
			if strings.EqualFold(id.DB, db) && strings.EqualFold(id.Table, table) {
				out = append(out, id)
				found = true
				break
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("--table %s: no such table, or it is not captured by the mapping", name))
		}
	}
	return out, errors.Join(errs...)
}

// Run verifies every table against every sink.
func (v *Verifier) Run(ctx context.Context, tables []event.TableID) (*Report, error) {
	rep := &Report{Started: time.Now().UTC()}
	for _, sk := range v.sinks {
		mc := v.mapping
		if sk.System != "" {
			mc.System = sk.System
		}
		mapper, err := schema.New(mc)
		if err != nil {
			return nil, err
		}
		for _, id := range tables {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			res := v.verifyTable(ctx, mapper, sk, id)
			rep.Tables = append(rep.Tables, res)
		}
	}
	rep.Finished = time.Now().UTC()
	rep.summarize()
	return rep, ctx.Err()
}

// verifyTable verifies one table against one sink; every failure ends up
// in the result.
func (v *Verifier) verifyTable(ctx context.Context, mapper *schema.Mapper, sk Sink, id event.TableID) TableResult {
	res := TableResult{Table: id.String(), Sink: sk.Name, Timing: map[string]any{}}
	start := time.Now()
	err := v.verifyTableErr(ctx, mapper, sk, id, &res)
	if err != nil {
		res.Status = StatusError
		res.Error = err.Error()
	}
	if v.rev != nil {
		v.rev.reverseResult(&res, id)
		res.Fixes = v.reverseFixes(&res, sk.Name)
	}
	res.Timing["total_s"] = elapsed(start)
	return res
}

func (v *Verifier) verifyTableErr(ctx context.Context, mapper *schema.Mapper, sk Sink, id event.TableID, res *TableResult) error {
	st, err := v.src.Table(ctx, id)
	if err != nil {
		return err
	}
	if st == nil && v.rev != nil {
		return v.reverseTargetMissing(ctx, id, res)
	}
	if st == nil {
		return fmt.Errorf("source table %s does not exist", id)
	}
	base, err := mapper.TargetName(id)
	if err != nil {
		return err
	}
	res.Target = base
	if b, ok := sk.Reader.(interface{ bindSource(event.TableID, string) }); ok {
		b.bindSource(id, base) // a reader of tables named like the source's (MySQLReader)
	}
	layout, err := sk.Reader.Layout(ctx, base)
	if err != nil {
		return err
	}
	// First wait until the sink has durably received the source's current
	// position (bounded by Wait): a sink that has not uploaded or committed
	// yet is not a mismatch.
	w0, err := v.src.Watermark(ctx)
	if err != nil {
		return err
	}
	v.progress(Progress{Table: res.Table, Sink: sk.Name, Phase: "waiting for the sink to receive the source position"})
	t0 := time.Now()
	name := base
	if layout.Found {
		name = layout.Name
	}
	prev, seen := v.caught[sk.Name]
	caught := seen && prev.samePosition(w0)
	if v.rev != nil {
		// Reverse: wait until the job has applied what the warehouse
		// holds completely; compare at the job's checkpoint.
		if caught, err = v.reverseWait(ctx, res); err != nil {
			return err
		}
	} else if !caught {
		if caught, err = v.waitCaughtUp(ctx, sk, name, w0); err != nil {
			return err
		}
		if caught {
			if v.caught == nil {
				v.caught = map[string]Watermark{}
			}
			v.caught[sk.Name] = w0
		}
	}
	res.Timing["wait_s"] = elapsed(t0)
	if !caught && v.rev == nil {
		res.Notes = append(res.Notes, fmt.Sprintf("the sink did not durably receive the source position %s within --wait %s", w0, v.opts.Wait))
	}
	if layout, err = sk.Reader.Layout(ctx, base); err != nil {
		return err
	}
	if !layout.Found {
		return v.targetMissing(ctx, st, res, caught)
	}
	if len(layout.Existing.Columns) == 0 {
		// No schema recorded: assume the mapping's own layout.
		fresh, err := mapper.Target(st.Table)
		if err != nil {
			return err
		}
		for i := range fresh.Columns {
			layout.Existing.Columns = append(layout.Existing.Columns, schema.ExistingColumn{Name: fresh.Columns[i].Name, Type: fresh.Columns[i].TypeSpec()})
		}
	}
	plan, err := mapper.Reconcile(st.Table, layout.Existing)
	if err != nil {
		return fmt.Errorf("the target's layout does not fit the source table: %w", err)
	}
	if plan.New == nil {
		return fmt.Errorf("no target layout for %s", id)
	}
	t := *plan.New
	t.Name = layout.Name
	j := &tableJob{v: v, sink: sk, src: st, target: &t, res: res}
	ok, err := j.prepare(layout)
	if err != nil {
		return err
	}
	j.columnCheck(layout, plan)
	if !ok {
		res.Status = StatusError
		if len(res.Notes) > 0 {
			res.Error = res.Notes[len(res.Notes)-1]
			res.Notes = res.Notes[:len(res.Notes)-1]
		}
		return nil
	}
	if j.keyless {
		if v.opts.Checksum == ChecksumSQL {
			res.Notes = append(res.Notes, "a table without a key is compared by its rows, not by server checksums")
		}
		read0 := v.src.rowsRead
		defer func() { res.Checksum, res.SourceRowsRead = ChecksumRows, v.src.rowsRead-read0 }()
		return j.runKeyless(ctx)
	}
	if j.store, err = openStore(v.opts.TempDir, v.opts.MemoryBudget); err != nil {
		return err
	}
	defer j.store.close()
	t0 = time.Now()
	v.progress(Progress{Table: res.Table, Sink: sk.Name, Phase: "reading the target"})
	if err := j.ingest(ctx); err != nil {
		return err
	}
	res.Timing["read_target_s"] = elapsed(t0)
	t1 := time.Now()
	read0, keys0 := v.src.rowsRead, v.src.keysRead
	defer func() { res.SourceRowsRead, res.SourceKeysRead = v.src.rowsRead-read0, v.src.keysRead-keys0 }()
	res.Checksum = ChecksumRows
	var plan1 *sumPlan
	if v.opts.Checksum == ChecksumSQL {
		var why string
		if plan1, why = j.planSum(); why != "" {
			res.Notes = append(res.Notes, "compared row by row, not by server checksums: "+why)
		}
	}
	if plan1 != nil {
		res.Checksum = ChecksumSQL
		err = j.pass1SQL(ctx, plan1)
	} else {
		err = j.pass1(ctx)
	}
	if err != nil {
		return err
	}
	res.Timing["compare_s"] = elapsed(t1)
	t2 := time.Now()
	if err := j.recheck(ctx); err != nil {
		return err
	}
	res.Timing["recheck_s"] = elapsed(t2)
	if err := j.finish(); err != nil {
		return err
	}
	switch {
	case !res.Columns.Match || res.Diffs.confirmed() > 0:
		res.Status = StatusMismatch
	case res.Diffs.Unsettled > 0:
		res.Status = StatusUnsettled
	default:
		res.Status = StatusMatch
	}
	return nil
}

// targetMissing reports a source table whose ODS table does not exist:
// a match only when the source table is empty.
func (v *Verifier) targetMissing(ctx context.Context, st *SourceTable, res *TableResult, caught bool) error {
	var n int64
	q := "SELECT COUNT(*) FROM " + quoteID(st.Table.ID.DB) + "." + quoteID(st.Table.ID.Table)
	if err := v.src.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return fmt.Errorf("count source rows: %w", err)
	}
	res.SourceRows = n
	res.Columns.SourceColumns = len(st.Table.Columns)
	if n == 0 {
		res.Status = StatusMatch
		res.Columns.Match = true
		res.Notes = append(res.Notes, "the target table does not exist and the source table is empty")
		return nil
	}
	if !caught {
		res.Status = StatusUnsettled
		res.Diffs.Unsettled = n
		res.Notes = append(res.Notes, "the target table does not exist yet and the sink has not caught up: raise --wait, or check that odsync runs")
		return nil
	}
	res.Status = StatusMismatch
	res.Diffs.Missing = n
	res.Notes = append(res.Notes, "the target table does not exist")
	return nil
}

// notAfter reports whether a target row (nil: none) was written for a
// change no later than watermark w: then, with the sink caught up past w,
// a difference between it and a snapshot taken at w is real. Without
// binlog positions it compares commit times, conservatively (commit times
// have one-second resolution).
func (v *Verifier) notAfter(r *targetRow, w Watermark) bool {
	if r == nil {
		return true
	}
	if v.rev != nil {
		// Reverse: r is the warehouse's change, w the _seq the job had
		// applied before the target was read (0: unknown).
		if !w.Applied {
			return false
		}
		// A static table (another tool's, loaded once) does not change.
		return v.rev.static || r.Seq <= w.Seq
	}
	if w.HasPos() {
		if p, ok := parsePos(r.Pos); ok && sameLog(p.file, w.File) {
			return comparePos(p, w.File, w.Offset) <= 0
		}
	}
	return r.Commit+time.Second.Microseconds() <= w.Micros
}

// waitCaughtUp waits until the sink has written every change up to the
// source watermark w, or Wait passes (then it returns false).
func (v *Verifier) waitCaughtUp(ctx context.Context, sk Sink, table string, w Watermark) (bool, error) {
	if v.rev != nil {
		return v.reverseCaughtUp(ctx, w)
	}
	deadline := time.Now().Add(v.opts.Wait)
	var lastSeq uint64
	var lastPos string
	quietSince := time.Now()
	first := true
	var st *statusWaiter
	if v.opts.StatusURL != "" {
		st = &statusWaiter{url: v.opts.StatusURL, client: v.opts.HTTPClient, sink: sk.Name}
	}
	for {
		if st != nil {
			if ok, err := st.caughtUp(ctx, w); err == nil && ok {
				return true, nil
			}
		}
		p, err := sk.Reader.Progress(ctx, table)
		if err != nil {
			return false, err
		}
		if v.covers(p, w) {
			return true, nil
		}
		if first || p.Seq != lastSeq || p.Pos != lastPos {
			lastSeq, lastPos, first = p.Seq, p.Pos, false
			quietSince = time.Now()
		} else if p.Durable && time.Since(quietSince) >= v.opts.Settle && (st == nil || st.failed != nil) {
			// Nothing new for a while and no better signal: settled.
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		t := time.NewTimer(v.opts.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
	}
}

// covers reports whether sink progress p includes every change up to w.
func (v *Verifier) covers(p SinkProgress, w Watermark) bool {
	if p.CompleteBeforeMicros > 0 && p.CompleteBeforeMicros > w.Micros {
		return true
	}
	if p.Pos == "" {
		return false
	}
	pos, ok := parsePos(p.Pos)
	if !ok {
		return false
	}
	if w.HasPos() && sameLog(pos.file, w.File) && comparePos(pos, w.File, w.Offset) >= 0 {
		return true
	}
	if c, ok := gtidCovers(pos.gtid, w.GTID, v.src.uuid); ok && c {
		return true
	}
	return false
}
