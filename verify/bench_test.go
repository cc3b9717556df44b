package verify

import (
	"bytes"
	"testing"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
	"github.com/odsync/odsync/sink/readback"
)

// benchJob returns a comparison of the test table against its default target.
func benchJob(b *testing.B) (*tableJob, [][]event.Value) {
	tg, tbl := testTarget(b, nil)
	j := &tableJob{target: tg, src: &SourceTable{Table: tbl, Collations: make([]string, len(tbl.Columns))}, res: &TableResult{}}
	existing := Layout{Found: true}
	for i := range tg.Columns {
		existing.Existing.Columns = append(existing.Existing.Columns, schema.ExistingColumn{Name: tg.Columns[i].Name, Type: tg.Columns[i].TypeSpec()})
	}
	if _, err := j.prepare(existing); err != nil {
		b.Fatal(err)
	}
	var imgs [][]event.Value
	for i, img := range testImages() {
		full := make([]event.Value, len(tbl.Columns))
		copy(full, img)
		full[0] = event.Uint(uint64(i + 1))
		imgs = append(imgs, full)
	}
	return j, imgs
}

// BenchmarkReduceSourceRows measures the source side per row: the sinks'
// conversion (Target.Row), canonical encoding, hash and key.
func BenchmarkReduceSourceRows(b *testing.B) {
	j, imgs := benchJob(b)
	rows := make([][]event.Value, 1000)
	for i := range rows {
		rows[i] = imgs[i%len(imgs)]
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += len(rows) {
		if _, err := j.reduce(rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkIngestJSONL measures the target side per row: decoding an ODS
// JSON-lines file, canonical encoding and the store's merge.
func BenchmarkIngestJSONL(b *testing.B) {
	j, imgs := benchJob(b)
	var buf bytes.Buffer
	w, err := odsfile.NewEncoder(odsfile.FormatJSONL, &buf, j.target, odsfile.EncoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	const n = 10000
	for i := 0; i < n; i++ {
		img := append([]event.Value(nil), imgs[i%len(imgs)]...)
		img[0] = event.Uint(uint64(i))
		e := &event.Event{Seq: uint64(i + 1), Op: event.OpInsert, Source: j.src.Table.ID, Table: j.src.Table, After: img}
		if err := w.WriteRow(j.target.Row(e, nil)); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := openStore(b.TempDir(), 64<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	j.store = st
	d := odsfile.NewRowReader(j.target)
	var keyBuf, canonBuf, valBuf []byte
	b.SetBytes(int64(buf.Len() / n))
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		err := d.ReadJSONLines(bytes.NewReader(buf.Bytes()), func(row []event.Value) error {
			seq, _ := readback.SeqValue(row[j.meta.seq])
			keyBuf = appendKey(keyBuf[:0], j.keys, row)
			canonBuf = j.canonRow(canonBuf[:0], row)
			return st.put(keyBuf, &targetRow{Seq: seq, Op: 'I', Hash: rowHash(canonBuf), Canon: canonBuf}, valBuf)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := st.flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
