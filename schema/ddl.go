package schema

import (
	"fmt"
	"strings"
)

// MaxComputeOptions qualify MaxCompute DDL.
type MaxComputeOptions struct {
	// Project and Schema qualify table names (`project`.`schema`.`table`)
	// when set.
	Project string
	Schema  string
	// Lifecycle adds LIFECYCLE <days> to CREATE TABLE when > 0.
	Lifecycle int
}

func (o MaxComputeOptions) table(name string) string {
	var parts []string
	if o.Project != "" {
		parts = append(parts, Quote(o.Project))
	}
	if o.Schema != "" {
		parts = append(parts, Quote(o.Schema))
	}
	return strings.Join(append(parts, Quote(name)), ".")
}

// sqlString renders a single-quoted SQL string literal.
func sqlString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(s) + "'"
}

// comment is a column's comment: where it comes from and what it loses.
func (c *TargetColumn) comment() string {
	var s string
	switch {
	case c.Meta != MetaNone:
		s = metaComments[c.Meta]
	case c.src != nil:
		s = "source " + c.SourceName + " " + rawOr(c.src)
	case c.SourceName != "":
		s = "source " + c.SourceName
	}
	if c.Lossy != "" {
		s += "; lossy: " + c.Lossy
	}
	return s
}

var metaComments = [...]string{
	MetaOp:          "change: I insert, U update, D delete, R snapshot read",
	MetaSeq:         "odsync log sequence: dedupe and ordering key",
	MetaCommitTs:    "source commit time (UTC)",
	MetaPos:         "source position",
	MetaSourceDB:    "source database",
	MetaSourceTable: "source table",
	MetaRaw:         "values that did not fit their column, as JSON {column: source text}; NULL when all fit",
}

func (c *TargetColumn) maxComputeDef() string {
	s := Quote(c.Name) + " " + c.MaxCompute
	if !c.Nullable {
		s += " NOT NULL"
	}
	if cm := c.comment(); cm != "" {
		s += " COMMENT " + sqlString(cm)
	}
	return s
}

// MaxComputeCreate renders CREATE TABLE IF NOT EXISTS for the target,
// partitioned by its partition column (STRING).
func (t *Target) MaxComputeCreate(o MaxComputeOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", o.table(t.Name))
	for i := range t.Columns {
		b.WriteString("  " + t.Columns[i].maxComputeDef())
		if i < len(t.Columns)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, ")\nCOMMENT %s\nPARTITIONED BY (%s STRING)", sqlString(t.tableComment()), Quote(t.PartitionColumn))
	if o.Lifecycle > 0 {
		fmt.Fprintf(&b, "\nLIFECYCLE %d", o.Lifecycle)
	}
	b.WriteString(";")
	return b.String()
}

func (t *Target) tableComment() string {
	s := "odsync ODS of " + t.Source.String()
	if t.Merged {
		s = "odsync ODS merging sharded source tables, e.g. " + t.Source.String()
	}
	if len(t.Key) > 0 {
		var k []string
		for _, i := range t.Key {
			k = append(k, t.Columns[i].Name)
		}
		s += "; key " + strings.Join(k, ",")
	}
	return s
}

// MaxCompute renders the plan as MaxCompute DDL statements, in order.
func (p *Plan) MaxCompute(o MaxComputeOptions) []string {
	var out []string
	for _, s := range p.Steps {
		tbl := o.table(s.Table.Name)
		switch s.Kind {
		case StepCreateTable:
			out = append(out, s.Table.MaxComputeCreate(o))
		case StepAddColumns:
			var defs []string
			for i := range s.Columns {
				defs = append(defs, s.Columns[i].maxComputeDef())
			}
			out = append(out, fmt.Sprintf("ALTER TABLE %s ADD COLUMNS (%s);", tbl, strings.Join(defs, ", ")))
		case StepWidenColumn:
			out = append(out, fmt.Sprintf("ALTER TABLE %s CHANGE COLUMN %s %s %s;", tbl,
				Quote(s.From.Name), Quote(s.Column.Name), s.Column.MaxCompute))
		case StepDropColumns:
			out = append(out, fmt.Sprintf("ALTER TABLE %s DROP COLUMNS %s;", tbl, quoteNames(s.Columns)))
		case StepDropTable:
			out = append(out, fmt.Sprintf("DROP TABLE IF EXISTS %s;", tbl))
		}
	}
	return out
}

func quoteNames(cols []TargetColumn) string {
	var q []string
	for i := range cols {
		q = append(q, Quote(cols[i].Name))
	}
	return strings.Join(q, ", ")
}

