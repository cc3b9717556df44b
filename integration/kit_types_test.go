package integration

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kitCell is one source value of the type table and what every sink must
// land for it under the default mapping (docs/types.md).
type kitCell struct {
	sql string // the SQL literal inserted
	// want is the canonical text of the typed column; with raw, the typed
	// column is NULL and want is the text under the column's key in _raw.
	want string
	raw  bool
	// why names the design rule when the cell is not a plain round trip.
	why string
	// mc is MaxCompute's variant where its documented mapping differs.
	mc *kitCell
}

// kitType is one column of the type table.
type kitType struct {
	col, ddl string
	canon    kitCanon
	cells    []kitCell // row i (id i+1) holds cells[i]; rows beyond hold NULL
}

func cell(sql, want string) kitCell { return kitCell{sql: sql, want: want} }

func cellSame(sql string) kitCell { return kitCell{sql: sql, want: strings.Trim(sql, "'")} }

// kvRaw is a value that does not fit its typed column anywhere: NULL there,
// its source text in _raw (D1).
func cellRaw(sql, text, why string) kitCell {
	return kitCell{sql: sql, want: text, raw: true, why: why}
}

// mcRaw marks a cell that fits every file format but not MaxCompute's type.
func (c kitCell) mcRaw(why string) kitCell {
	v := c
	v.raw, v.why, v.mc = true, why, nil
	c.mc = &v
	return c
}

func (c kitCell) in(sys kitSystem) kitCell {
	if sys == kitMaxCompute && c.mc != nil {
		return *c.mc
	}
	return c
}

// kitTopic is one source table of the type table: types are grouped so
// that a type a sink cannot take yet (its table stops the sink) does not
// hide the results of the others.
type kitTopic struct {
	name  string
	types []kitType
}

