package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/integration/harness"
)

// The Kafka codec conformance kit (docs/kafka.md, "The conformance kit"): one logical change
// stream of table shop.kit, written in every supported format, read by the
// real odsync binary into the local sink; every format must give the same
// ODS rows, equal to the expected table below (after the documented
// mapping, docs/kafka.md). Where a format cannot express something the
// expectation for that format says so, with the reason.

// kitCols are the logical columns in source order; "extra" is added by the
// DDL in the middle of the stream.
var kitCols = []string{"id", "n", "s", "dn", "dw", "f", "bin", "dt", "dd", "j", "en"}

// Source types (MySQL/TiDB):
//
//	id  BIGINT PRIMARY KEY
//	n   INT
//	s   VARCHAR(255) utf8mb4           (TiCDC writes just "varchar")
//	dn  DECIMAL of unknown precision  (TiCDC writes just "decimal"; the values have 30 fraction digits)
//	dw  DECIMAL(65,30)                (TiCDC writes just "decimal" here too)
//	f   DOUBLE
//	bin VARBINARY(16)
//	dt  DATETIME(6)                   (TiCDC: "datetime", no fsp)
//	dd  DATE
//	j   JSON
//	en  ENUM('a','b','c')             (TiCDC: "enum", no members)
//	extra VARCHAR(10)                 (added by ALTER TABLE)
var kitEnum = []string{"a", "b", "c"}

const kitDDL = "ALTER TABLE `shop`.`kit` ADD COLUMN `extra` VARCHAR(10)"

type kitRow map[string]*string

// kitChange is one logical change. For U, before is the full pre-image.
type kitChange struct {
	op            string // I, U, D, DDL
	before, after kitRow
}

func kv(pairs ...string) kitRow {
	r := kitRow{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v := pairs[i+1]
		if v == "\x00NULL" {
			r[pairs[i]] = nil
			continue
		}
		r[pairs[i]] = &v
	}
	return r
}

var (
	dwMax  = "99999999999999999999999999999999999.999999999999999999999999999999"
	dwMin  = "-99999999999999999999999999999999999.999999999999999999999999999999"
	dnPi   = "3.141592653589793238462643383279"
	dnTiny = "0.000000000000000000000000000001" // 1e-30
	dnHalf = "-0.500000000000000000000000000000"
	binA   = "\x00\xff\x10A\"<\\"
	unic   = "héllo 😀 中文 \"q\" \\ <tag>"
)

func kitStream() []kitChange {
	r1 := kv("id", "1", "n", "1", "s", unic, "dn", dnPi, "dw", dwMax, "f", "1.5", "bin", binA,
		"dt", "2024-02-29 12:34:56.123456", "dd", "2024-02-29", "j", `{"a":[1,2],"u":"😀"}`, "en", "b")
	r2 := kv("id", "2", "n", "-7", "s", "", "dn", dnTiny, "dw", dwMin, "f", "-0.25", "bin", "",
		"dt", "0000-00-00 00:00:00", "dd", "0000-00-00", "j", `[]`, "en", "a")
	r3 := kv("id", "3")
	for _, c := range kitCols[1:] {
		r3[c] = nil
	}
	r1u := clone(r1)
	set(r1u, "n", "2")
	set(r1u, "dn", dnHalf)
	r20 := clone(r2)
	set(r20, "id", "20")
	r4 := kv("id", "4", "n", "2147483647", "s", "x", "dn", "0.000000000000000000000000000000", "dw", "0.000000000000000000000000000001",
		"f", "0", "bin", "\x01", "dt", "1000-01-01 00:00:00", "dd", "9999-12-31", "j", `{}`, "en", "c", "extra", "x")
	r3d := clone(r3)
	r3d["extra"] = nil
	return []kitChange{
		{op: "I", after: r1},
		{op: "I", after: r2},
		{op: "I", after: r3},
		{op: "U", before: r1, after: r1u},
		{op: "U", before: r2, after: r20}, // the key changes 2 -> 20
		{op: "DDL"},
		{op: "I", after: r4},
		{op: "D", before: r3d},
	}
}

func clone(r kitRow) kitRow {
	o := kitRow{}
	for k, v := range r {
		o[k] = v
	}
	return o
}

func set(r kitRow, k, v string) { r[k] = &v }

// cols returns the row's columns in source order.
func (r kitRow) cols() []string {
	var out []string
	for _, c := range append(kitCols, "extra") {
		if _, ok := r[c]; ok {
			out = append(out, c)
		}
	}
	return out
}

