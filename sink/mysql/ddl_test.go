package mysql

import (
	"strings"
	"testing"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// TestAlterationsTiDBMultiSchemaChange: TiDB's multi-schema change cannot
// place a column AFTER one the same statement adds or renames, so such an
// ADD starts the next statement; other changes stay in one.
func TestAlterationsTiDBMultiSchemaChange(t *testing.T) {
	col := func(name, typ string) event.Column {
		return event.Column{Name: name, Type: event.TypeVarchar, RawType: typ, Nullable: true}
	}
	cur := []tcol{{name: "id", typ: "int"}, {name: "a", typ: "varchar(10)", nullable: true},
		{name: "n", typ: "int", nullable: true}, {name: "c1", typ: "varchar(20)", nullable: true}}
	tb := (&event.Table{ID: event.TableID{DB: "d", Table: "t"}, Columns: []event.Column{
		{Name: "id", Type: event.TypeInt, RawType: "int"}, col("c1", "varchar(20)"),
		col("a2", "varchar(10)"), col("x2", "varchar(10)"), col("c3", "varchar(5)"),
	}, Key: []int{0}}).Seal()
	row := &event.Event{Op: event.OpInsert, Table: tb}
	got, err := alterations("`d`.`t`", cur, tb, schema.ModeEvolve, row)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ALTER TABLE `d`.`t` DROP COLUMN `a`, DROP COLUMN `n`, ADD COLUMN `a2` varchar(10) NULL AFTER `c1`",
		"ALTER TABLE `d`.`t` ADD COLUMN `x2` varchar(10) NULL AFTER `a2`",
		"ALTER TABLE `d`.`t` ADD COLUMN `c3` varchar(5) NULL AFTER `x2`",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("evolve:\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A rename, then a column placed after the renamed one.
	cur = []tcol{{name: "id", typ: "int"}, {name: "a", typ: "varchar(10)", nullable: true}}
	tb = (&event.Table{ID: tb.ID, Columns: []event.Column{
		{Name: "id", Type: event.TypeInt, RawType: "int"}, col("b", "varchar(10)"), col("z", "varchar(10)"),
	}, Key: []int{0}}).Seal()
	ddl := &event.Event{Op: event.OpDDL, Table: tb, DDL: "ALTER TABLE t RENAME COLUMN a TO b, ADD COLUMN z VARCHAR(10)"}
	got, err = alterations("`d`.`t`", cur, tb, schema.ModeLenient, ddl)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{
		"ALTER TABLE `d`.`t` CHANGE COLUMN `a` `b` varchar(10) NULL",
		"ALTER TABLE `d`.`t` ADD COLUMN `z` VARCHAR(10) AFTER `b`",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rename:\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
