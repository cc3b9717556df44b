package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Table statuses.
const (
	StatusMatch     = "match"
	StatusMismatch  = "mismatch"
	StatusUnsettled = "unsettled" // differences that could not be confirmed or cleared
	StatusError     = "error"
)

// Difference kinds.
const (
	DiffChanged = "changed" // the key exists on both sides with different values
	DiffMissing = "missing" // the key exists in the source, not in the target
	DiffExtra   = "extra"   // the key exists in the target, not in the source
)

// Report is the result of a verification run.
type Report struct {
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	Tables   []TableResult `json:"tables"`
	Summary  Summary       `json:"summary"`
}

// Summary totals a report.
type Summary struct {
	Tables     int   `json:"tables"`
	Matched    int   `json:"matched"`
	Mismatched int   `json:"mismatched"`
	Unsettled  int   `json:"unsettled"`
	Errors     int   `json:"errors"`
	SourceRows int64 `json:"source_rows"`
	TargetRows int64 `json:"target_rows"`
	Chunks     int   `json:"chunks"`
	// BadChunks counts chunks with confirmed differences.
	BadChunks int   `json:"bad_chunks"`
	Changed   int64 `json:"changed"`
	Missing   int64 `json:"missing"`
	Extra     int64 `json:"extra"`
	// UnsettledKeys counts keys that kept changing (or whose sink did not
	// catch up) through every re-check.
	UnsettledKeys int64   `json:"unsettled_keys"`
	Seconds       float64 `json:"seconds"`
}

// OK reports whether every table matched.
func (r *Report) OK() bool {
	return r.Summary.Tables == r.Summary.Matched
}

