// Package codectest runs the golden tests of the Kafka format decoders
// (capture/kafka/canal, open, debezium, maxwell, odsync): each package's
// testdata files hold messages and the units they decode to, rendered as
// text, and every unit is checked against the invariants all decoders
// keep. Only tests import it.
package codectest

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// Decoder is a Kafka format decoder.
type Decoder interface {
	Decode(key, value []byte) ([]codec.Decoded, error)
}

// Golden describes a decoder's golden files.
type Golden struct {
	// Protocol is the default codec.Config.Protocol ("protocol=" overrides).
	Protocol string
	// New returns the decoder for a case's config.
	New func(codec.Config) (Decoder, error)
	// OpenBatchVersion, when non-zero, makes cases open-protocol batches:
	// lines "k <key JSON>" and "v <value JSON>" (or "v" for an empty value)
	// framed after this version, or "raw-key <hex>" and "raw-value <hex>".
	OpenBatchVersion uint64
}

// Run runs the golden file at path (rewrite it with -rewrite). Each case is
//
//	decode [tz=Zone] [compression=none] [require-ext] [protocol=...]
//	<message>
//	----
//	<decoded units rendered as text, or "error: ...">
//
// Except for open-protocol batches, an optional first line "key: <text>" is
// the Kafka key and the rest is the value ("<empty>" for none). Every error
// must match codec.ErrMalformed.
func (g Golden) Run(t *testing.T, path string) {
	datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
		if td.Cmd != "decode" {
			t.Fatalf("%s: unknown command %q", td.Pos, td.Cmd)
		}
		cfg := codec.Config{Protocol: g.Protocol}
		for _, a := range td.CmdArgs {
			switch a.Key {
			case "tz":
				cfg.TimeZone = a.Vals[0]
			case "compression":
				cfg.Compression = a.Vals[0]
			case "require-ext":
				cfg.RequireTiDBExtension = true
			case "protocol":
				cfg.Protocol = a.Vals[0]
			default:
				t.Fatalf("%s: unknown argument %q", td.Pos, a.Key)
			}
		}
		dec, err := g.New(cfg)
		if err != nil {
			t.Fatalf("%s: %v", td.Pos, err)
		}
		key, value, err := g.Message(td.Input)
		if err != nil {
			t.Fatalf("%s: %v", td.Pos, err)
		}
		ds, err := dec.Decode(key, value)
		if err != nil {
			if !errors.Is(err, codec.ErrMalformed) {
				t.Errorf("%s: error does not match ErrMalformed: %v", td.Pos, err)
			}
			return "error: " + err.Error() + "\n"
		}
		for _, d := range ds {
			Check(t, td.Pos, d)
		}
		return Render(ds)
	})
}

// Message returns the Kafka key and value of a case's input (see Run).
func (g Golden) Message(input string) (key, value []byte, err error) {
	if g.OpenBatchVersion != 0 {
		key = binary.BigEndian.AppendUint64(nil, g.OpenBatchVersion)
		var keys, vals [][]byte
		for _, line := range strings.Split(input, "\n") {
			line = strings.TrimSpace(line)
			switch {
			case line == "":
			case strings.HasPrefix(line, "raw-key "):
				if key, err = hex.DecodeString(strings.ReplaceAll(line[8:], " ", "")); err != nil {
					return nil, nil, err
				}
			case strings.HasPrefix(line, "raw-value "):
				if value, err = hex.DecodeString(strings.ReplaceAll(line[10:], " ", "")); err != nil {
					return nil, nil, err
				}
			case strings.HasPrefix(line, "k "):
				keys = append(keys, []byte(line[2:]))
			case line == "v":
				vals = append(vals, nil)
			case strings.HasPrefix(line, "v "):
				vals = append(vals, []byte(line[2:]))
			default:
				return nil, nil, fmt.Errorf("bad open-protocol line %q", line)
			}
		}
		return AppendFrames(key, keys), AppendFrames(value, vals), nil
	}
	if strings.HasPrefix(input, "key: ") {
		line, rest, _ := strings.Cut(input, "\n")
		key = []byte(strings.TrimPrefix(line, "key: "))
		input = rest
	}
	if strings.TrimSpace(input) == "<empty>" {
		return key, nil, nil
	}
	return key, []byte(input), nil
}

