package tidb

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/capture/kafka/codec"
)

// State is what the log says about the switch-over, for Check.
type State struct {
	// Known: the log could be read (it is locked while odsync runs).
	Known bool
	// TSO is the stored snapshot TSO (0: no snapshot taken yet).
	TSO uint64
	// SnapshotDone: every table is in the log; Streaming: the changefeed
	// consumer has stored a position.
	SnapshotDone, Streaming bool
}

// ReadState reads the switch-over state from the log's store and checkpoint.
func ReadState(st Store, checkpoint []byte) (State, error) {
	s := State{Known: true}
	tso, err := StoredTSO(st)
	if err != nil {
		return s, err
	}
	s.TSO = tso
	switch {
	case checkpoint == nil:
	case IsCheckpoint(checkpoint):
		cp, err := DecodeCheckpoint(checkpoint)
		if err != nil {
			return s, err
		}
		s.SnapshotDone = cp.Done
	default:
		s.SnapshotDone, s.Streaming = true, true
	}
	return s, nil
}

// gcSafePointLayout is how TiDB writes tikv_gc_safe_point.
const gcSafePointLayout = "20060102-15:04:05.000 -0700"

// Check connects to TiDB and the changefeed's brokers and reports the
// switch-over: the server, the GC safe point against the snapshot TSO
// (a snapshot not yet done must read at a TSO the GC has not passed),
// and, before the consumer has a position, whether every partition of the
// changefeed begins at or before the TSO (else changes between the TSO
// and the partition's first message may be missing: a gap). Problems are
// returned as failed lines (ok false).
func Check(ctx context.Context, cfg Config, k kafka.SourceConfig, st State) (lines []string, ok bool, err error) {
	cfg.EnsureDefaults()
	ok = true
	s := &Source{cfg: cfg}
	db, err := s.open()
	if err != nil {
		return nil, false, err
	}
	defer db.Close()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT tidb_version()").Scan(&version); err != nil {
		return nil, false, fmt.Errorf("tidb: %w (is source.tidb.dsn a TiDB server?)", err)
	}
	lines = append(lines, "tidb: "+firstLine(version))
	safe, life, err := gcSafePoint(ctx, db)
	if err != nil {
		return lines, false, err
	}
	lines = append(lines, fmt.Sprintf("tidb: GC safe point %s, tidb_gc_life_time %s", safe.UTC().Format(time.RFC3339Nano), life))
	now, err := CurrentTSO(ctx, db)
	if err != nil {
		return lines, false, fmt.Errorf("tidb: current TSO: %w", err)
	}
	switch {
	case !st.Known:
		lines = append(lines, "tidb: the state directory is in use (odsync runs): the snapshot TSO is not checked; stop odsync to check it")
		return lines, ok, nil
	case st.TSO == 0:
		lines = append(lines, fmt.Sprintf("tidb: no snapshot yet: the first run takes the TSO (now %s); create the changefeed with --start-ts at or before it", kafka.FormatTSO(now)))
		return lines, ok, nil
	}
	tsoTime := time.UnixMicro(codec.TSOToMicros(st.TSO))
	switch {
	case st.SnapshotDone:
		lines = append(lines, fmt.Sprintf("tidb: snapshot at TSO %s done", kafka.FormatTSO(st.TSO)))
	case !tsoTime.After(safe):
		ok = false
		lines = append(lines, fmt.Sprintf("tidb: FAILED: the snapshot TSO %s is not after the GC safe point %s: the rest of the snapshot cannot be read at it; start over with a new state.dir and raise tidb_gc_life_time above the snapshot's duration",
			kafka.FormatTSO(st.TSO), safe.UTC().Format(time.RFC3339Nano)))
	default:
		lines = append(lines, fmt.Sprintf("tidb: snapshot at TSO %s running; it is %s after the GC safe point (keep tidb_gc_life_time above the snapshot's duration)",
			kafka.FormatTSO(st.TSO), tsoTime.Sub(safe).Round(time.Second)))
	}
	if st.Streaming {
		lines = append(lines, "tidb: the changefeed is read from the stored positions (changes at or before the TSO are dropped)")
		return lines, ok, nil
	}
	olds, err := kafka.OldestTimestamps(ctx, k)
	if err != nil {
		return lines, false, err
	}
	for _, o := range olds {
		what := "first change"
		if o.Watermark {
			what = "first watermark"
		}
		switch {
		case o.Offset >= o.End:
			lines = append(lines, fmt.Sprintf("changefeed %s/%d: empty so far", o.Topic, o.Partition))
		case o.TS == 0:
			ok = false
			lines = append(lines, fmt.Sprintf("changefeed %s/%d: FAILED: the first fetched messages carry no TiCDC timestamp: is the changefeed writing with enable-tidb-extension=true?", o.Topic, o.Partition))
		case o.TS > st.TSO:
			ok = false
			lines = append(lines, fmt.Sprintf("changefeed %s/%d: FAILED: its oldest retained message (offset %d, %s %s) is after the snapshot TSO %s: changes committed in between may be missing (a gap). Create the changefeed with --start-ts=%d (or earlier), before retention deletes its first messages",
				o.Topic, o.Partition, o.Offset, what, kafka.FormatTSO(o.TS), kafka.FormatTSO(st.TSO), st.TSO))
		default:
			lines = append(lines, fmt.Sprintf("changefeed %s/%d: begins at %s %s, at or before the snapshot TSO: no gap", o.Topic, o.Partition, what, kafka.FormatTSO(o.TS)))
		}
	}
	return lines, ok, nil
}

// gcSafePoint reads the GC safe point and life time from mysql.tidb.
func gcSafePoint(ctx context.Context, db *sql.DB) (time.Time, string, error) {
	rows, err := db.QueryContext(ctx, "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM mysql.tidb WHERE VARIABLE_NAME IN ('tikv_gc_safe_point', 'tikv_gc_life_time')")
	if err != nil {
		return time.Time{}, "", fmt.Errorf("tidb: reading the GC safe point: %w", err)
	}
	defer rows.Close()
	var safe time.Time
	life := "unknown"
	found := false
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return time.Time{}, "", err
		}
		switch name {
		case "tikv_gc_safe_point":
			t, err := time.Parse(gcSafePointLayout, value)
			if err != nil {
				return time.Time{}, "", fmt.Errorf("tidb: tikv_gc_safe_point %q: %w", value, err)
			}
			safe, found = t, true
		case "tikv_gc_life_time":
			life = value
		}
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, "", err
	}
	if !found {
		return time.Time{}, "", fmt.Errorf("tidb: mysql.tidb has no tikv_gc_safe_point: snapshot reads (tidb_snapshot) fail until the GC has run once")
	}
	return safe, life, nil
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