// TableResult is the verification of one source table against one sink.
type TableResult struct {
	Table  string `json:"table"`
	Sink   string `json:"sink"`
	Target string `json:"target"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Key names the key columns the comparison used.
	Key        []string `json:"key,omitempty"`
	SourceRows int64    `json:"source_rows"`
	TargetRows int64    `json:"target_rows"`
	Chunks     int      `json:"chunks"`
	// BadChunks counts chunks with confirmed differences; Rechecked the
	// keys that needed a re-check (after the sink caught up) and Rounds
	// the re-check rounds run.
	BadChunks int         `json:"bad_chunks"`
	Rechecked int64       `json:"rechecked_keys"`
	Rounds    int         `json:"recheck_rounds"`
	Columns   ColumnCheck `json:"columns"`
	Diffs     DiffCounts  `json:"differences"`
	// Checksum is how the chunks were compared: "rows" or "sql" (server
	// checksums). SourceRowsRead counts the source rows transferred (first
	// pass and re-checks); SourceKeysRead the chunk bounds read in the
	// "sql" mode; RowChunks the chunks that mode compared row by row
	// because their checksums differed.
	Checksum       string `json:"checksum,omitempty"`
	SourceRowsRead int64  `json:"source_rows_read"`
	SourceKeysRead int64  `json:"source_keys_read,omitempty"`
	RowChunks      int    `json:"row_chunks,omitempty"`
	// SourceChecksum and TargetChecksum are the table's order-independent
	// checksums (sum of the row hashes, hex) of the first pass.
	SourceChecksum string `json:"source_checksum,omitempty"`
	TargetChecksum string `json:"target_checksum,omitempty"`
	// Fixes are the likely fixes of the differences found, as commands.
	Fixes     []string       `json:"likely_fixes,omitempty"`
	ChunkList []ChunkResult  `json:"chunks_with_differences,omitempty"`
	Notes     []string       `json:"notes,omitempty"`
	Timing    map[string]any `json:"timing,omitempty"`
}

// DiffCounts counts confirmed differences by kind, and unsettled keys.
type DiffCounts struct {
	Changed   int64 `json:"changed"`
	Missing   int64 `json:"missing"`
	Extra     int64 `json:"extra"`
	Unsettled int64 `json:"unsettled"`
}

func (d DiffCounts) confirmed() int64 { return d.Changed + d.Missing + d.Extra }

// ColumnCheck compares the column names and count of the source (as the
// mapping maps them) with the target.
type ColumnCheck struct {
	Match         bool `json:"match"`
	SourceColumns int  `json:"source_columns"`
	TargetColumns int  `json:"target_columns"`
	// MissingInTarget are columns the source has and the target lacks.
	MissingInTarget []string `json:"missing_in_target,omitempty"`
	// ExtraInTarget are target columns mapped to a source column that the
	// source no longer has (a schema change the target did not see).
	ExtraInTarget []string `json:"extra_in_target,omitempty"`
	// TypeDiffs are columns whose target type cannot hold the source's.
	TypeDiffs []string `json:"type_differences,omitempty"`
	// Retired are target columns kept after their source column was
	// dropped (lenient evolution): expected, not a difference.
	Retired []string `json:"retired,omitempty"`
	// Types lists the compared columns with their source and target types.
	Types []ColumnType `json:"types,omitempty"`
}

// ColumnType is one compared column's type on both sides.
type ColumnType struct {
	Column string `json:"column"`
	Source string `json:"source"`
	Target string `json:"target"`
}

// ChunkResult is one chunk that had differences (confirmed or unsettled).
type ChunkResult struct {
	Chunk  int    `json:"chunk"`
	Range  string `json:"range"`
	Status string `json:"status"`
	// Checksums of the first pass (count and sum of row hashes).
	SourceRows     int64  `json:"source_rows"`
	TargetRows     int64  `json:"target_rows"`
	SourceChecksum string `json:"source_checksum"`
	TargetChecksum string `json:"target_checksum"`
	DiffCounts
	Examples []Example `json:"examples,omitempty"`
}

// Example is one differing key.
type Example struct {
	Key  string `json:"key"`
	Kind string `json:"kind"` // changed, missing, extra, unsettled
	// Columns lists the differing values of a changed row.
	Columns []ValueDiff `json:"columns,omitempty"`
	// TargetPos and TargetSeq are the _pos and _seq of the key's latest
	// target row.
	TargetPos string `json:"target_pos,omitempty"`
	TargetSeq uint64 `json:"target_seq,omitempty"`
	// SourceSeq is the _seq of the key's latest warehouse change (reverse
	// direction: the warehouse is the source).
	SourceSeq uint64 `json:"source_seq,omitempty"`
}

// ValueDiff is one differing column value.
type ValueDiff struct {
	Column string `json:"column"`
	Source string `json:"source"`
	Target string `json:"target"`
}

// summarize fills the summary.
func (r *Report) summarize() {
	s := Summary{Tables: len(r.Tables)}
	for i := range r.Tables {
		t := &r.Tables[i]
		switch t.Status {
		case StatusMatch:
			s.Matched++
		case StatusMismatch:
			s.Mismatched++
		case StatusUnsettled:
			s.Unsettled++
		default:
			s.Errors++
		}
		s.SourceRows += t.SourceRows
		s.TargetRows += t.TargetRows
		s.Chunks += t.Chunks
		s.BadChunks += t.BadChunks
		s.Changed += t.Diffs.Changed
		s.Missing += t.Diffs.Missing
		s.Extra += t.Diffs.Extra
		s.UnsettledKeys += t.Diffs.Unsettled
	}
	s.Seconds = r.Finished.Sub(r.Started).Seconds()
	r.Summary = s
}

// Add appends the tables of another report (a run against other sinks)
// and totals them again.
func (r *Report) Add(o *Report) {
	r.Tables = append(r.Tables, o.Tables...)
	if o.Finished.After(r.Finished) {
		r.Finished = o.Finished
	}
	r.summarize()
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report as a table with the details of every
// difference and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	head := []string{"TABLE", "SINK", "TARGET", "SOURCE ROWS", "TARGET ROWS", "CHUNKS", "BAD", "COLUMNS", "STATUS"}
	rows := [][]string{head}
	for _, t := range r.Tables {
		cols := "ok"
		if !t.Columns.Match {
			cols = "DIFFER"
		}
		if t.Status == StatusError && t.Columns.SourceColumns == 0 {
			cols = "-"
		}
		rows = append(rows, []string{t.Table, t.Sink, t.Target, strconv.FormatInt(t.SourceRows, 10),
			strconv.FormatInt(t.TargetRows, 10), strconv.Itoa(t.Chunks), strconv.Itoa(t.BadChunks), cols,
			strings.ToUpper(t.Status)})
	}
	widths := make([]int, len(head))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			if i >= 3 && i <= 6 {
				b.WriteString(strings.Repeat(" ", widths[i]-len(c)) + c)
			} else if i == len(row)-1 {
				b.WriteString(c)
			} else {
				b.WriteString(c + strings.Repeat(" ", widths[i]-len(c)))
			}
		}
		b.WriteByte('\n')
	}
	for _, t := range r.Tables {
		details := tableDetails(&t)
		if len(details) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s → %s (%s):\n", t.Table, t.Target, t.Sink)
		for _, d := range details {
			b.WriteString("  " + d + "\n")
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\nSummary: %d tables: %d match, %d mismatch, %d unsettled, %d errors; %d source rows, %d target rows, %d chunks (%d with differences); %d changed, %d missing, %d extra, %d unsettled keys; %.1fs\n",
		s.Tables, s.Matched, s.Mismatched, s.Unsettled, s.Errors, s.SourceRows, s.TargetRows, s.Chunks, s.BadChunks,
		s.Changed, s.Missing, s.Extra, s.UnsettledKeys, s.Seconds)
	_, err := io.WriteString(w, b.String())
	return err
}

func tableDetails(t *TableResult) []string {
	var out []string
	if t.Error != "" {
		out = append(out, "error: "+t.Error)
	}
	c := t.Columns
	if len(c.MissingInTarget) > 0 {
		out = append(out, "columns missing in the target: "+strings.Join(c.MissingInTarget, ", "))
	}
	if len(c.ExtraInTarget) > 0 {
		out = append(out, "columns in the target that the source does not have: "+strings.Join(c.ExtraInTarget, ", "))
	}
	for _, d := range c.TypeDiffs {
		out = append(out, "column type: "+d)
	}
	if (len(c.MissingInTarget) > 0 || len(c.ExtraInTarget) > 0) && c.SourceColumns != c.TargetColumns {
		out = append(out, fmt.Sprintf("column count: source %d, target %d", c.SourceColumns, c.TargetColumns))
	}
	for _, ch := range t.ChunkList {
		line := fmt.Sprintf("chunk %d %s: %s", ch.Chunk, ch.Range, ch.Status)
		var parts []string
		for _, p := range []struct {
			n    int64
			what string
		}{{ch.Changed, "changed"}, {ch.Missing, "missing in target"}, {ch.Extra, "extra in target"}, {ch.Unsettled, "unsettled"}} {
			if p.n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
			}
		}
		if len(parts) > 0 {
			line += " (" + strings.Join(parts, ", ") + ")"
		}
		line += fmt.Sprintf("; source %d rows %s, target %d rows %s", ch.SourceRows, ch.SourceChecksum, ch.TargetRows, ch.TargetChecksum)
		out = append(out, line)
		for _, e := range ch.Examples {
			ex := "    " + e.Kind + " " + e.Key
			var cols []string
			for _, v := range e.Columns {
				cols = append(cols, fmt.Sprintf("%s: source %s, target %s", v.Column, v.Source, v.Target))
			}
			if len(cols) > 0 {
				ex += ": " + strings.Join(cols, "; ")
			}
			if e.TargetPos != "" {
				ex += fmt.Sprintf(" [target _seq %d, _pos %s]", e.TargetSeq, e.TargetPos)
			}
			if e.SourceSeq != 0 {
				ex += fmt.Sprintf(" [source _seq %d]", e.SourceSeq)
			}
			out = append(out, ex)
		}
	}
	if extra := t.Chunks; extra > 0 && t.BadChunks > len(t.ChunkList) {
		out = append(out, fmt.Sprintf("... %d more chunks with differences (see --format json or raise --max-chunks)", t.BadChunks-len(t.ChunkList)))
	}
	if t.SourceChecksum != "" && (t.Status == StatusMismatch || t.Status == StatusUnsettled) {
		out = append(out, fmt.Sprintf("checksum: source %d rows %s, target %d rows %s", t.SourceRows, t.SourceChecksum, t.TargetRows, t.TargetChecksum))
	}
	for _, f := range t.Fixes {
		out = append(out, "fix: "+f)
	}
	notes := append([]string(nil), t.Notes...)
	for _, r := range c.Retired {
		notes = append(notes, "column "+r+" is kept from a dropped source column (not compared)")
	}
	sort.Strings(notes)
	for _, n := range notes {
		out = append(out, "note: "+n)
	}
	return out
}