// ---- expected ODS ----

// codecRow is one ODS change row: the operation and every source column's
// value as text ("NULL" for NULL).
type codecRow struct {
	op   string
	vals map[string]string
}

func (r codecRow) String() string {
	keys := make([]string, 0, len(r.vals))
	for k := range r.vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(r.op)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", k, r.vals[k])
	}
	return b.String()
}

// kitExpected is the expected ODS of the stream under the documented
// mapping (docs/kafka.md, docs/mapping.md), for a format that types every
// column: one row per change (an update row holds the after image, a
// delete row the deleted row), values as the local sink writes them.
//
//   - dn, dw: decimals of unknown precision (TiCDC) or precision > 38 map to
//     STRING holding the exact text as sent (no rounding, 1e-30 as plain
//     text). [depends on h-schema for canal-json and open-protocol, whose
//     "decimal" has no precision: before it lands they map to DECIMAL(10,0)]
//   - bin: BINARY, written by the local sink as base64.
//   - dt, dd: zero dates are NULL in the typed column (the zero text goes
//     to _raw with h-schema; metadata columns are not compared here).
//   - en: the member text.
func kitExpected() []codecRow {
	var out []codecRow
	for _, c := range kitStream() {
		var img kitRow
		switch c.op {
		case "DDL":
			continue
		case "D":
			img = c.before
		default:
			img = c.after
		}
		r := codecRow{op: c.op, vals: map[string]string{}}
		for _, col := range img.cols() {
			v := img[col]
			switch {
			case v == nil:
				r.vals[col] = "NULL"
			case col == "bin":
				r.vals[col] = base64.StdEncoding.EncodeToString([]byte(*v))
			case (col == "dt" || col == "dd") && strings.HasPrefix(*v, "0000"):
				r.vals[col] = "NULL"
			default:
				r.vals[col] = *v
			}
		}
		out = append(out, r)
	}
	return out
}

// ---- formats ----

type kitFormat struct {
	name string
	// source block of the config: type and YAML lines under it.
	kind, protocol, extra string
	// encode writes the stream as Kafka messages (one partition).
	encode func(t *testing.T, s []kitChange) []kh.Message
	// adjust changes the expected rows where the format documentedly
	// differs.
	adjust func(rows []codecRow)
}

func kitFormats() []kitFormat {
	enumIndex := func(rows []codecRow) {
		// TiCDC writes ENUM without its members and the value as the
		// member index: the ODS column holds the index.
		for _, r := range rows {
			if v, ok := r.vals["en"]; ok && v != "NULL" {
				r.vals["en"] = strconv.Itoa(memberIndex(v))
			}
		}
	}
	return []kitFormat{
		{name: "canal-json+tidb-extension", kind: "ticdc", protocol: "canal-json",
			encode: func(t *testing.T, s []kitChange) []kh.Message { return encodeCanal(t, s, canalTiCDC, true) },
			adjust: enumIndex},
		{name: "canal-json", kind: "kafka", protocol: "canal-json",
			encode: func(t *testing.T, s []kitChange) []kh.Message { return encodeCanal(t, s, canalTiCDC, false) },
			adjust: enumIndex},
		{name: "open-protocol", kind: "ticdc", protocol: "open-protocol", encode: encodeOpen, adjust: enumIndex},
		{name: "canal-flat", kind: "kafka", protocol: "canal",
			encode: func(t *testing.T, s []kitChange) []kh.Message { return encodeCanal(t, s, canalFlat, false) }},
		{name: "debezium+schema", kind: "kafka", protocol: "debezium",
			encode: func(t *testing.T, s []kitChange) []kh.Message { return encodeDebezium(t, s, true) }},
		{name: "debezium", kind: "kafka", protocol: "debezium",
			encode: func(t *testing.T, s []kitChange) []kh.Message { return encodeDebezium(t, s, false) },
			adjust: func(rows []codecRow) {
				// Without a schema the type of a value is its JSON kind:
				// Debezium writes DATETIME as epoch microseconds and DATE
				// as epoch days, so they land as those numbers (pin them
				// with a column type override; docs/kafka.md).
				for _, r := range rows {
					for _, c := range []string{"dt", "dd"} {
						if v, ok := r.vals[c]; ok && v != "NULL" {
							r.vals[c] = dbzTemporal(c, v)
						}
					}
				}
			}},
		{name: "maxwell", kind: "kafka", protocol: "maxwell", encode: encodeMaxwell,
			adjust: func(rows []codecRow) {
				// Maxwell has no column types: DATETIME and DATE are JSON
				// strings, so they land as text, zero dates included.
				exp := kitStream()
				i := 0
				for _, c := range exp {
					if c.op == "DDL" {
						continue
					}
					img := c.after
					if c.op == "D" {
						img = c.before
					}
					for _, col := range []string{"dt", "dd"} {
						if v := img[col]; v != nil {
							rows[i].vals[col] = *v
						}
					}
					i++
				}
			}},
	}
}

