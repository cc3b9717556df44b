package verify

import (
	"context"
	"fmt"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink/readback"
)

// A table without a key cannot be compared row by row: its rows have no
// identity. It is compared as a whole: the row count and an
// order-independent checksum of the multiset of rows (the sum of the row
// hashes, modulo 2^64). The target's multiset is rebuilt from the change
// log: an inserted (or copied) row adds its hash, a deleted row (the
// change log holds its old values) subtracts it. An update of a keyless
// table records only the new row, so a log with updates cannot be
// rebuilt: that is reported, with the fix (a key in mapping.tables[].key).
//
// Both sides must describe the same moment: the source is scanned in one
// statement (one consistent read), then verify waits until the sink has
// durably received the source position read before it, and reads the
// target (targetAggregate: the latest snapshot of the table plus the
// changes after its position). A difference is reported when two consecutive rounds in which
// the sink caught up agree; a table that keeps changing is unsettled.

// aggregate is a multiset checksum.
type aggregate struct {
	rows int64
	sum  uint64
}

func (a aggregate) String() string { return fmt.Sprintf("%d rows %016x", a.rows, a.sum) }

// runKeyless verifies a keyless table in rounds.
func (j *tableJob) runKeyless(ctx context.Context) error {
	res := j.res
	res.Notes = append(res.Notes, "the table has no primary key or unique NOT NULL key: compared by row count and checksum only (no per-row differences); configure mapping.tables[].key for row-level checks")
	confirms := 0
	var last struct{ src, tgt aggregate }
	for round := 0; round < j.v.opts.Rounds; round++ {
		res.Rounds = round + 1
		t0 := time.Now()
		src, w, err := j.sourceAggregate(ctx)
		if err != nil {
			return err
		}
		caught, err := j.v.waitCaughtUp(ctx, j.sink, j.target.Name, w)
		if err != nil {
			return err
		}
		tgt, updates, err := j.targetAggregate(ctx)
		if err != nil {
			return err
		}
		res.Timing[fmt.Sprintf("round%d_s", round+1)] = elapsed(t0)
		res.SourceRows, res.TargetRows = src.rows, tgt.rows
		res.SourceChecksum, res.TargetChecksum = fmt.Sprintf("%016x", src.sum), fmt.Sprintf("%016x", tgt.sum)
		res.Chunks = 1
		if updates > 0 {
			res.Status = StatusError
			res.Error = fmt.Sprintf("the change log holds %d updates of a table without a key: an update records only the new row, so the table's rows cannot be rebuilt; configure mapping.tables[].key", updates)
			return nil
		}
		if src == tgt {
			res.Status = StatusMatch
			return nil
		}
		switch {
		case !caught:
			confirms = 0
		case confirms > 0 && src == last.src && tgt == last.tgt:
			confirms++
		default:
			confirms = 1
		}
		last.src, last.tgt = src, tgt
		if confirms >= 2 {
			res.Status = StatusMismatch
			res.BadChunks = 1
			switch d := src.rows - tgt.rows; {
			case d > 0:
				res.Diffs.Missing = d
			case d < 0:
				res.Diffs.Extra = -d
			default:
				res.Diffs.Changed = 1 // same count, different rows: at least one
			}
			res.Fixes = j.fixes(fixFacts{nullInTarget: map[string]int64{}, otherValues: res.Diffs.Changed})
			return nil
		}
	}
	res.Status = StatusUnsettled
	res.Diffs.Unsettled = 1
	res.Notes = append(res.Notes, "the table's count or checksum kept changing through every round (a busy table without a key cannot be compared while it changes)")
	return nil
}