// AthenaFormat is the file format of an S3 target.
type AthenaFormat string

// S3 file formats.
const (
	FormatParquet AthenaFormat = "parquet"
	FormatCSV     AthenaFormat = "csv"
)

// AthenaOptions qualify Athena/Glue DDL.
type AthenaOptions struct {
	// Database qualifies table names when set.
	Database string
	// Bucket and Prefix locate the data: s3://Bucket/Prefix/<table>/ds=<value>/.
	Bucket string
	Prefix string
	// Format is parquet (default) or csv.
	Format AthenaFormat
	// ProjectionStart is the first partition value of the partition
	// projection range; default 20200101 (day) or 2020010100 (hour).
	ProjectionStart string
	// CSVHeader: the CSV files start with a header line.
	CSVHeader bool
}

func (o AthenaOptions) table(name string) string {
	if o.Database != "" {
		return Quote(o.Database) + "." + Quote(name)
	}
	return Quote(name)
}

// Location returns s3://bucket/prefix/<table>/ for the target.
func (t *Target) Location(o AthenaOptions) string {
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return "s3://" + o.Bucket + "/" + prefix + t.Name + "/"
}

func (c *TargetColumn) athenaDef(f AthenaFormat) string {
	typ := c.Hive
	cm := c.comment()
	if f == FormatCSV {
		// OpenCSVSerDe parses only a few types, fails on empty numeric
		// fields and wants epoch-millisecond timestamps: every column is a
		// string holding the text of TargetColumn.AppendText; the comment
		// names the type to cast to.
		typ = "string"
		if cm != "" {
			cm = c.Hive + " as text; " + cm
		} else {
			cm = c.Hive + " as text"
		}
	}
	s := Quote(c.Name) + " " + typ
	if cm != "" {
		s += " COMMENT " + sqlString(cm)
	}
	return s
}