func memberIndex(m string) int {
	for i, e := range kitEnum {
		if e == m {
			return i + 1
		}
	}
	return 0
}

// jstr is a JSON string literal.
func jstr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// latin1 is how canal-json writes bytes: each byte as the character U+00XX.
func latin1(s string) string {
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}

const kitBaseMs = 1767225600000

type canalFlavor int

const (
	canalTiCDC canalFlavor = iota
	canalFlat
)

// canal-json: TiCDC (mysqlType without parameters, ENUM as index, bytes as
// ISO-8859-1 text) or Alibaba Canal's flat message (full mysqlType, ENUM as
// text, old holds only the changed columns).
func encodeCanal(t *testing.T, s []kitChange, flavor canalFlavor, ext bool) []kh.Message {
	ticdcTypes := map[string]string{"id": "bigint", "n": "int", "s": "varchar", "dn": "decimal", "dw": "decimal",
		"f": "double", "bin": "varbinary", "dt": "datetime", "dd": "date", "j": "json", "en": "enum", "extra": "varchar"}
	flatTypes := map[string]string{"id": "bigint(20)", "n": "int(11)", "s": "varchar(255)", "dn": "decimal(65,30)",
		"dw": "decimal(65,30)", "f": "double", "bin": "varbinary(16)", "dt": "datetime(6)", "dd": "date", "j": "json",
		"en": "enum('a','b','c')", "extra": "varchar(10)"}
	sqlTypes := map[string]int{"id": -5, "n": 4, "s": 12, "dn": 3, "dw": 3, "f": 8, "bin": 2004, "dt": 93, "dd": 91,
		"j": 12, "en": 4, "extra": 12}
	val := func(col string, v *string) string {
		if v == nil {
			return "null"
		}
		switch {
		case col == "bin":
			return jstr(latin1(*v))
		case col == "en" && flavor == canalTiCDC:
			return jstr(strconv.Itoa(memberIndex(*v)))
		}
		return jstr(*v)
	}
	obj := func(r kitRow, cols []string) string {
		var parts []string
		for _, c := range cols {
			parts = append(parts, jstr(c)+":"+val(c, r[c]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	var msgs []kh.Message
	for i, c := range s {
		ts := kh.TSO(kitBaseMs+int64(i)*1000, 0)
		ms := kitBaseMs + int64(i)*1000
		tidb := ""
		if ext {
			tidb = fmt.Sprintf(`,"_tidb":{"commitTs":%d}`, ts)
		}
		if c.op == "DDL" {
			msgs = append(msgs, kh.Message{Value: []byte(fmt.Sprintf(
				`{"id":0,"database":"shop","table":"kit","pkNames":null,"isDdl":true,"type":"ALTER","es":%d,"ts":%d,"sql":%s,"sqlType":null,"mysqlType":null,"data":null,"old":null%s}`,
				ms, ms+5, jstr(kitDDL), tidb))})
			continue
		}
		img := c.after
		if c.op == "D" {
			img = c.before
		}
		cols := img.cols()
		types := ticdcTypes
		if flavor == canalFlat {
			types = flatTypes
		}
		var mt, st []string
		for _, col := range cols {
			mt = append(mt, jstr(col)+":"+jstr(types[col]))
			st = append(st, jstr(col)+":"+strconv.Itoa(sqlTypes[col]))
		}
		old := "null"
		if c.op == "U" {
			oldCols := cols
			if flavor == canalFlat {
				// Canal's old lists only the changed columns.
				oldCols = nil
				for _, col := range cols {
					if fmt.Sprint(deref(c.before[col])) != fmt.Sprint(deref(c.after[col])) {
						oldCols = append(oldCols, col)
					}
				}
			}
			old = "[" + obj(c.before, oldCols) + "]"
		}
		typ := map[string]string{"I": "INSERT", "U": "UPDATE", "D": "DELETE"}[c.op]
		msgs = append(msgs, kh.Message{Value: []byte(fmt.Sprintf(
			`{"id":0,"database":"shop","table":"kit","pkNames":["id"],"isDdl":false,"type":%q,"es":%d,"ts":%d,"sql":"","sqlType":{%s},"mysqlType":{%s},"data":[%s],"old":%s%s}`,
			typ, ms, ms+5, strings.Join(st, ","), strings.Join(mt, ","), obj(img, cols), old, tidb))})
	}
	if ext {
		msgs = append(msgs, kh.Message{Value: kh.CanalWatermark(kh.TSO(kitBaseMs+int64(len(s)+1)*1000, 0))})
	}
	return msgs
}

func deref(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// open-protocol: one event per message, type codes, binary VARBINARY as a
// Go-quoted string body, DECIMAL as text, ENUM as its index.
func encodeOpen(t *testing.T, s []kitChange) []kh.Message {
	codes := map[string]int{"id": 8, "n": 3, "s": 15, "dn": 246, "dw": 246, "f": 5, "bin": 253, "dt": 12, "dd": 10,
		"j": 245, "en": 247, "extra": 15}
	cols := func(r kitRow) string {
		var parts []string
		for _, c := range r.cols() {
			flag := 0x40 // nullable
			h := ""
			if c == "id" {
				flag, h = 0x02|0x08, `"h":true,`
			}
			if c == "bin" {
				flag |= 0x01
			}
			v := "null"
			if p := r[c]; p != nil {
				switch c {
				case "n", "f", "id":
					v = *p
				case "en":
					v = strconv.Itoa(memberIndex(*p))
				case "bin":
					q := strconv.Quote(*p)
					v = jstr(q[1 : len(q)-1])
				default:
					v = jstr(*p)
				}
			}
			parts = append(parts, fmt.Sprintf(`%s:{"t":%d,%s"f":%d,"v":%s}`, jstr(c), codes[c], h, flag, v))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	var msgs []kh.Message
	for i, c := range s {
		ts := kh.TSO(kitBaseMs+int64(i)*1000, 0)
		var ev kh.OpenEvent
		if c.op == "DDL" {
			ev = kh.OpenDDL("shop", "kit", kitDDL, ts)
		} else {
			key := fmt.Sprintf(`{"ts":%d,"scm":"shop","tbl":"kit","t":1}`, ts)
			var v string
			switch c.op {
			case "I":
				v = `{"u":` + cols(c.after) + `}`
			case "U":
				v = `{"u":` + cols(c.after) + `,"p":` + cols(c.before) + `}`
			case "D":
				v = `{"d":` + cols(c.before) + `}`
			}
			ev = kh.OpenEvent{Key: []byte(key), Value: []byte(v)}
		}
		k, v := kh.OpenBatch(ev)
		msgs = append(msgs, kh.Message{Key: k, Value: v})
	}
	k, v := kh.OpenBatch(kh.OpenResolved(kh.TSO(kitBaseMs+int64(len(s)+1)*1000, 0)))
	return append(msgs, kh.Message{Key: k, Value: v})
}

// civil parses "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" as UTC.
func civil(t *testing.T, s string) time.Time {
	layout := "2006-01-02"
	if len(s) > 10 {
		layout = "2006-01-02 15:04:05.999999"
	}
	tm, err := time.Parse(layout, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// dbzTemporal is the number Debezium writes for a DATETIME (epoch µs) or a
// DATE (epoch days), as text.
func dbzTemporal(col, v string) string {
	layout := "2006-01-02"
	if col == "dt" {
		layout = "2006-01-02 15:04:05.999999"
	}
	tm, err := time.Parse(layout, v)
	if err != nil {
		return "unparsable " + v
	}
	if col == "dt" {
		return strconv.FormatInt(tm.UnixMicro(), 10)
	}
	return strconv.FormatInt(tm.Unix()/86400, 10)
}

// unscaled returns a decimal text's unscaled value as Kafka Connect's
// Decimal bytes (big-endian two's complement) and its scale.
func unscaled(t *testing.T, s string) (string, int) {
	scale := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		scale = len(s) - i - 1
		s = s[:i] + s[i+1:]
	}
	x, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("decimal %q", s)
	}
	n := (x.BitLen() + 8) / 8
	if x.Sign() < 0 {
		x.Add(x, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	b := x.Bytes()
	for len(b) < n {
		b = append([]byte{0}, b...)
	}
	return base64.StdEncoding.EncodeToString(b), scale
}

// Debezium (MySQL connector JSON): with the schema (precise decimals,
// MicroTimestamp, Date, Enum, bytes) or without it (values only:
// decimal.handling.mode=string). Debezium cannot carry zero dates (they
// are null) and writes no DDL into the data topic: the new column appears
// in the next row's schema.
func encodeDebezium(t *testing.T, s []kitChange, withSchema bool) []kh.Message {
	field := func(c string) string {
		switch c {
		case "id":
			return `{"type":"int64","optional":false,"field":"id"}`
		case "n":
			return `{"type":"int32","optional":true,"field":"n"}`
		case "s", "extra":
			return fmt.Sprintf(`{"type":"string","optional":true,"field":%q}`, c)
		case "dn":
			return `{"type":"struct","optional":true,"name":"io.debezium.data.VariableScaleDecimal","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"field":"dn"}`
		case "dw":
			return `{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"30","connect.decimal.precision":"65"},"field":"dw"}`
		case "f":
			return `{"type":"double","optional":true,"field":"f"}`
		case "bin":
			return `{"type":"bytes","optional":true,"field":"bin"}`
		case "dt":
			return `{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1,"field":"dt"}`
		case "dd":
			return `{"type":"int32","optional":true,"name":"io.debezium.time.Date","version":1,"field":"dd"}`
		case "j":
			return `{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1,"field":"j"}`
		case "en":
			return `{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"a,b,c"},"field":"en"}`
		}
		t.Fatalf("column %s", c)
		return ""
	}
	val := func(c string, p *string) string {
		if p == nil {
			return "null"
		}
		v := *p
		switch c {
		case "id", "n", "f":
			return v
		case "dn":
			if !withSchema {
				return jstr(v)
			}
			b, sc := unscaled(t, v)
			return fmt.Sprintf(`{"scale":%d,"value":%q}`, sc, b)
		case "dw":
			if !withSchema {
				return jstr(v)
			}
			b, _ := unscaled(t, v)
			return jstr(b)
		case "bin":
			return jstr(base64.StdEncoding.EncodeToString([]byte(v)))
		case "dt", "dd":
			if strings.HasPrefix(v, "0000") {
				return "null"
			}
			if c == "dt" {
				return strconv.FormatInt(civil(t, v).UnixMicro(), 10)
			}
			return strconv.FormatInt(civil(t, v).Unix()/86400, 10)
		}
		return jstr(v)
	}
	obj := func(r kitRow) string {
		if r == nil {
			return "null"
		}
		var parts []string
		for _, c := range r.cols() {
			parts = append(parts, jstr(c)+":"+val(c, r[c]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	var msgs []kh.Message
	for i, c := range s {
		if c.op == "DDL" {
			continue
		}
		ms := kitBaseMs + int64(i)*1000
		op := map[string]string{"I": "c", "U": "u", "D": "d"}[c.op]
		var before, after kitRow
		switch c.op {
		case "I":
			after = c.after
		case "U":
			before, after = c.before, c.after
		case "D":
			before = c.before
		}
		img := after
		if img == nil {
			img = before
		}
		payload := fmt.Sprintf(`{"before":%s,"after":%s,"source":{"version":"2.5.0.Final","connector":"mysql","name":"kit","ts_ms":%d,"snapshot":"false","db":"shop","table":"kit","server_id":1,"file":"mysql-bin.000001","pos":%d,"row":0},"op":%q,"ts_ms":%d}`,
			obj(before), obj(after), ms, 100+i, op, ms+5)
		keyPayload := fmt.Sprintf(`{"id":%s}`, *img["id"])
		value, key := payload, keyPayload
		if withSchema {
			var fields []string
			for _, col := range img.cols() {
				fields = append(fields, field(col))
			}
			rowSchema := `{"type":"struct","fields":[` + strings.Join(fields, ",") + `],"optional":true,"name":"kit.shop.kit.Value","field":%q}`
			value = fmt.Sprintf(`{"schema":{"type":"struct","fields":[`+rowSchema+`,`+rowSchema+`],"optional":false,"name":"kit.shop.kit.Envelope"},"payload":%s}`,
				"before", "after", payload)
			key = `{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],"optional":false,"name":"kit.shop.kit.Key"},"payload":` + keyPayload + `}`
		}
		msgs = append(msgs, kh.Message{Key: []byte(key), Value: []byte(value)})
	}
	return msgs
}

// Maxwell: no column types; numbers as JSON numbers (BigDecimal's
// toString writes 1E-30), binary as base64, dates as strings, JSON as
// documents, old with the changed columns only, DDL as table-alter.
func encodeMaxwell(t *testing.T, s []kitChange) []kh.Message {
	val := func(c string, p *string) string {
		if p == nil {
			return "null"
		}
		v := *p
		switch c {
		case "id", "n", "f", "dw":
			return v
		case "dn":
			if v == dnTiny {
				return "1E-30"
			}
			return v
		case "bin":
			return jstr(base64.StdEncoding.EncodeToString([]byte(v)))
		case "j":
			return v
		}
		return jstr(v)
	}
	obj := func(r kitRow, cols []string) string {
		var parts []string
		for _, c := range cols {
			parts = append(parts, jstr(c)+":"+val(c, r[c]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	var msgs []kh.Message
	for i, c := range s {
		sec := kitBaseMs/1000 + int64(i)
		if c.op == "DDL" {
			msgs = append(msgs, kh.Message{Value: []byte(fmt.Sprintf(
				`{"type":"table-alter","database":"shop","table":"kit","old":{"database":"shop","charset":"utf8mb4","table":"kit"},"def":{"database":"shop","charset":"utf8mb4","table":"kit"},"ts":%d,"sql":%s}`,
				sec*1000, jstr(kitDDL)))})
			continue
		}
		img := c.after
		if c.op == "D" {
			img = c.before
		}
		typ := map[string]string{"I": "insert", "U": "update", "D": "delete"}[c.op]
		old := ""
		if c.op == "U" {
			var changed []string
			for _, col := range img.cols() {
				if fmt.Sprint(deref(c.before[col])) != fmt.Sprint(deref(c.after[col])) {
					changed = append(changed, col)
				}
			}
			old = `,"old":` + obj(c.before, changed)
		}
		key := fmt.Sprintf(`{"database":"shop","table":"kit","pk.id":%s}`, *img["id"])
		msgs = append(msgs, kh.Message{Key: []byte(key), Value: []byte(fmt.Sprintf(
			`{"database":"shop","table":"kit","type":%q,"ts":%d,"xid":%d,"commit":true,"data":%s%s,"primary_key_columns":["id"]}`,
			typ, sec, 1000+i, obj(img, img.cols()), old))})
	}
	return msgs
}

// ---- the test ----

func kitConfig(t *testing.T, dir string, brokers []string, f kitFormat) string {
	t.Helper()
	return kafkaSourceConfig(t, dir, brokers, f.kind, f.protocol, f.extra, "")
}

// kafkaSourceConfig writes an odsync config reading topic cdc with source
// type kind (ticdc or kafka) into a local sink under dir. sourceExtra
// holds more YAML lines under the source block (4 spaces), mappingExtra
// under mapping (2 spaces).
func kafkaSourceConfig(t *testing.T, dir string, brokers []string, kind, protocol, sourceExtra, mappingExtra string) string {
	t.Helper()
	path := filepath.Join(dir, "odsync.yaml")
	harness.WriteFile(t, path, fmt.Sprintf(`state:
  dir: %s
source:
  type: %s
  %s:
    brokers: [%s]
    topics: [cdc]
    protocol: %s
    fetch_max_wait: 100ms
    commit_interval: 200ms
%s
mapping:
  include: ['shop\..*']
%s
sinks:
  - name: files
    type: local
    local:
      dir: %s
    batch:
      max_rows: 100
      max_age: 50ms
`, filepath.Join(dir, "state"), kind, kind, strings.Join(brokers, ", "), protocol, sourceExtra, mappingExtra, filepath.Join(dir, "ods")))
	return path
}

// odsKit reads the ODS change rows of shop.kit: the operation and every
// non-metadata column as text.
func odsKit(t *testing.T, dir string) []codecRow {
	var out []codecRow
	for _, r := range harness.ReadODS(t, filepath.Join(dir, "ods")) {
		if !strings.Contains(r.Table, "kit") {
			continue
		}
		o := codecRow{op: r.Op(), vals: map[string]string{}}
		for k, v := range r.Data {
			if strings.HasPrefix(k, "_") {
				continue
			}
			if v == nil {
				o.vals[k] = "NULL"
			} else {
				o.vals[k] = fmt.Sprint(v)
			}
		}
		out = append(out, o)
	}
	return out
}

// diffRows lists the differences between got and want.
func diffRows(got, want []codecRow) []string {
	var d []string
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			d = append(d, fmt.Sprintf("row %d missing: want %s", i, want[i]))
		case i >= len(want):
			d = append(d, fmt.Sprintf("row %d extra: got %s", i, got[i]))
		default:
			if got[i].op != want[i].op {
				d = append(d, fmt.Sprintf("row %d: op %s, want %s", i, got[i].op, want[i].op))
			}
			cols := map[string]bool{}
			for k := range got[i].vals {
				cols[k] = true
			}
			for k := range want[i].vals {
				cols[k] = true
			}
			var names []string
			for k := range cols {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				g, gok := got[i].vals[k]
				w, wok := want[i].vals[k]
				switch {
				case !wok && g == "NULL":
					// a column the target gained later, NULL in this row
				case !gok:
					d = append(d, fmt.Sprintf("row %d (%s): column %s missing, want %q", i, want[i].op, k, w))
				case !wok:
					d = append(d, fmt.Sprintf("row %d (%s): unexpected column %s = %q", i, want[i].op, k, g))
				case g != w:
					d = append(d, fmt.Sprintf("row %d (%s) column %s: got %q, want %q", i, want[i].op, k, g, w))
				}
			}
		}
	}
	return d
}

// TestKitKafkaCodecs runs the conformance stream in every format through
// the odsync binary and compares each ODS with the expected table (and so
// with each other).
func TestKitKafkaCodecs(t *testing.T) {
	stream := kitStream()
	formats := append(kitFormats(), sinkKitFormats()...)
	results := map[string][]codecRow{}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": 1}})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			p := cl.Producer("cdc")
			defer p.Close()
			if err := p.Produce(ctx, f.encode(t, stream)...); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			cfg := kitConfig(t, dir, cl.Addrs, f)
			logPath := filepath.Join(dir, "odsync.log")
			proc := harness.Start(t, logPath, "run", "-c", cfg)
			want := kitExpected()
			if f.adjust != nil {
				f.adjust(want)
			}
			var got []codecRow
			harness.Eventually(t, 60*time.Second, "every change of shop.kit in the ODS", func() (bool, string) {
				if proc.Exited() {
					t.Fatalf("odsync exited:\n%s", ticdcTail(readFile(t, logPath), 4000))
				}
				got = odsKit(t, dir)
				return len(got) >= len(want), fmt.Sprintf("%d of %d rows", len(got), len(want))
			})
			if code, err := proc.Stop(60 * time.Second); err != nil || code != 0 {
				t.Fatalf("stop: exit %d, %v:\n%s", code, err, ticdcTail(readFile(t, logPath), 3000))
			}
			got = odsKit(t, dir)
			if d := diffRows(got, want); len(d) > 0 {
				var rows []string
				for _, r := range got {
					rows = append(rows, r.String())
				}
				t.Errorf("%s: the ODS differs from the expected table:\n%s\nODS rows:\n%s", f.name,
					strings.Join(d, "\n"), strings.Join(rows, "\n"))
			}
			results[f.name] = got
		})
	}
	// Every format against every other, on the columns each expresses the
	// same way (the expected-table check above already covers the rest).
	base := results[formats[0].name]
	for _, f := range formats[1:] {
		got, ok := results[f.name]
		if !ok || base == nil {
			continue
		}
		if len(got) != len(base) {
			t.Errorf("%s: %d ODS rows, %s has %d", f.name, len(got), formats[0].name, len(base))
			continue
		}
		for i := range got {
			if got[i].op != base[i].op || got[i].vals["id"] != base[i].vals["id"] {
				t.Errorf("%s row %d: %s id %s, %s has %s id %s", f.name, i, got[i].op, got[i].vals["id"],
					formats[0].name, base[i].op, base[i].vals["id"])
			}
			for _, c := range []string{"n", "s", "dn", "dw", "f", "bin", "j", "extra"} {
				if got[i].vals[c] != base[i].vals[c] {
					t.Errorf("%s row %d column %s: %q, %s has %q", f.name, i, c, got[i].vals[c], formats[0].name, base[i].vals[c])
				}
			}
		}
	}
}
