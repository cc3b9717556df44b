package schema

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/odsync/odsync/event"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/<name>, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./schema -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// catalogue is one source column per MySQL/MariaDB/TiDB type variant.
var catalogue = []event.Column{
	{Type: event.TypeTinyInt, RawType: "tinyint"},
	{Type: event.TypeTinyInt, RawType: "tinyint(1)"},
	{Type: event.TypeTinyInt, Unsigned: true, RawType: "tinyint unsigned"},
	{Type: event.TypeSmallInt, RawType: "smallint"},
	{Type: event.TypeSmallInt, Unsigned: true, RawType: "smallint unsigned"},
	{Type: event.TypeMediumInt, RawType: "mediumint"},
	{Type: event.TypeMediumInt, Unsigned: true, RawType: "mediumint unsigned"},
	{Type: event.TypeInt, RawType: "int"},
	{Type: event.TypeInt, Unsigned: true, RawType: "int unsigned"},
	{Type: event.TypeBigInt, RawType: "bigint"},
	{Type: event.TypeBigInt, Unsigned: true, RawType: "bigint unsigned"},
	{Type: event.TypeDecimal, Precision: 9, Scale: 2, RawType: "decimal(9,2)"},
	{Type: event.TypeDecimal, Precision: 18, Scale: 4, RawType: "decimal(18,4)"},
	{Type: event.TypeDecimal, Precision: 38, Scale: 10, RawType: "decimal(38,10)"},
	{Type: event.TypeDecimal, Precision: 39, Scale: 0, RawType: "decimal(39,0)"},
	{Type: event.TypeDecimal, Precision: 65, Scale: 30, RawType: "decimal(65,30)"},
	{Type: event.TypeDecimal, RawType: "decimal"},
	{Type: event.TypeFloat, RawType: "float"},
	{Type: event.TypeDouble, RawType: "double"},
	{Type: event.TypeBit, Length: 1, RawType: "bit(1)"},
	{Type: event.TypeBit, Length: 17, RawType: "bit(17)"},
	{Type: event.TypeBit, Length: 64, RawType: "bit(64)"},
	{Type: event.TypeChar, Length: 10, Charset: "utf8mb4", RawType: "char(10)"},
	{Type: event.TypeVarchar, Length: 255, Charset: "utf8mb4", RawType: "varchar(255)"},
	{Type: event.TypeText, Length: 65535, Charset: "utf8mb4", RawType: "text"},
	{Type: event.TypeText, Length: 4294967295, Charset: "gbk", RawType: "longtext"},
	{Type: event.TypeBinary, Length: 16, Charset: "binary", RawType: "binary(16)"},
	{Type: event.TypeVarbinary, Length: 255, Charset: "binary", RawType: "varbinary(255)"},
	{Type: event.TypeBlob, Length: 16777215, Charset: "binary", RawType: "mediumblob"},
	{Type: event.TypeEnum, Elems: []string{"new", "paid", "shipped"}, RawType: "enum('new','paid','shipped')"},
	{Type: event.TypeSet, Elems: []string{"a", "b", "c"}, RawType: "set('a','b','c')"},
	{Type: event.TypeDate, RawType: "date"},
	{Type: event.TypeDateTime, RawType: "datetime"},
	{Type: event.TypeDateTime, Scale: 6, RawType: "datetime(6)"},
	{Type: event.TypeTimestamp, RawType: "timestamp"},
	{Type: event.TypeTimestamp, Scale: 3, RawType: "timestamp(3)"},
	{Type: event.TypeTime, RawType: "time"},
	{Type: event.TypeTime, Scale: 6, RawType: "time(6)"},
	{Type: event.TypeYear, RawType: "year"},
	{Type: event.TypeJSON, RawType: "json"},
	{Type: event.TypeGeometry, RawType: "geometry"},
	{Type: event.TypeVector, Length: 3, RawType: "vector(3)"},
	{Type: event.TypeDecimal, Precision: 30, Scale: 20, RawType: "decimal(30,20)"},
}

// catalogueTable is a table with every catalogue column, named c00...
func catalogueTable() *event.Table {
	t := &event.Table{ID: id("shop", "all_types")}
	for i, c := range catalogue {
		c.Name = "c" + string(rune('0'+i/10)) + string(rune('0'+i%10))
		c.Nullable = true
		t.Columns = append(t.Columns, c)
	}
	return t.Seal()
}