// kitTypes holds every MySQL/MariaDB type at its edges. Expectations are
// the designed behaviour (DESIGN.md D1, D2; docs/types.md).
var kitTypes = []kitTopic{{"int", []kitType{
	{"ti", "TINYINT", canonExact, []kitCell{cellSame("-128"), cellSame("127"), cellSame("0")}},
	{"tiu", "TINYINT UNSIGNED", canonExact, []kitCell{cellSame("0"), cellSame("255")}},
	{"si", "SMALLINT", canonExact, []kitCell{cellSame("-32768"), cellSame("32767")}},
	{"siu", "SMALLINT UNSIGNED", canonExact, []kitCell{cellSame("0"), cellSame("65535")}},
	{"mi", "MEDIUMINT", canonExact, []kitCell{cellSame("-8388608"), cellSame("8388607")}},
	{"miu", "MEDIUMINT UNSIGNED", canonExact, []kitCell{cellSame("0"), cellSame("16777215")}},
	{"i", "INT", canonExact, []kitCell{cellSame("-2147483648"), cellSame("2147483647")}},
	{"iu", "INT UNSIGNED", canonExact, []kitCell{cellSame("0"), cellSame("4294967295")}},
	{"bi", "BIGINT", canonExact, []kitCell{
		cellSame("-9223372036854775808").mcRaw("D1: MaxCompute BIGINT excludes -2^63"),
		cellSame("9223372036854775807")}},
	{"biu", "BIGINT UNSIGNED", canonExact, []kitCell{cellSame("0"), cellSame("18446744073709551615")}},
}}, {"decimal", []kitType{
	// DECIMAL(65,30): precision > 38 maps to STRING everywhere.
	{"d65", "DECIMAL(65,30)", canonExact, []kitCell{
		cellSame("-99999999999999999999999999999999999.999999999999999999999999999999"),
		cellSame("99999999999999999999999999999999999.999999999999999999999999999999"),
		cellSame("0.000000000000000000000000000001")}},
	// Scale > 18: DECIMAL in files, STRING in MaxCompute (D1); same text.
	{"d30", "DECIMAL(30,20)", canonExact, []kitCell{
		cellSame("-9999999999.99999999999999999999"), cellSame("9999999999.99999999999999999999"),
		cellSame("0.00000000000000000001")}},
	{"d38", "DECIMAL(38,19)", canonExact, []kitCell{
		cellSame("-9999999999999999999.9999999999999999999"), cellSame("9999999999999999999.9999999999999999999"),
		cellSame("0.0000000000000000001")}},
}}, {"float_bit", []kitType{
	{"f", "FLOAT", canonF32, []kitCell{
		cell("-3.4028234663852886e38", "-3.4028235e+38"), cell("3.4028234663852886e38", "3.4028235e+38"),
		cell("1.401298464324817e-45", "1e-45"), cell("-0e0", "0")}}, // MariaDB 10.11 stores -0 as 0
	{"dbl", "DOUBLE", canonF64, []kitCell{
		cell("-1.7976931348623157e308", "-1.7976931348623157e+308"), cell("1.7976931348623157e308", "1.7976931348623157e+308"),
		cell("4.9406564584124654e-324", "5e-324"), cell("-0e0", "0")}},
	{"b1", "BIT(1)", canonExact, []kitCell{cell("b'0'", "0"), cell("b'1'", "1")}},
	{"b8", "BIT(8)", canonExact, []kitCell{cell("b'0'", "0"), cell("b'11111111'", "255")}},
	{"b64", "BIT(64)", canonExact, []kitCell{cell("b'0'", "0"), cell("0xFFFFFFFFFFFFFFFF", "18446744073709551615")}},
}}, {"text_binary", []kitType{
	// CHAR drops trailing spaces (MySQL's PAD semantics), keeps leading ones.
	{"c", "CHAR(10)", canonExact, []kitCell{cell("'ab  '", "ab"), cell("'  x'", "  x")}},
	// BINARY(4) pads with NUL bytes; the binlog carries it unpadded.
	{"bn", "BINARY(4)", canonBin, []kitCell{cell("X'01'", "01000000"), cell("X'00610000'", "00610000")}},
	{"vb", "VARBINARY(16)", canonBin, []kitCell{cell("X'00FF0000'", "00FF0000"), cell("X''", "")}},
	{"l1", "VARCHAR(20) CHARACTER SET latin1", canonExact, []kitCell{cellSame("'café ÿ'")}},
	{"gbk", "VARCHAR(20) CHARACTER SET gbk", canonExact, []kitCell{cellSame("'中文测试'")}},
	{"u4", "VARCHAR(20) CHARACTER SET utf8mb4", canonExact, []kitCell{cellSame("'😀 𝄞 x'")}},
	{"txt", "TEXT", canonExact, []kitCell{cell(`'line1\nline2 "q" \\ ,'`, "line1\nline2 \"q\" \\ ,")}},
	{"e", "ENUM('a','😀','b c')", canonExact, []kitCell{cellSame("'😀'"), cellSame("'b c'")}},
	{"st", "SET('x','🎉','y')", canonExact, []kitCell{cellSame("'x,🎉'"), cellSame("''")}},
	// MariaDB stores JSON as text: verbatim, whitespace included.
	{"j", "JSON", canonExact, []kitCell{cellSame(`'{"a": [1, 2.50, "x"],  "b" : null}'`), cellSame(`'[]'`)}},
	// GEOMETRY: MySQL's internal bytes (SRID, then WKB) as BINARY.
	{"g", "GEOMETRY", canonBin, []kitCell{cell("ST_GeomFromText('POINT(1 2)')", "00000000"+"0101000000"+"000000000000F03F"+"0000000000000040")}},
}}, {"mariadb", []kitType{
	// D2: UUID, INET4, INET6 as the server's text.
	{"uu", "UUID", canonExact, []kitCell{cellSame("'123e4567-e89b-12d3-a456-426655440000'"), cellSame("'00000000-0000-0000-0000-000000000000'")}},
	{"ip4", "INET4", canonExact, []kitCell{cellSame("'192.0.2.1'"), cellSame("'0.0.0.0'")}},
	{"ip6", "INET6", canonExact, []kitCell{cellSame("'2001:db8::ff00:42:8329'"), cellSame("'::ffff:192.0.2.1'")}},
}}, {"temporal", []kitType{
	// Zero dates: typed column NULL, text in _raw (D1 zero_dates: raw).
	{"dt", "DATE", canonExact, []kitCell{cellSame("'1000-01-01'"), cellSame("'9999-12-31'"),
		cellRaw("'0000-00-00'", "0000-00-00", "D1: zero date"), cellRaw("'2024-00-15'", "2024-00-15", "D1: zero in date")}},
	{"dtm", "DATETIME(6)", canonCivil, []kitCell{cellSame("'1000-01-01 00:00:00.000000'"), cellSame("'9999-12-31 23:59:59.999999'"),
		cellRaw("'0000-00-00 00:00:00'", "0000-00-00 00:00:00", "D1: zero date")}},
	{"ts", "TIMESTAMP(6) NULL", canonInstant, []kitCell{cellSame("'1970-01-01 00:00:01.000000'"), cellSame("'2038-01-19 03:14:07.999999'"),
		cellRaw("'0000-00-00 00:00:00'", "0000-00-00 00:00:00", "D1: zero date")}},
	{"tm", "TIME(6)", canonTime, []kitCell{cellSame("'-838:59:59.000000'"), cellSame("'838:59:59.000000'"),
		cellSame("'-00:00:01.500000'"), cellSame("'25:00:00.000001'")}},
	{"y", "YEAR", canonExact, []kitCell{cellSame("1901"), cellSame("2155"), cell("0", "0")}},
}}}

