package mysqldialect

import "fmt"

// ParseColumnType parses a column type as SHOW CREATE TABLE, DDL, canal-json's
// mysqlType or Debezium's source type parameters spell it: a type name (with
// its aliases: INTEGER, NUMERIC, BOOLEAN, NATIONAL VARCHAR, LONG VARBINARY,
// DOUBLE PRECISION, SERIAL...), optional arguments, optional attributes
// (UNSIGNED, ZEROFILL, CHARACTER SET, COLLATE, BINARY), e.g. "int",
// "int(11) unsigned zerofill", "decimal(10, 4)", "enum('a','b')",
// "varchar(16) character set utf8mb4". It is the grammar of a column
// definition's type in ParseDDL: the result's Type is the canonical
// lower-case name ("int", "decimal", "varchar", "mediumtext"...), Args the
// numeric arguments as written, Elems the ENUM/SET members (case kept).
// Words after the type (NOT NULL, DEFAULT ...) are ignored; Name is empty.
func ParseColumnType(s string) (ColumnDef, error) {
	toks, err := lexSQL(s)
	if err != nil {
		return ColumnDef{}, fmt.Errorf("type %q: %w", s, err)
	}
	p := &parser{toks: toks}
	c := ColumnDef{Nullable: true}
	if err := p.columnType(&c); err != nil {
		return c, fmt.Errorf("type %q: %w", s, err)
	}
	return c, nil
}