// AthenaCreate renders CREATE EXTERNAL TABLE IF NOT EXISTS for Athena/Glue:
// Parquet SerDe (or OpenCSVSerde for csv), PARTITIONED BY the partition
// column as string with partition projection on it, LOCATION
// s3://bucket/prefix/<table>/.
func (t *Target) AthenaCreate(o AthenaOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s (\n", o.table(t.Name))
	for i := range t.Columns {
		b.WriteString("  " + t.Columns[i].athenaDef(o.Format))
		if i < len(t.Columns)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, ")\nCOMMENT %s\nPARTITIONED BY (%s string)\n", sqlString(t.tableComment()), Quote(t.PartitionColumn))
	if o.Format == FormatCSV {
		b.WriteString("ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'\n" +
			"WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '\"', 'escapeChar' = '\\\\')\n" +
			"STORED AS TEXTFILE\n")
	} else {
		b.WriteString("ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\n" +
			"STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'\n" +
			"OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat'\n")
	}
	loc := t.Location(o)
	fmt.Fprintf(&b, "LOCATION %s\nTBLPROPERTIES (\n", sqlString(loc))
	pc := t.PartitionColumn
	format, unit, start := "yyyyMMdd", "DAYS", "20200101"
	if t.Granularity == GranularityHour {
		format, unit, start = "yyyyMMddHH", "HOURS", "2020010100"
	}
	if o.ProjectionStart != "" {
		start = o.ProjectionStart
	}
	end := "NOW"
	if t.TimeZone != "" && t.TimeZone != "UTC" {
		end = "NOW+1DAYS" // partition values are local dates, ahead of UTC in eastern zones
	}
	props := [][2]string{
		{"projection.enabled", "true"},
		{"projection." + pc + ".type", "date"},
		{"projection." + pc + ".format", format},
		{"projection." + pc + ".range", start + "," + end},
		{"projection." + pc + ".interval", "1"},
		{"projection." + pc + ".interval.unit", unit},
		{"storage.location.template", loc + pc + "=${" + pc + "}/"},
	}
	if o.Format == FormatCSV && o.CSVHeader {
		props = append(props, [2]string{"skip.header.line.count", "1"})
	}
	for i, p := range props {
		fmt.Fprintf(&b, "  %s = %s", sqlString(p[0]), sqlString(p[1]))
		if i < len(props)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(")")
	return b.String()
}

// Athena renders the plan as Athena/Glue DDL statements, in order. For csv
// tables type widening needs no statement (every column is a string).
func (p *Plan) Athena(o AthenaOptions) []string {
	var out []string
	for _, s := range p.Steps {
		tbl := o.table(s.Table.Name)
		switch s.Kind {
		case StepCreateTable:
			out = append(out, s.Table.AthenaCreate(o))
		case StepAddColumns:
			var defs []string
			for i := range s.Columns {
				defs = append(defs, s.Columns[i].athenaDef(o.Format))
			}
			out = append(out, fmt.Sprintf("ALTER TABLE %s ADD COLUMNS (%s)", tbl, strings.Join(defs, ", ")))
		case StepWidenColumn:
			if o.Format != FormatCSV {
				out = append(out, fmt.Sprintf("ALTER TABLE %s CHANGE COLUMN %s %s %s", tbl,
					Quote(s.From.Name), Quote(s.Column.Name), s.Column.Hive))
			}
		case StepDropColumns:
			var defs []string
			for i := range s.Table.Columns {
				if !addedHas(s.Columns, s.Table.Columns[i].Name) {
					defs = append(defs, s.Table.Columns[i].athenaDef(o.Format))
				}
			}
			out = append(out, fmt.Sprintf("ALTER TABLE %s REPLACE COLUMNS (%s)", tbl, strings.Join(defs, ", ")))
		case StepDropTable:
			out = append(out, fmt.Sprintf("DROP TABLE IF EXISTS %s", tbl))
		}
	}
	return out
}

// String renders the plan for people (odsync schema plan): the steps with
// their reasons, the notes, and the lossy columns of the new layout.
func (p *Plan) String() string {
	var b strings.Builder
	name := ""
	switch {
	case p.New != nil:
		name = p.New.Name
	case p.Old != nil:
		name = p.Old.Name
	}
	fmt.Fprintf(&b, "plan %s -> %s (evolution: %s)\n", p.Source, name, p.Mode)
	if p.Empty() {
		b.WriteString("  no DDL\n")
	}
	for _, s := range p.Steps {
		switch s.Kind {
		case StepCreateTable:
			fmt.Fprintf(&b, "  create table %s (%d columns): %s\n", s.Table.Name, len(s.Table.Columns), s.Reason)
		case StepAddColumns:
			var cols []string
			for i := range s.Columns {
				cols = append(cols, s.Columns[i].Name+" "+s.Columns[i].TypeSpec())
			}
			fmt.Fprintf(&b, "  add columns %s to %s: %s\n", strings.Join(cols, ", "), s.Table.Name, s.Reason)
		case StepWidenColumn:
			fmt.Fprintf(&b, "  widen column %s.%s %s -> %s: %s\n", s.Table.Name, s.Column.Name, s.From.TypeSpec(), s.Column.TypeSpec(), s.Reason)
		case StepDropColumns:
			fmt.Fprintf(&b, "  drop columns %s from %s: %s\n", quoteNames(s.Columns), s.Table.Name, s.Reason)
		case StepDropTable:
			fmt.Fprintf(&b, "  drop table %s: %s\n", s.Table.Name, s.Reason)
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	if p.New != nil {
		for i := range p.New.Columns {
			if c := &p.New.Columns[i]; c.Lossy != "" {
				fmt.Fprintf(&b, "  lossy: %s %s: %s\n", c.Name, c.TypeSpec(), c.Lossy)
			}
		}
	}
	return b.String()
}

// Describe renders the target's columns for people (odsync schema plan):
// name, source column and type, MaxCompute, Parquet and Hive types, and
// what a lossy mapping loses.
func (t *Target) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "target %s (source %s, partition %s by %s in %s, evolution: %s)\n",
		t.Name, t.Source, t.PartitionColumn, t.Granularity, t.TimeZone, t.Mode)
	if len(t.Key) > 0 {
		var k []string
		for _, i := range t.Key {
			k = append(k, t.Columns[i].Name)
		}
		fmt.Fprintf(&b, "  key: %s\n", strings.Join(k, ", "))
	} else {
		b.WriteString("  key: none (dedupe by _seq only; set tables[].key)\n")
	}
	for i := range t.Columns {
		c := &t.Columns[i]
		src := "(metadata)"
		switch {
		case c.src != nil:
			src = c.SourceName + " " + rawOr(c.src)
		case c.Meta == MetaNone:
			src = "(no source column: NULL)"
		}
		fmt.Fprintf(&b, "  %-24s %-32s %-16s %-40s %s", c.Name, src, c.MaxCompute, c.Parquet, c.Hive)
		if c.Lossy != "" {
			fmt.Fprintf(&b, "  LOSSY: %s", c.Lossy)
		}
		b.WriteString("\n")
	}
	return b.String()
}
