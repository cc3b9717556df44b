package odsync

import (
	"errors"
	"strings"
	"testing"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

const odsyncRow = `{"v":1,"_seq":7,"_op":"U","db":"shop","table":"t","_commit_ts":1700000000000001,` +
	`"_pos":{"file":"binlog.000002","offset":99,"gtid":"0-1-5"},"txn_end":true,"schema_version":"%V",` +
	`"schema":{"columns":[{"name":"id","type":"bigint"},{"name":"v","type":"varchar","nullable":true,"length":5}],"key":[0]},` +
	`"before":["i:1","s:a"],"after":["i:1",null]}`

func odsyncTestMsg(t *testing.T) string {
	tbl := (&event.Table{ID: event.TableID{DB: "shop", Table: "t"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt}, {Name: "v", Type: event.TypeVarchar, Nullable: true, Length: 5}}}).Seal()
	return strings.Replace(odsyncRow, "%V", uintText(tbl.Version), 1)
}

func uintText(v uint64) string {
	var b []byte
	for v > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
	}
	return string(b)
}

func TestOdsyncDecode(t *testing.T) {
	d, err := NewOdsync(codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := d.Decode(nil, []byte(odsyncTestMsg(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Kind != codec.KindRow || ds[0].CommitTs != 7 {
		t.Fatalf("%+v", ds)
	}
	e := ds[0].Events[0]
	if e.Origin != 7 || e.Op != event.OpUpdate || e.Pos.String() != "binlog.000002:99 gtid=0-1-5" || e.CommitTime != 1700000000000001 ||
		!e.Before[1].Equal(event.String("a")) || !e.After[1].IsNull() {
		t.Fatalf("%+v", e)
	}
	// SetPosition keeps the capture's position.
	codec.SetPosition(ds, event.Position{File: "topic/0", Offset: 3})
	if ds[0].Events[0].Pos.File != "binlog.000002" {
		t.Fatalf("position overwritten: %v", ds[0].Events[0].Pos)
	}
	wm, err := d.Decode(nil, []byte(`{"v":1,"_op":"W","_seq":12}`))
	if err != nil || wm[0].Kind != codec.KindWatermark || wm[0].Watermark != 12 {
		t.Fatalf("watermark: %+v %v", wm, err)
	}
}

// TestOdsyncBadInput: every malformed message is a DecodeError naming the
// table, field and column where it can, never a panic.
func TestOdsyncBadInput(t *testing.T) {
	good := odsyncTestMsg(t)
	cases := []struct{ msg, want string }{
		{`{`, "odsync: value: unexpected end"},
		{strings.Replace(good, `"v":1`, `"v":2`, 1), "table shop.t: v: format version 2"},
		{strings.Replace(good, `"_seq":7`, `"_seq":0`, 1), "_seq: missing or 0"},
		{strings.Replace(good, `"_op":"U"`, `"_op":"Q"`, 1), `_op: unknown op "Q"`},
		{strings.Replace(good, `"schema_version":"`, `"schema_version":"1`, 1), "schema_version:"},
		{strings.Replace(good, `"type":"bigint"`, `"type":"huge"`, 1), `column id: unknown type "huge"`},
		{strings.Replace(good, `"key":[0]`, `"key":[5]`, 1), "schema.key: key column 5 of 2 columns"},
		{strings.Replace(good, `"s:a"`, `"a"`, 1), "before: column v: value"},
		{strings.Replace(good, `"i:1",null`, `"i:x",null`, 1), "after: column id: value"},
		{strings.Replace(good, `["i:1","s:a"]`, `["i:1"]`, 1), "before: 1 values for 2 columns"},
		{strings.Replace(good, `"after":["i:1",null]`, `"x":0`, 1), "update event without its row image"},
	}
	for _, c := range cases {
		d, _ := NewOdsync(codec.Config{})
		_, err := d.Decode(nil, []byte(c.msg))
		if err == nil || !errors.Is(err, codec.ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %q", c.msg, err, c.want)
		}
	}
}

func TestParseOdsyncValue(t *testing.T) {
	good := map[string]event.Value{
		"i:-9223372036854775808": event.Int(-9223372036854775808), "u:18446744073709551615": event.Uint(18446744073709551615),
		"f:1.5": event.Float32(1.5), "F:-2.5e+300": event.Float64(-2.5e300), "d:-0.10": event.Decimal("-0.10"),
		"s:": event.String(""), "S:/w==": event.String("\xff"), "b:AP8=": event.Bytes([]byte{0, 0xff}),
		"D:0000-00-00": event.Date(0, 0, 0), "T:2024-02-29 23:59:59.000001": event.DateTime(2024, 2, 29, 23, 59, 59, 1),
		"T:0000-00-00 00:00:00": event.DateTime(0, 0, 0, 0, 0, 0, 0), "Z:-1": event.TimestampMicros(-1),
		"t:-3020399000000": event.TimeMicros(-3020399000000), "y:0": event.Year(0), "j:{}": event.JSON("{}"),
		"J:/w==": event.JSON("\xff"), "B:5": event.Bits(5), "e:2:b:c": event.Enum(2, "b:c"), "E:3:x,y": event.Set(3, "x,y"),
	}
	for in, want := range good {
		got, err := ParseOdsyncValue(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "i", "i:", "x:1", "u:-1", "D:2024-01", "T:2024-01-01", "T:2024-01-01 00:00:00.5", "e:1", "b:!!", "f:1e99"} {
		if _, err := ParseOdsyncValue(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

func FuzzOdsync(f *testing.F) {
	f.Add([]byte(strings.Replace(odsyncRow, "%V", "1", 1)))
	f.Add([]byte(`{"v":1,"_op":"W","_seq":12}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, _ := NewOdsync(codec.Config{})
		ds, err := d.Decode(nil, b)
		if err != nil && !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("error without ErrMalformed: %v", err)
		}
		for _, u := range ds {
			for _, e := range u.Events {
				if e.Table != nil && e.Op != event.OpDDL && len(e.Row()) != len(e.Table.Columns) {
					t.Fatalf("row of %d values for %d columns", len(e.Row()), len(e.Table.Columns))
				}
			}
		}
	})
}
