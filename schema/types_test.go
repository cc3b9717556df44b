package schema

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/odsync/odsync/event"
)

// mappingTable renders one Markdown table of the default mapping of every
// catalogue type for one type system.
func mappingTable(t *testing.T, cfg Config, system func(*TargetColumn) string) string {
	t.Helper()
	m := mustMapper(t, cfg)
	tg, err := m.Target(catalogueTable())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("| source type | target type | lossy |\n|---|---|---|\n")
	for i := range tg.Columns {
		c := &tg.Columns[i]
		src := "metadata " + c.Name
		if c.src != nil {
			src = rawOr(c.src)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", src, system(c), c.Lossy)
	}
	return b.String()
}

func TestTypeMappingGolden(t *testing.T) {
	t.Parallel()
	systems := []struct {
		name string
		f    func(*TargetColumn) string
	}{
		{"maxcompute", func(c *TargetColumn) string { return c.MaxCompute }},
		{"parquet", func(c *TargetColumn) string { return c.Parquet.String() }},
		{"hive", func(c *TargetColumn) string { return c.Hive }},
	}
	for _, s := range systems {
		t.Run(s.name, func(t *testing.T) {
			cfg := Config{}
			if s.name == "maxcompute" {
				cfg.System = SystemMaxCompute
			}
			golden(t, "types/"+s.name+".golden", []byte(mappingTable(t, cfg, s.f)))
		})
	}
	// zero_dates: string maps the temporal types to STRING.
	golden(t, "types/maxcompute_zero_dates_string.golden", []byte(mappingTable(t, Config{ZeroDates: ZeroDatesString, System: SystemMaxCompute},
		func(c *TargetColumn) string { return c.MaxCompute })))
}

func catalogueColumn(t *testing.T, raw string) event.Column {
	t.Helper()
	for _, c := range catalogue {
		if c.RawType == raw {
			c.Name = "c"
			c.Nullable = true
			return c
		}
	}
	t.Fatalf("no catalogue column %q", raw)
	return event.Column{}
}

var overrideCases = []struct {
	raw, spec string
}{
	{"bigint unsigned", "bigint"},
	{"bigint unsigned", "decimal(38,0)"},
	{"bigint unsigned", "string"},
	{"bigint unsigned", "double"},
	{"int", "smallint"},
	{"int unsigned", "int"},
	{"tinyint(1)", "boolean"},
	{"bit(1)", "boolean"},
	{"bit(17)", "binary"},
	{"bit(17)", "int"},
	{"bit(64)", "bigint"},
	{"decimal(65,30)", "decimal(38,10)"},
	{"decimal(18,4)", "decimal(20,6)"},
	{"decimal(18,4)", "double"},
	{"decimal(9,2)", "bigint"},
	{"double", "float"},
	{"float", "double"},
	{"float", "decimal(10,2)"},
	{"varchar(255)", "binary"},
	{"varchar(255)", "int"},
	{"varbinary(255)", "string"},
	{"enum('new','paid','shipped')", "tinyint"},
	{"set('a','b','c')", "array<string>"},
	{"set('a','b','c')", "bigint"},
	{"date", "timestamp_ntz"},
	{"date", "timestamp"},
	{"datetime(6)", "datetime"},
	{"datetime", "timestamp"},
	{"datetime(6)", "date"},
	{"datetime(6)", "string"},
	{"timestamp(3)", "timestamp_ntz"},
	{"timestamp(3)", "datetime"},
	{"timestamp", "bigint"},
	{"time(6)", "bigint"},
	{"time", "timestamp"},
	{"year", "smallint"},
	{"year", "tinyint"},
	{"json", "json"},
	{"json", "int"},
	{"geometry", "string"},
	{"geometry", "date"},
	{"vector(3)", "string"},
}

func TestTypeOverridesGolden(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("| source type | override | MaxCompute | Parquet | Hive | lossy or error |\n|---|---|---|---|---|---|\n")
	for _, tc := range overrideCases {
		col := catalogueColumn(t, tc.raw)
		tb := (&event.Table{ID: id("db", "t"), Columns: []event.Column{col}}).Seal()
		m := mustMapper(t, Config{SourceTimeZone: "Asia/Shanghai",
			Tables: []TableRule{{Source: `db\.t`, Columns: map[string]ColumnRule{"c": {Type: tc.spec}}}}})
		tg, err := m.Target(tb)
		if err != nil {
			if !strings.Contains(err.Error(), "db.t column c") {
				t.Errorf("%s -> %s: error does not name the table and column: %v", tc.raw, tc.spec, err)
			}
			msg := err.Error()
			msg = msg[strings.Index(msg, "column c: ")+len("column c: "):]
			fmt.Fprintf(&b, "| %s | %s | | | | error: %s |\n", tc.raw, tc.spec, msg)
			continue
		}
		c := tg.Columns[len(tg.Columns)-1]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", tc.raw, tc.spec, c.MaxCompute, c.Parquet, c.Hive, c.Lossy)
	}
	golden(t, "types/overrides.golden", []byte(b.String()))
}

func TestFamilyOverrides(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{Types: map[string]string{
		"bigint unsigned": "string", "tinyint(1)": "boolean", "json": "json", "set": "array<string>", "datetime": "timestamp",
	}})
	tb := catalogueTable()
	tg, err := m.Target(tb)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bigint unsigned": "STRING", "bigint": "BIGINT", "tinyint(1)": "BOOLEAN", "tinyint": "TINYINT",
		"json": "JSON", "set('a','b','c')": "ARRAY<STRING>", "datetime(6)": "TIMESTAMP", "timestamp": "TIMESTAMP"}
	for i := range tg.Columns {
		c := &tg.Columns[i]
		if c.src == nil {
			continue
		}
		if w, ok := want[c.src.RawType]; ok && c.MaxCompute != w {
			t.Errorf("%s: %s, want %s", c.src.RawType, c.MaxCompute, w)
		}
	}
	// A column rule beats the family override.
	m2 := mustMapper(t, Config{Types: map[string]string{"json": "json"},
		Tables: []TableRule{{Source: `.*`, Columns: map[string]ColumnRule{"c39": {Type: "string"}}}}})
	tg2, err := m2.Target(tb)
	if err != nil {
		t.Fatal(err)
	}
	if c := tg2.Columns[tg2.ColumnIndex("c39")]; c.MaxCompute != "STRING" {
		t.Errorf("c39 (json) with column rule = %s", c.MaxCompute)
	}
}

func TestParseTypeSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, err string
	}{
		{"STRING", "string", ""},
		{" Decimal( 20 , 0 ) ", "decimal(20,0)", ""},
		{"decimal(10)", "decimal(10,0)", ""},
		{"bool", "boolean", ""},
		{"integer", "int", ""},
		{"ARRAY<STRING>", "array<string>", ""},
		{"timestamp_ntz", "timestamp_ntz", ""},
		{"decimal", "", "needs a precision"},
		{"decimal(39,0)", "", "precision must be 1..38"},
		{"decimal(5,6)", "", "scale must be"},
		{"decimal(x,1)", "", "bad precision"},
		{"varchar(10)", "", "unknown target type"},
		{"", "", "unknown target type"},
	}
	for _, tc := range tests {
		s, err := parseTypeSpec(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseTypeSpec(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || s.String() != tc.want {
			t.Errorf("parseTypeSpec(%q) = %s, %v; want %s", tc.in, s, err, tc.want)
		}
	}
}

func TestUnsupportedType(t *testing.T) {
	t.Parallel()
	tb := (&event.Table{ID: id("db", "t"), Columns: []event.Column{
		{Name: "ok", Type: event.TypeInt},
		{Name: "weird", Type: event.TypeUnknown, RawType: "xmltype"},
		{Name: "weird2", Type: event.Type(200), RawType: "future"},
	}}).Seal()
	m := mustMapper(t, Config{})
	_, err := m.Target(tb)
	if err == nil {
		t.Fatal("no error for unsupported types")
	}
	for _, s := range []string{"db.t column weird:", "xmltype", "db.t column weird2:", "future"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
	// A string override makes it mappable; values are written as text.
	m2 := mustMapper(t, Config{Tables: []TableRule{{Source: `db\.t`, Columns: map[string]ColumnRule{
		"weird": {Type: "string"}, "weird2": {Type: "binary"}}}}})
	tg, err := m2.Target(tb)
	if err != nil {
		t.Fatal(err)
	}
	row := tg.Row(&event.Event{Op: event.OpInsert, After: []event.Value{event.Int(1), event.String("<x/>"), event.Bytes([]byte{1, 2})}}, nil)
	if row[6].String() != "string:<x/>" || row[7].Kind() != event.KindBytes {
		t.Fatalf("row = %v", row)
	}
}

// textForm describes how the CSV and JSONL encoders write a value of kind k.
var textForm = map[Kind]string{
	KindBoolean: "true/false", KindTinyInt: "integer", KindSmallInt: "integer", KindInt: "integer", KindBigInt: "integer",
	KindFloat: "shortest round-trip float", KindDouble: "shortest round-trip float", KindDecimal: "exact decimal, s fraction digits",
	KindString: "text", KindBinary: "base64", KindDate: "yyyy-mm-dd", KindDateTime: "yyyy-mm-dd hh:mm:ss.fff (UTC)",
	KindTimestampNTZ: "yyyy-mm-dd hh:mm:ss[.ffffff]", KindTimestamp: "yyyy-mm-dd hh:mm:ss[.ffffff] (UTC)",
	KindJSON: "JSON text", KindStringArray: "comma-joined members",
}

// TestTypeTableInDocs keeps docs/types.md's type table in sync with the
// mapping: it must contain testdata/types/all.golden verbatim. MaxCompute
// types are those of a MaxCompute sink's mapper, Parquet, Hive and text
// those of the file sinks' (local, S3).
func TestTypeTableInDocs(t *testing.T) {
	t.Parallel()
	files, err := mustMapper(t, Config{}).Target(catalogueTable())
	if err != nil {
		t.Fatal(err)
	}
	mc, err := mustMapper(t, Config{System: SystemMaxCompute}).Target(catalogueTable())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("| MySQL/MariaDB/TiDB | MaxCompute 2.0 | Parquet | Hive/Athena | CSV / JSONL text | lossy |\n|---|---|---|---|---|---|\n")
	for i := range files.Columns {
		c, m := &files.Columns[i], &mc.Columns[i]
		if c.src == nil {
			continue
		}
		lossy := c.Lossy
		if m.Lossy != c.Lossy {
			lossy = joinNotes(c.Lossy, "MaxCompute: "+m.Lossy)
		}
		if lossy == "" {
			lossy = "no"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", rawOr(c.src), m.MaxCompute, c.Parquet, c.Hive, textForm[c.Kind], lossy)
	}
	golden(t, "types/all.golden", []byte(b.String()))
	doc, err := os.ReadFile("../docs/types.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), b.String()) {
		t.Errorf("docs/types.md does not contain the type table of testdata/types/all.golden; paste it in")
	}
}