// AppendFrames appends open-protocol frames (a big-endian length, then the
// bytes) to b.
func AppendFrames(b []byte, frames [][]byte) []byte {
	for _, f := range frames {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// Check asserts the invariants every decoded unit satisfies.
func Check(t *testing.T, pos string, d codec.Decoded) {
	t.Helper()
	switch d.Kind {
	case codec.KindRow:
		for _, ev := range d.Events {
			if ev.Table == nil {
				t.Errorf("%s: row event without table", pos)
				continue
			}
			if ev.Source != ev.Table.ID {
				t.Errorf("%s: source %v != table %v", pos, ev.Source, ev.Table.ID)
			}
			switch ev.Op {
			case event.OpInsert, event.OpRead:
				if ev.After == nil || ev.Before != nil {
					t.Errorf("%s: %s images before=%v after=%v", pos, ev.Op, ev.Before != nil, ev.After != nil)
				}
			case event.OpDelete:
				if ev.Before == nil || ev.After != nil {
					t.Errorf("%s: delete images before=%v after=%v", pos, ev.Before != nil, ev.After != nil)
				}
			case event.OpUpdate:
				if ev.After == nil {
					t.Errorf("%s: update without after", pos)
				}
			default:
				t.Errorf("%s: row event with op %s", pos, ev.Op)
			}
			for _, img := range [][]event.Value{ev.Before, ev.After} {
				if img == nil {
					continue
				}
				if len(img) != len(ev.Table.Columns) {
					t.Errorf("%s: image has %d values for %d columns", pos, len(img), len(ev.Table.Columns))
					continue
				}
				for i, v := range img {
					if !kindFits(ev.Table.Columns[i], v.Kind()) {
						t.Errorf("%s: column %s (%s) holds a %s value", pos, ev.Table.Columns[i].Name, ev.Table.Columns[i].Type, v.Kind())
					}
				}
			}
			if ev.Table.Version == 0 {
				t.Errorf("%s: table not sealed", pos)
			}
		}
	case codec.KindDDL:
		if len(d.Events) != 1 || d.Events[0].Op != event.OpDDL || d.Events[0].DDL == "" {
			t.Errorf("%s: bad DDL unit %+v", pos, d)
		}
	case codec.KindWatermark:
		if d.Watermark == 0 || len(d.Events) != 0 {
			t.Errorf("%s: bad watermark unit %+v", pos, d)
		}
	case codec.KindSkip:
		if d.Reason == "" || len(d.Events) != 0 {
			t.Errorf("%s: bad skip unit %+v", pos, d)
		}
	default:
		t.Errorf("%s: unknown kind %v", pos, d.Kind)
	}
}

// kindFits reports whether a value kind is what a column type holds.
func kindFits(c event.Column, k event.Kind) bool {
	if k == event.KindNull {
		return true
	}
	switch c.Type {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		if c.Unsigned {
			return k == event.KindUint
		}
		return k == event.KindInt
	case event.TypeDecimal:
		return k == event.KindDecimal
	case event.TypeFloat:
		return k == event.KindFloat32
	case event.TypeDouble:
		return k == event.KindFloat64
	case event.TypeBit:
		return k == event.KindBits
	case event.TypeChar, event.TypeVarchar, event.TypeText:
		return k == event.KindString
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector:
		return k == event.KindBytes
	case event.TypeEnum:
		return k == event.KindEnum
	case event.TypeSet:
		return k == event.KindSet
	case event.TypeDate:
		return k == event.KindDate
	case event.TypeDateTime:
		return k == event.KindDateTime
	case event.TypeTimestamp:
		return k == event.KindTimestamp
	case event.TypeTime:
		return k == event.KindTime
	case event.TypeYear:
		return k == event.KindYear
	case event.TypeJSON:
		return k == event.KindJSON
	case event.TypeUnknown:
		return true
	}
	return false
}

// Render renders decoded units as the golden files show them.
func Render(ds []codec.Decoded) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Kind.String())
		if d.CommitTs != 0 {
			fmt.Fprintf(&b, " commitTs=%d", d.CommitTs)
		}
		if d.Watermark != 0 {
			fmt.Fprintf(&b, " watermark=%d (%s)", d.Watermark, renderMicros(codec.TSOToMicros(d.Watermark)))
		}
		if d.HandleKeyOnly {
			b.WriteString(" handle-key-only")
		}
		if d.ClaimCheck != "" {
			fmt.Fprintf(&b, " claim-check=%q", d.ClaimCheck)
		}
		if d.Reason != "" {
			fmt.Fprintf(&b, " reason=%q", d.Reason)
		}
		b.WriteString("\n")
		for _, ev := range d.Events {
			renderEvent(&b, &ev)
		}
	}
	return b.String()
}