// kitTypeRows is the number of value rows; one more row is NULL in every
// column.
func kitTypeRows(types []kitType) int {
	n := 0
	for _, ty := range types {
		n = max(n, len(ty.cells))
	}
	return n
}

// kitInsertTypes inserts the value rows and the NULL row with ids from+1...
func kitInsertTypes(r *kitRun, types []kitType, from int) {
	r.t.Helper()
	n := kitTypeRows(types)
	var cols []string
	for _, ty := range types {
		cols = append(cols, ty.col)
	}
	for i := 0; i <= n; i++ {
		vals := []string{strconv.Itoa(from + i + 1)}
		for _, ty := range types {
			if i < len(ty.cells) {
				vals = append(vals, ty.cells[i].sql)
			} else {
				vals = append(vals, "NULL")
			}
		}
		r.exec(fmt.Sprintf("INSERT INTO %s.t (id, %s) VALUES (%s)", r.name, strings.Join(cols, ", "), strings.Join(vals, ", ")))
	}
}

// kitMeta are metadata columns, equal only by accident between two rows.
var kitMeta = map[string]bool{"_seq": true, "_op": true, "_commit_ts": true, "_pos": true, "ds": true, "id": true}

// TestKitTypes lands a table of every MySQL/MariaDB type at its edges in
// every sink, via the snapshot (rows inserted before odsync starts) and
// the binlog (the same values under other keys, inserted after), under
// the default mapping with odsync in a non-UTC zone. Each value must be
// the sink's documented rendering, and both paths must deliver the same.
func TestKitTypes(t *testing.T) {
	kitEach(t, "types", func(t *testing.T, d kitDriver) {
		for _, topic := range kitTypes {
			t.Run(topic.name, func(t *testing.T) {
				t.Parallel()
				kitTypesTopic(t, d, topic)
			})
		}
	})
}