// sourceAggregate scans the source table in one statement.
func (j *tableJob) sourceAggregate(ctx context.Context) (aggregate, Watermark, error) {
	var a aggregate
	st := j.src
	t := st.Table
	w, err := j.v.src.Watermark(ctx)
	if err != nil {
		return a, w, err
	}
	q := "SELECT " + st.rows.SelectList() + " FROM " + quoteID(t.ID.DB) + "." + quoteID(t.ID.Table)
	rows, err := j.v.src.db.QueryContext(ctx, q)
	if err != nil {
		return a, w, fmt.Errorf("verify: table %s: scan: %w", t.ID, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return a, w, err
	}
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	var img, trow []event.Value
	var canon []byte
	batch := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return a, w, err
		}
		if img, err = st.rows.Values(img, raw); err != nil {
			return a, w, fmt.Errorf("verify: table %s: %w", t.ID, err)
		}
		e := event.Event{Op: event.OpRead, Source: t.ID, Table: t, After: img}
		trow = j.target.Row(&e, trow)
		canon = j.sourceCanonRow(canon[:0], trow, img)
		a.rows++
		a.sum += rowHash(canon)
		j.v.src.rowsRead++
		if batch++; batch == 1000 {
			if err := j.v.src.limit.wait(ctx, batch); err != nil {
				return a, w, err
			}
			batch = 0
		}
	}
	if err := rows.Err(); err != nil {
		return a, w, fmt.Errorf("verify: table %s: scan: %w", t.ID, err)
	}
	return a, w, j.v.src.limit.wait(ctx, batch)
}

// targetAggregate rebuilds the table's multiset from its change log. A
// snapshot copies a keyless table in one pass at one source position: its
// rows (_op R, all with that _pos) are the whole table at that position,
// so changes at or before it are already in them and are skipped, and an
// earlier snapshot's rows are superseded. Changes after the latest
// snapshot apply: an insert adds its row, a delete subtracts it. updates
// counts the update rows after it (which cannot be applied).
func (j *tableJob) targetAggregate(ctx context.Context) (aggregate, int64, error) {
	var a aggregate
	var updates int64
	id := j.src.Table.ID
	mine := func(row []event.Value) bool {
		return j.meta.srcDB < 0 || j.meta.srcTable < 0 ||
			row[j.meta.srcDB].Str() == id.DB && row[j.meta.srcTable].Str() == id.Table
	}
	// Pass 1: the latest snapshot (highest _seq of an R row) and its _pos.
	var snapSeq uint64
	snapPos := ""
	_, err := j.sink.Reader.Scan(ctx, j.target, Mark{}, func(row []event.Value) error {
		if !mine(row) || row[j.meta.op].Str() != "R" {
			return nil
		}
		seq, _ := readback.SeqValue(row[j.meta.seq])
		if seq > snapSeq {
			snapSeq = seq
			if j.meta.pos >= 0 {
				snapPos = row[j.meta.pos].Str()
			}
		}
		return nil
	})
	if err != nil {
		return a, 0, fmt.Errorf("read target %s: %w", j.target.Name, err)
	}
	snap, snapOK := parsePos(snapPos)
	var canon []byte
	// before reports whether a change row is already in the latest snapshot.
	before := func(row []event.Value, seq uint64) bool {
		if snapSeq == 0 {
			return false
		}
		if snapOK && j.meta.pos >= 0 {
			if p, ok := parsePos(row[j.meta.pos].Str()); ok && sameLog(p.file, snap.file) {
				return comparePos(p, snap.file, snap.offset) <= 0
			}
		}
		return seq < snapSeq // without comparable positions: log order
	}
	// Pass 2: the latest snapshot's rows (those with its _pos) and the
	// changes after it.
	_, err = j.sink.Reader.Scan(ctx, j.target, Mark{}, func(row []event.Value) error {
		if !mine(row) {
			return nil
		}
		seq, _ := readback.SeqValue(row[j.meta.seq])
		op := row[j.meta.op].Str()
		if op == "R" {
			if snapSeq > 0 && j.meta.pos >= 0 && row[j.meta.pos].Str() != snapPos {
				return nil // an earlier snapshot
			}
		} else if before(row, seq) {
			return nil
		}
		canon = j.canonRow(canon[:0], row)
		h := rowHash(canon)
		switch op {
		case "D":
			a.rows--
			a.sum -= h
		case "U":
			updates++
		default:
			a.rows++
			a.sum += h
		}
		return nil
	})
	if err != nil {
		return a, 0, fmt.Errorf("read target %s: %w", j.target.Name, err)
	}
	return a, updates, nil
}