func renderMicros(us int64) string {
	return time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z")
}

func renderEvent(b *strings.Builder, ev *event.Event) {
	fmt.Fprintf(b, "  %s %s commit=%s", ev.Op, ev.Source, renderMicros(ev.CommitTime))
	if ev.TxnEnd {
		b.WriteString(" txn-end")
	}
	b.WriteString("\n")
	if ev.DDL != "" {
		fmt.Fprintf(b, "    ddl: %s\n", ev.DDL)
	}
	if ev.Table != nil {
		var keys []string
		for _, k := range ev.Table.Key {
			keys = append(keys, ev.Table.Columns[k].Name)
		}
		fmt.Fprintf(b, "    table %s key=[%s]\n", ev.Table.ID, strings.Join(keys, ","))
		for _, c := range ev.Table.Columns {
			fmt.Fprintf(b, "      %s\n", renderColumn(c))
		}
	}
	renderImage(b, "before", ev.Table, ev.Before)
	renderImage(b, "after", ev.Table, ev.After)
}

func renderColumn(c event.Column) string {
	s := c.Name + " " + c.Type.String()
	if c.Unsigned {
		s += " unsigned"
	}
	if c.Length != 0 {
		s += " len=" + strconv.FormatUint(uint64(c.Length), 10)
	}
	if c.Precision != 0 {
		s += " prec=" + strconv.Itoa(int(c.Precision))
	}
	if c.Scale != 0 {
		s += " scale=" + strconv.Itoa(int(c.Scale))
	}
	if len(c.Elems) > 0 {
		s += " elems=" + strconv.Quote(strings.Join(c.Elems, ","))
	}
	if c.Charset != "" {
		s += " charset=" + c.Charset
	}
	if !c.Nullable {
		s += " not-null"
	}
	return s + " raw=" + strconv.Quote(c.RawType)
}

func renderImage(b *strings.Builder, name string, tbl *event.Table, img []event.Value) {
	if img == nil {
		return
	}
	fmt.Fprintf(b, "    %s:\n", name)
	for i, v := range img {
		col := fmt.Sprintf("#%d", i)
		if tbl != nil && i < len(tbl.Columns) {
			col = tbl.Columns[i].Name
		}
		fmt.Fprintf(b, "      %s = %s\n", col, renderValue(v))
	}
}

func renderValue(v event.Value) string {
	switch v.Kind() {
	case event.KindNull:
		return "NULL"
	case event.KindBytes:
		return "bytes:0x" + hex.EncodeToString([]byte(v.Str()))
	case event.KindString, event.KindJSON, event.KindDecimal:
		return v.Kind().String() + ":" + strconv.Quote(v.Str())
	case event.KindEnum:
		return fmt.Sprintf("enum:%d:%q", v.Int(), v.Str())
	case event.KindSet:
		return fmt.Sprintf("set:%#x:%q", v.Uint(), v.Str())
	case event.KindBits:
		return fmt.Sprintf("bits:%#x", v.Uint())
	}
	return v.String()
}