func kitTypesTopic(t *testing.T, d kitDriver, topic kitTopic) {
	r := kitOpen(t, d, "kt_"+d.name+"_"+topic.name, "")
	var defs []string
	for _, ty := range topic.types {
		defs = append(defs, ty.col+" "+ty.ddl)
	}
	r.exec(fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY, %s) DEFAULT CHARSET=utf8mb4", r.name, strings.Join(defs, ", ")))
	const binlogIDs = 100
	kitInsertTypes(r, topic.types, 0)
	r.start()
	r.waitSnapshot()
	kitInsertTypes(r, topic.types, binlogIDs)
	n := kitTypeRows(topic.types) + 1
	if d.system == kitState {
		// Every value exact: the target table equals the source's.
		r.startFull(2*n, "t")
		r.waitState("t", 60*time.Second)
		r.stop()
		return
	}
	rows := r.poll(r.table("t"), 60*time.Second, seqsAtLeast(2*n))
	if !r.exited() {
		r.stop()
	}
	if len(rows) == 0 {
		t.Fatal("nothing landed")
	}

	byID := map[int]kitRow{}
	for _, row := range rows {
		id, err := strconv.Atoi(row.str("id"))
		if err != nil {
			t.Fatalf("row without an integer id: %v", row)
		}
		byID[id] = row
	}
	_, hasRaw := rows[0]["_raw"]
	if !hasRaw {
		t.Errorf("no _raw metadata column (D1); columns: %v", kitColumns(rows[0]))
	}
	for _, ty := range topic.types {
		if _, ok := rows[0][ty.col]; !ok {
			t.Errorf("column %s (%s) is missing; columns: %v", ty.col, ty.ddl, kitColumns(rows[0]))
		}
	}
	for _, path := range []struct {
		name string
		base int
	}{{"snapshot", 0}, {"binlog", binlogIDs}} {
		for i := 0; i < n; i++ {
			row, ok := byID[path.base+i+1]
			if !ok {
				t.Errorf("%s: row id %d did not land", path.name, path.base+i+1)
				continue
			}
			kitCheckTypeRow(t, d.system, topic.types, path.name, i, row, hasRaw)
		}
	}
	// Snapshot and binlog deliver the same value for every column.
	for i := 0; i < n; i++ {
		a, b := byID[i+1], byID[binlogIDs+i+1]
		if a == nil || b == nil {
			continue
		}
		for c := range a {
			if !kitMeta[c] && show(a[c]) != show(b[c]) {
				t.Errorf("row %d column %s: snapshot %s, binlog %s", i+1, c, show(a[c]), show(b[c]))
			}
		}
	}
}

// kitCheckTypeRow compares one landed row (value row i) with kitTypes.
func kitCheckTypeRow(t *testing.T, sys kitSystem, types []kitType, path string, i int, row kitRow, hasRaw bool) {
	t.Helper()
	wantRaw := map[string]string{}
	for _, ty := range types {
		got, present := row[ty.col]
		if !present {
			continue
		}
		if i >= len(ty.cells) {
			if got != nil {
				t.Errorf("%s row %d %s %s: got %s, want NULL", path, i+1, ty.col, ty.ddl, show(got))
			}
			continue
		}
		c := ty.cells[i].in(sys)
		why := ""
		if c.why != "" {
			why = " (" + c.why + ")"
		}
		if c.raw {
			wantRaw[ty.col] = c.want
			if got != nil {
				t.Errorf("%s row %d %s %s = %s: got %s, want NULL with %q in _raw%s", path, i+1, ty.col, ty.ddl, c.sql, show(got), c.want, why)
			}
			continue
		}
		if got == nil {
			t.Errorf("%s row %d %s %s = %s: got NULL, want %q%s", path, i+1, ty.col, ty.ddl, c.sql, c.want, why)
			continue
		}
		g, ok := ty.canon.canon(*got)
		if w := ty.canon.expect(c.want); !ok || g != w {
			t.Errorf("%s row %d %s %s = %s: got %s, want %q%s", path, i+1, ty.col, ty.ddl, c.sql, show(got), w, why)
		}
	}
	if !hasRaw {
		return
	}
	raw := row["_raw"]
	if len(wantRaw) == 0 {
		if raw != nil {
			t.Errorf("%s row %d: _raw = %s, want NULL (every value fits)", path, i+1, show(raw))
		}
		return
	}
	if raw == nil {
		t.Errorf("%s row %d: _raw is NULL, want %v", path, i+1, wantRaw)
		return
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(*raw), &m); err != nil {
		t.Errorf("%s row %d: _raw %q is not a JSON object: %v", path, i+1, *raw, err)
		return
	}
	for _, ty := range types {
		w, want := wantRaw[ty.col]
		g, got := m[ty.col]
		switch {
		case want && !got:
			t.Errorf("%s row %d: _raw %s has no %q (want %q)", path, i+1, *raw, ty.col, w)
		case !want && got:
			t.Errorf("%s row %d: _raw %s has %q, whose value fits", path, i+1, *raw, ty.col)
		case want:
			if s, _ := g.(string); trimFraction(s) != trimFraction(w) {
				t.Errorf("%s row %d: _raw[%s] = %v, want %q", path, i+1, ty.col, g, w)
			}
		}
	}
}

func kitColumns(r kitRow) []string {
	var cols []string
	for c := range r {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	return cols
}
