package maxcompute

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

func allTypesEvents(t testing.TB) (*schema.Target, []event.Event) {
	tbl := allTypesTable()
	m := newMapper(t, allTypesMapping())
	tg, err := m.Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for i, row := range allTypesRows() {
		op := event.OpInsert
		if i == 1 {
			op = event.OpDelete
		}
		e := event.Event{Seq: uint64(100 + i), Op: op, Source: tbl.ID, Table: tbl, After: row,
			CommitTime: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).UnixMicro() + int64(i),
			Pos:        event.Position{File: "binlog.000001", Offset: uint64(1000 + i)}}
		if op == event.OpDelete {
			e.Before, e.After = row, nil
		}
		evs = append(evs, e)
	}
	return tg, evs
}

// TestEncoderMatchesSDK checks that the encoder writes exactly the bytes the
// unmodified SDK's stream writer sends for the same rows (converted with
// TargetColumn.MaxComputeValue), for every target kind, and that the
// emulator's validating decoder accepts them.
func TestEncoderMatchesSDK(t *testing.T) {
	tg, evs := allTypesEvents(t)
	kinds := map[schema.Kind]bool{}
	for _, c := range tg.Columns {
		kinds[c.Kind] = true
	}
	for k := schema.KindBoolean; k <= schema.KindStringArray; k++ {
		if !kinds[k] {
			t.Errorf("the test table has no %s column", k)
		}
	}

	e := startEmu(t, "")
	o, tun := e.sdk()
	execSQL(t, o, tg.MaxComputeCreate(schema.MaxComputeOptions{}))
	sess, err := tun.CreateStreamUploadSession(testProject, tg.Name,
		tunnel.SessionCfg.WithPartitionKey("ds=20240301"), tunnel.SessionCfg.WithCreatePartition())
	if err != nil {
		t.Fatal(err)
	}
	w := sess.OpenRecordPackWriter()
	enc := newEncoder(newLayout(tg), 0)
	for _, ev := range evs {
		row, err := tg.CheckedRow(&ev, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Append(row); err != nil {
			t.Fatalf("seq %d: %v", ev.Seq, err)
		}
		rec := data.NewRecord(len(row))
		for i := range row {
			v, err := tg.Columns[i].MaxComputeValue(row[i])
			if err != nil {
				t.Fatalf("seq %d column %s: %v", ev.Seq, tg.Columns[i].Name, err)
			}
			rec[i] = sdkData(t, &tg.Columns[i], v)
		}
		if err := w.Append(rec); err != nil {
			t.Fatalf("SDK append seq %d: %v", ev.Seq, err)
		}
	}
	e.mu.Lock()
	e.record = true
	e.mu.Unlock()
	if _, _, _, err := w.Flush(); err != nil {
		t.Fatalf("SDK flush (the emulator validates every value): %v", err)
	}
	e.mu.Lock()
	puts := e.puts
	e.mu.Unlock()
	if len(puts) != 1 {
		t.Fatalf("%d PUTs recorded, want 1", len(puts))
	}
	got := enc.Finish()
	if !bytes.Equal(got, puts[0]) {
		i := 0
		for i < len(got) && i < len(puts[0]) && got[i] == puts[0][i] {
			i++
		}
		t.Fatalf("encoder output differs from the SDK's at byte %d of %d/%d:\nours %s\nsdk  %s", i, len(got), len(puts[0]),
			hex.EncodeToString(got[max(0, i-8):min(len(got), i+24)]), hex.EncodeToString(puts[0][max(0, i-8):min(len(puts[0]), i+24)]))
	}
	if enc.Records() != int64(len(evs)) {
		t.Errorf("Records = %d", enc.Records())
	}
	// Finish is idempotent.
	if again := enc.Finish(); !bytes.Equal(again, got) {
		t.Error("second Finish changed the stream")
	}
	if err := enc.Append(nil); err == nil {
		t.Error("Append after Finish succeeded")
	}
}

func TestEncoderRefusesValues(t *testing.T) {
	tg, _ := allTypesEvents(t)
	idx := func(name string) int {
		i := tg.ColumnIndex(name)
		if i < 0 {
			t.Fatalf("no column %s", name)
		}
		return i
	}
	cases := []struct {
		col  string
		v    event.Value
		want string
	}{
		{"id", event.Int(math.MinInt64), "out of range"},
		{"_seq", event.Uint(math.MaxUint64), "out of range"},
		{"ti", event.Int(128), "out of range"},
		{"si", event.Int(-32769), "out of range"},
		{"i", event.Int(1 << 31), "out of range"},
		{"s", event.String(string(make([]byte, maxFieldBytes+1))), "field limit"},
		{"dt", event.Date(0, 1, 1), "outside"},
		{"dt", event.Date(2024, 1, 0), "zero date"},
		{"dt", event.Date(10000, 1, 1), "outside"},
		{"ts", event.TimestampMicros(math.MaxInt64), "outside"},
		{"dtm", event.DateTime(2024, 0, 1, 0, 0, 0, 0), "zero date"},
		{"dec", event.String("x"), ""},
		{"dec", event.Decimal(""), "empty decimal"},
		{"f", event.String("1.5"), "unexpected"},
		{"dtm2", event.DateTime(2024, 1, 1, 0, 0, 0, 0), "unexpected"},
	}
	for _, c := range cases {
		enc := newEncoder(newLayout(tg), 0)
		row := make([]event.Value, len(tg.Columns))
		row[idx(c.col)] = c.v
		err := enc.Append(row)
		if err == nil {
			if c.want == "" {
				continue // a string is a fine DECIMAL wire value; the server checks the text
			}
			t.Errorf("%s = %v: no error", c.col, c.v)
			continue
		}
		if !errors.Is(err, errValue) || !bytes.Contains([]byte(err.Error()), []byte(c.want)) || !bytes.Contains([]byte(err.Error()), []byte(c.col)) {
			t.Errorf("%s = %v: error %v, want errValue naming the column and %q", c.col, c.v, err, c.want)
		}
		if enc.Len() != 0 || enc.Records() != 0 {
			t.Errorf("%s: a refused row left %d bytes", c.col, enc.Len())
		}
	}
	if err := newEncoder(newLayout(tg), 0).Append(make([]event.Value, len(tg.Columns)+1)); !errors.Is(err, errValue) {
		t.Errorf("a row longer than the layout: %v", err)
	}
}

func TestDaysFromCivil(t *testing.T) {
	for _, d := range []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(1600, 2, 28, 0, 0, 0, 0, time.UTC),
	} {
		if got, want := event.DaysFromCivil(d.Year(), int(d.Month()), d.Day()), d.Unix()/86400; got != want {
			t.Errorf("%s: %d, want %d", d.Format("2006-01-02"), got, want)
		}
	}
	// Overflowing days count on like time.Date (MySQL ALLOW_INVALID_DATES).
	if got, want := event.DaysFromCivil(2023, 2, 30), time.Date(2023, 2, 30, 0, 0, 0, 0, time.UTC).Unix()/86400; got != want {
		t.Errorf("2023-02-30: %d, want %d", got, want)
	}
}
