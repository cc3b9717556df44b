package verify

import (
	"bytes"
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
)

// Server-side checksums (Options.Checksum "sql"). Per chunk of the key, the
// source server computes the row count and the sum of a 64-bit hash of
// every row's canonical text in SQL; verify computes the same canonical
// text and hash in Go over the target's rows of the same key range. A
// chunk whose count and sum agree is a match without a single source row
// being transferred; only a chunk that differs is read row by row and
// compared as in the "rows" mode (which then re-checks and reports every
// differing key).
//
// The canonical text of a row is, per compared column in order, the
// column's canonical text x as LENGTH(x) ':' x, or N for NULL, joined by
// ','. The row hash is the first 8 bytes of MD5 of that text as a
// big-endian unsigned integer; the chunk sum is their exact sum (a DECIMAL
// in SQL, 128 bits in Go). Canonical text per source type:
//
//	integers                  decimal digits            CAST(c AS CHAR)
//	YEAR, BIT                 decimal digits            CAST(c+0 AS CHAR)
//	DECIMAL(p,s)              digits, s fraction digits CAST(c AS CHAR)
//	FLOAT, DOUBLE             the server's text of the double value
//	                          (FLOAT widened exactly)   CAST(CAST(c AS DOUBLE) AS CHAR)
//	CHAR, VARCHAR, TEXT,      UTF-8 text                CAST(c AS CHAR CHARACTER SET utf8mb4)
//	ENUM, SET, MariaDB JSON
//	binary strings            upper-case hex            HEX(c)
//	DATE                      YYYY-MM-DD                CAST(c AS CHAR)
//	DATETIME(fsp)             YYYY-MM-DD hh:mm:ss[.f]   CAST(c AS CHAR)
//	TIMESTAMP(fsp)            epoch seconds[.f]         CAST(UNIX_TIMESTAMP(c) AS CHAR)
//	TIME(fsp)                 [-]hh:mm:ss[.f]           CAST(c AS CHAR)
//	TiDB/MySQL JSON           the server's rendering    CAST(c AS CHAR CHARACTER SET utf8mb4)
//
// [.f] has exactly fsp digits. Floats: the servers print the shortest
// text that reads back as the same double, but place the decimal point
// differently (formatDouble has both rules). TiDB's and MySQL's JSON is
// stored in binary and rendered by the server with its own key order,
// spacing and number format: the target's JSON texts of a chunk are sent
// to the server (CAST(CAST(? AS JSON) AS CHAR)) to be rendered the same
// way — target values travel, never source rows.
//
// A column whose source type and target type have no exact inverse here
// (a lossy mapping such as MaxCompute DATETIME's milliseconds, zero dates
// kept as strings, geometry, MySQL 8 floats) makes the whole table fall
// back to the "rows" mode, with a note naming the column. A target value
// kept in _raw, or one the Go side cannot render, makes its chunk be
// compared row by row.

// Checksum modes (Options.Checksum).
const (
	ChecksumRows = "rows" // read every source row and compare in Go
	ChecksumSQL  = "sql"  // per-chunk checksums computed by the source server
)

type sumKind uint8

const (
	sumInt sumKind = iota
	sumDecimal
	sumDouble
	sumText
	sumHex
	sumDate
	sumDateTime
	sumUnix
	sumTime
	sumJSONServer
)

// sumCol is one compared column of a server-side checksum.
type sumCol struct {
	canon int // index in tableJob.canon
	kind  sumKind
	scale int    // DECIMAL scale, or the fractional seconds digits
	expr  string // the SQL text of the value (NULL for NULL)
}

// serverFlavor names the server family whose SQL functions format values:
// "mariadb", "tidb" or "mysql".
func (s *Source) serverFlavor() string {
	if s.tidb {
		return "tidb"
	}
	return s.flavor
}

// sumColumn chooses the canonical text of one compared column, or says
// why the column cannot be checksummed by the server.
func sumColumn(src *event.Column, tgt *schema.TargetColumn, flavor string) (sumCol, string) {
	q := quoteID(src.Name)
	asChar := "CAST(" + q + " AS CHAR)"
	utf8 := "CAST(" + q + " AS CHAR CHARACTER SET utf8mb4)"
	k := tgt.Kind
	intKind := func() bool {
		switch k {
		case schema.KindBoolean, schema.KindTinyInt, schema.KindSmallInt, schema.KindInt, schema.KindBigInt:
			return true
		}
		return k == schema.KindDecimal && tgt.Scale == 0
	}
	fsp := func() int {
		return min(int(src.Scale), 6)
	}
	bad := fmt.Sprintf("column %s (%s → %s)", src.Name, src.RawType, tgt.TypeSpec())
	switch src.Type {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		if intKind() {
			return sumCol{kind: sumInt, expr: asChar}, ""
		}
	case event.TypeYear, event.TypeBit:
		if intKind() {
			return sumCol{kind: sumInt, expr: "CAST(" + q + "+0 AS CHAR)"}, ""
		}
	case event.TypeDecimal:
		if src.Precision == 0 || src.Scale > 30 {
			break // parameters unknown
		}
		if k == schema.KindString || k == schema.KindDecimal && tgt.Scale == int(src.Scale) {
			return sumCol{kind: sumDecimal, scale: int(src.Scale), expr: asChar}, ""
		}
	case event.TypeFloat, event.TypeDouble:
		if flavor == "mysql" {
			return sumCol{}, bad + ": MySQL's text of a double is not reproduced"
		}
		if k == schema.KindFloat && src.Type == event.TypeFloat || k == schema.KindDouble {
			return sumCol{kind: sumDouble, expr: "CAST(CAST(" + q + " AS DOUBLE) AS CHAR)"}, ""
		}
	case event.TypeChar, event.TypeVarchar, event.TypeText:
		if src.Charset == "binary" {
			if k == schema.KindBinary || k == schema.KindString {
				return sumCol{kind: sumHex, expr: "HEX(" + q + ")"}, ""
			}
			break
		}
		if k == schema.KindString {
			return sumCol{kind: sumText, expr: utf8}, ""
		}
	case event.TypeEnum, event.TypeSet:
		if k == schema.KindString || k == schema.KindStringArray {
			return sumCol{kind: sumText, expr: utf8}, ""
		}
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector:
		// Geometry and vectors: the server's stored bytes, as the
		// capture writes them.
		if k == schema.KindBinary {
			return sumCol{kind: sumHex, expr: "HEX(" + q + ")"}, ""
		}
	case event.TypeJSON:
		if k != schema.KindString && k != schema.KindJSON {
			break
		}
		if flavor == "mariadb" {
			// Stored as text: compared exactly, as the rows mode does.
			return sumCol{kind: sumText, expr: utf8}, ""
		}
		return sumCol{kind: sumJSONServer, expr: utf8}, ""
	case event.TypeDate:
		if k == schema.KindDate {
			return sumCol{kind: sumDate, expr: asChar}, ""
		}
	case event.TypeDateTime:
		if k == schema.KindTimestampNTZ || k == schema.KindTimestamp {
			return sumCol{kind: sumDateTime, scale: fsp(), expr: asChar}, ""
		}
	case event.TypeTimestamp:
		if k == schema.KindTimestamp {
			return sumCol{kind: sumUnix, scale: fsp(), expr: "CAST(UNIX_TIMESTAMP(" + q + ") AS CHAR)"}, ""
		}
	case event.TypeTime:
		if k == schema.KindString {
			return sumCol{kind: sumTime, scale: fsp(), expr: asChar}, ""
		}
	}
	return sumCol{}, bad + ": no exact canonical text on both sides"
}

// rowSumExpr is the SQL expression of a row's 64-bit hash.
func rowSumExpr(cols []sumCol) string {
	var b strings.Builder
	b.WriteString("CAST(CONV(SUBSTRING(MD5(CONCAT(")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ',', ")
		}
		x := "CAST(" + c.expr + " AS BINARY)"
		b.WriteString("IFNULL(CONCAT(LENGTH(" + x + "), ':', " + x + "), 'N')")
	}
	b.WriteString(")), 1, 16), 16, 10) AS UNSIGNED)")
	return b.String()
}

// appendSumPiece appends one column's part of a row's canonical text.
func appendSumPiece(buf []byte, text string, null bool) []byte {
	if null {
		return append(buf, 'N')
	}
	buf = strconv.AppendInt(buf, int64(len(text)), 10)
	buf = append(buf, ':')
	return append(buf, text...)
}

// sumRowHash is the 64-bit hash of a row's canonical text.
func sumRowHash(text []byte) uint64 {
	h := md5.Sum(text)
	return binary.BigEndian.Uint64(h[:8])
}

// sum128 is an exact sum of 64-bit row hashes.
type sum128 struct{ hi, lo uint64 }

func (s *sum128) add(v uint64) {
	var c uint64
	s.lo, c = bits.Add64(s.lo, v, 0)
	s.hi += c
}

func (s sum128) String() string {
	b := new(big.Int).SetUint64(s.hi)
	b.Lsh(b, 64)
	b.Or(b, new(big.Int).SetUint64(s.lo))
	return b.String()
}

// low64 folds a decimal sum into 64 bits, for the report's checksums.
func low64(dec string) uint64 {
	b, ok := new(big.Int).SetString(dec, 10)
	if !ok {
		return 0
	}
	return new(big.Int).And(b, new(big.Int).SetUint64(math.MaxUint64)).Uint64()
}

// sumText renders a target value (parsed from its canonical text) as the
// source column's canonical text. ok is false when it cannot.
func (c *sumCol) text(v event.Value, flavor string) (string, bool) {
	switch c.kind {
	case sumInt:
		switch v.Kind() {
		case event.KindInt:
			return strconv.FormatInt(v.Int(), 10), true
		case event.KindUint, event.KindBits:
			return strconv.FormatUint(v.Uint(), 10), true
		case event.KindDecimal, event.KindString:
			return odsfile.NormalizeDecimal(v.Str(), 0)
		}
	case sumDecimal:
		switch v.Kind() {
		case event.KindDecimal, event.KindString:
			return odsfile.NormalizeDecimal(v.Str(), c.scale)
		}
	case sumDouble:
		switch v.Kind() {
		case event.KindFloat32, event.KindFloat64:
			f := v.Float()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return "", false
			}
			return formatDouble(f, flavor), true
		}
	case sumText, sumJSONServer:
		switch v.Kind() {
		case event.KindString, event.KindJSON, event.KindEnum, event.KindSet:
			return v.Str(), true
		}
	case sumHex:
		switch v.Kind() {
		case event.KindBytes, event.KindString:
			return strings.ToUpper(hex.EncodeToString([]byte(v.Str()))), true
		}
	case sumDate:
		if v.Kind() == event.KindDate {
			y, mo, d, _, _, _, _ := v.Civil()
			return fmt.Sprintf("%04d-%02d-%02d", y, mo, d), true
		}
	case sumDateTime:
		var y, mo, d, h, mi, s, us int
		switch v.Kind() {
		case event.KindDateTime:
			y, mo, d, h, mi, s, us = v.Civil()
		case event.KindTimestamp:
			t := v.Time().UTC()
			y, mo, d, h, mi, s, us = t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000
		default:
			return "", false
		}
		frac, ok := fraction(us, c.scale)
		return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, s) + frac, ok
	case sumUnix:
		if v.Kind() == event.KindTimestamp {
			m := v.Micros()
			if m < 0 {
				return "", false
			}
			frac, ok := fraction(int(m%1_000_000), c.scale)
			return strconv.FormatInt(m/1_000_000, 10) + frac, ok
		}
	case sumTime:
		if v.Kind() == event.KindString {
			return timeText(v.Str(), c.scale)
		}
	}
	return "", false
}

// rawText renders a value kept as raw text in _raw (D1: it does not fit
// its typed column, e.g. a zero date) as the source column's canonical
// text; ok is false when it cannot (the chunk is then compared row by
// row).
func (c *sumCol) rawText(s string, flavor string) (string, bool) {
	switch c.kind {
	case sumInt, sumDecimal, sumText, sumTime:
		return c.text(event.String(s), flavor)
	case sumDate:
		if len(s) == 10 && s[4] == '-' && s[7] == '-' && digitsOnly(s[:4]+s[5:7]+s[8:]) {
			return s, true
		}
	case sumDateTime, sumUnix:
		if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' ||
			!digitsOnly(s[:4]+s[5:7]+s[8:10]+s[11:13]+s[14:16]+s[17:19]) {
			return "", false
		}
		us := 0
		if len(s) > 19 {
			f := s[20:]
			if s[19] != '.' || len(f) == 0 || len(f) > 6 || !digitsOnly(f) {
				return "", false
			}
			us, _ = strconv.Atoi(f + strings.Repeat("0", 6-len(f)))
		}
		frac, ok := fraction(us, c.scale)
		if c.kind == sumDateTime {
			return s[:19] + frac, ok
		}
		// UNIX_TIMESTAMP of the zero TIMESTAMP is 0; no other raw
		// TIMESTAMP text has an epoch here.
		if s[:19] == "0000-00-00 00:00:00" && us == 0 {
			return "0" + frac, ok
		}
	}
	return "", false
}

// fraction renders microseconds with fsp digits ("" for fsp 0); ok is
// false when digits beyond fsp are not zero.
func fraction(us, fsp int) (string, bool) {
	s := fmt.Sprintf("%06d", us)
	if strings.TrimRight(s[fsp:], "0") != "" {
		return "", false
	}
	if fsp == 0 {
		return "", true
	}
	return "." + s[:fsp], true
}

// timeText normalises a TIME text ("-838:59:59.000000", "1:02:03") to
// the server's CAST(TIME AS CHAR): at least two hour digits, fsp fraction
// digits.
func timeText(s string, fsp int) (string, bool) {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	hms, frac, _ := strings.Cut(s, ".")
	parts := strings.Split(hms, ":")
	if len(parts) != 3 || !digitsOnly(frac) || len(frac) > 6 {
		return "", false
	}
	n := make([]int, 3)
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || p == "" || v < 0 || i > 0 && (len(p) != 2 || v > 59) {
			return "", false
		}
		n[i] = v
	}
	frac += strings.Repeat("0", 6-len(frac))
	us, _ := strconv.Atoi(frac)
	f, ok := fraction(us, fsp)
	if sign == "-" && n[0] == 0 && n[1] == 0 && n[2] == 0 && us == 0 {
		sign = ""
	}
	return fmt.Sprintf("%s%02d:%02d:%02d%s", sign, n[0], n[1], n[2], f), ok
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// formatDouble renders a double as the server's CAST(double AS CHAR):
// the shortest digits that read back as f, in fixed notation unless the
// server switches to an exponent.
//
// MariaDB (my_gcvt): fixed while the decimal exponent decpt (f =
// 0.DIGITS × 10^decpt) is at least -14 and at most 15, or the digits
// reach past the point; else d.ddde<exp>.
//
// TiDB (builtinCastRealAsStringSig: strconv.FormatFloat(f, 'f', -1, 64)):
// always fixed notation.
func formatDouble(f float64, flavor string) string {
	if f == 0 {
		return "0"
	}
	neg := f < 0
	s := strconv.FormatFloat(math.Abs(f), 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	digits := strings.Replace(mant, ".", "", 1)
	e, _ := strconv.Atoi(exp)
	decpt := e + 1
	n := len(digits)
	var fixed bool
	switch flavor {
	case "tidb":
		fixed = true
	default:
		fixed = decpt >= -14 && (decpt <= 15 || n > decpt)
	}
	var out string
	switch {
	case fixed && decpt <= 0:
		out = "0." + strings.Repeat("0", -decpt) + digits
	case fixed && decpt < n:
		out = digits[:decpt] + "." + digits[decpt:]
	case fixed:
		out = digits + strings.Repeat("0", decpt-n)
	default:
		out = digits[:1]
		if n > 1 {
			out += "." + digits[1:]
		}
		out += "e" + strconv.Itoa(decpt-1)
	}
	if neg {
		out = "-" + out
	}
	return out
}

// sumPlan is a table's server-side checksum: its columns and the SQL of
// the row hash.
type sumPlan struct {
	cols   []sumCol
	expr   string
	flavor string
	json   bool // some column is rendered by the server from target texts
}

// planSum prepares the server-side checksum of a table job; a non-empty
// reason says why the table is compared row by row instead.
func (j *tableJob) planSum() (*sumPlan, string) {
	flavor := j.v.src.serverFlavor()
	p := &sumPlan{flavor: flavor}
	for i := range j.canon {
		cc := &j.canon[i]
		if cc.col.Source < 0 || cc.col.Source >= len(j.src.Table.Columns) {
			return nil, fmt.Sprintf("column %s has no source column", cc.col.Name)
		}
		c, why := sumColumn(&j.src.Table.Columns[cc.col.Source], cc.col, flavor)
		if why != "" {
			return nil, why
		}
		c.canon = i
		if c.kind == sumJSONServer {
			p.json = true
		}
		p.cols = append(p.cols, c)
	}
	if len(p.cols) == 0 {
		return nil, "no compared columns"
	}
	p.expr = rowSumExpr(p.cols)
	return p, ""
}

// targetSum computes the count and checksum of the target's live rows in
// the store range (lo, hi]. ok is false when some row cannot be rendered
// canonically (a value kept in _raw, an unexpected value): the chunk is
// then compared row by row.
func (j *tableJob) targetSum(ctx context.Context, p *sumPlan, lo, hi []byte) (n int64, sum sum128, ok bool, err error) {
	ok = true
	var texts [][]string // per row, per sum column
	var nulls [][]bool
	err = j.store.scanTargets(lo, hi, func(key []byte, r *targetRow) error {
		if !r.live() {
			return nil
		}
		n++
		if !ok {
			return nil
		}
		vals, null, raw, good := decodeCanonMarks(r.Canon, len(j.canon))
		if !good {
			ok = false
			return nil
		}
		rt := make([]string, len(p.cols))
		rn := make([]bool, len(p.cols))
		for i := range p.cols {
			c := &p.cols[i]
			if null[c.canon] {
				rn[i] = true
				continue
			}
			var text string
			var good bool
			if raw[c.canon] {
				// Kept in _raw (D1): the source's text of the value.
				text, good = c.rawText(vals[c.canon], p.flavor)
			} else {
				text, good = c.text(odsfile.FromText(j.canon[c.canon].col, vals[c.canon]), p.flavor)
			}
			if !good {
				ok = false
				return nil
			}
			rt[i] = text
		}
		texts = append(texts, rt)
		nulls = append(nulls, rn)
		return nil
	})
	if err != nil || !ok {
		return n, sum, ok, err
	}
	if p.json {
		if err := j.v.src.renderJSON(ctx, p, texts, nulls); err != nil {
			// A target text the server does not take as JSON (or a
			// failed query): the chunk is compared row by row, which
			// reports the value (or meets the failure itself).
			return n, sum, false, ctx.Err()
		}
	}
	var buf []byte
	for r := range texts {
		buf = buf[:0]
		for i := range p.cols {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendSumPiece(buf, texts[r][i], nulls[r][i])
		}
		sum.add(sumRowHash(buf))
	}
	return n, sum, true, nil
}

// decodeCanonMarks is decodeCanon that also reports the values kept as
// raw text (marker 2).
func decodeCanonMarks(enc []byte, n int) (texts []string, null, raw []bool, ok bool) {
	texts, null, ok = decodeCanon(enc, n)
	if !ok {
		return nil, nil, nil, false
	}
	raw = make([]bool, n)
	for i := 0; i < n; i++ {
		if enc[0] == 0 {
			enc = enc[1:]
			continue
		}
		raw[i] = enc[0] == 2
		l, k := binary.Uvarint(enc[1:])
		enc = enc[1+k+int(l):]
	}
	return texts, null, raw, true
}

// renderJSON replaces the target's JSON texts of server-rendered columns
// by the server's rendering of the same JSON value, in batches.
func (s *Source) renderJSON(ctx context.Context, p *sumPlan, texts [][]string, nulls [][]bool) error {
	type ref struct{ r, c int }
	var refs []ref
	for r := range texts {
		for i := range p.cols {
			if p.cols[i].kind == sumJSONServer && !nulls[r][i] {
				refs = append(refs, ref{r, i})
			}
		}
	}
	const batch = 100
	for start := 0; start < len(refs); start += batch {
		part := refs[start:min(start+batch, len(refs))]
		sel := make([]string, len(part))
		args := make([]any, len(part))
		for i, rf := range part {
			sel[i] = "CAST(CAST(? AS JSON) AS CHAR CHARACTER SET utf8mb4)"
			args[i] = texts[rf.r][rf.c]
		}
		out := make([]sql.NullString, len(part))
		ptrs := make([]any, len(part))
		for i := range out {
			ptrs[i] = &out[i]
		}
		if err := s.db.QueryRowContext(ctx, "SELECT "+strings.Join(sel, ", "), args...).Scan(ptrs...); err != nil {
			return fmt.Errorf("render the target's JSON values on the server: %w", err)
		}
		for i, rf := range part {
			texts[rf.r][rf.c] = out[i].String
		}
	}
	return nil
}

// keyRange is the SQL condition of the key range (lo, hi] (nil: open).
func keyRange(keyNames []string, lo, hi []any) (string, []any) {
	var conds []string
	var args []any
	cmp := func(vals []any, strict, strictLast string) {
		var ors []string
		for i := range keyNames {
			var ands []string
			for j := 0; j < i; j++ {
				ands = append(ands, keyNames[j]+" = ?")
				args = append(args, vals[j])
			}
			op := strict
			if i == len(keyNames)-1 {
				op = strictLast
			}
			ands = append(ands, keyNames[i]+" "+op+" ?")
			args = append(args, vals[i])
			ors = append(ors, "("+strings.Join(ands, " AND ")+")")
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
	}
	if lo != nil {
		cmp(lo, ">", ">")
	}
	if hi != nil {
		cmp(hi, "<", "<=")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// pass1SQL is pass1 with server-side checksums: chunk bounds are found by
// reading one key per chunk, each chunk's count and checksum are computed
// by the server, and only chunks that differ are read and compared row by
// row.
func (j *tableJob) pass1SQL(ctx context.Context, p *sumPlan) error {
	src := j.v.src
	t := j.src.Table
	from := quoteID(t.ID.DB) + "." + quoteID(t.ID.Table)
	keyNames := make([]string, len(j.srcKey))
	keyExprs := make([]string, len(j.srcKey))
	for i, k := range j.srcKey {
		keyNames[i] = quoteID(t.Columns[k].Name)
		keyExprs[i] = j.src.rows.cols[k].expr
	}
	order := " ORDER BY " + strings.Join(keyNames, ", ")
	n := j.v.opts.ChunkSize
	var loParams []any
	var lo []byte
	loText := "-inf"
	var rowsCompared int64
	for no := 0; ; no++ {
		// The chunk's upper bound: the key of the n-th row after lo.
		where, args := keyRange(keyNames, loParams, nil)
		q := "SELECT " + strings.Join(keyExprs, ", ") + " FROM " + from + where + order + " LIMIT 1 OFFSET " + strconv.Itoa(n-1)
		raw := make([]any, len(keyExprs))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		var hiParams []any
		var hi []byte
		hiText := "+inf"
		last := false
		err := src.db.QueryRowContext(ctx, q, args...).Scan(ptrs...)
		switch {
		case err == sql.ErrNoRows:
			last = true
		case err != nil:
			return fmt.Errorf("chunk %d: read its bound: %w", no, err)
		default:
			src.keysRead++
			img := make([]event.Value, len(t.Columns))
			for i, k := range j.srcKey {
				v, err := j.src.rows.cols[k].value(raw[i])
				if err != nil {
					return fmt.Errorf("chunk %d: read its bound: %w", no, err)
				}
				img[k] = v
				p, err := sqlParam(&t.Columns[k], v)
				if err != nil {
					return fmt.Errorf("chunk %d: read its bound: %w", no, err)
				}
				hiParams = append(hiParams, p)
			}
			e := event.Event{Op: event.OpRead, Source: t.ID, Table: t, After: img}
			trow := j.target.Row(&e, nil)
			hi = appendKey(nil, j.keys, trow)
			hiText = keyText(j.keys, j.target, trow)
			if lo != nil && bytes.Compare(hi, lo) < 0 {
				hi = lo
			}
		}
		// The server's count and checksum of (lo, hi].
		where, args = keyRange(keyNames, loParams, hiParams)
		var cnt int64
		var srcSum sql.NullString
		q = "SELECT COUNT(*), CAST(SUM(" + p.expr + ") AS CHAR) FROM " + from + where
		if err := src.db.QueryRowContext(ctx, q, args...).Scan(&cnt, &srcSum); err != nil {
			return fmt.Errorf("chunk %d: checksum on the server: %w", no, err)
		}
		if !srcSum.Valid {
			srcSum.String = "0"
		}
		tn, tsum, ok, err := j.targetSum(ctx, p, lo, hi)
		if err != nil {
			return fmt.Errorf("chunk %d: %w", no, err)
		}
		st := chunkStat{lo: loText, hi: hiText}
		if ok && tn == cnt && tsum.String() == srcSum.String {
			st.srcRows, st.tgtRows = cnt, tn
			st.srcSum, st.tgtSum = low64(srcSum.String), low64(tsum.String())
			j.chunks = append(j.chunks, st)
		} else {
			// Differs (or cannot be checksummed): compare its rows.
			j.res.RowChunks++
			c := &sourceChunk{No: len(j.chunks), Lo: loParams, Hi: hiParams, Last: last}
			if c.Before, err = src.Watermark(ctx); err != nil {
				return err
			}
			where, args = keyRange(keyNames, loParams, hiParams)
			rs, err := src.db.QueryContext(ctx, "SELECT "+j.src.rows.SelectList()+" FROM "+from+where+order, args...)
			if err != nil {
				return fmt.Errorf("chunk %d: %w", no, err)
			}
			if c.Rows, err = scanRows(rs, j.src.rows); err != nil {
				return fmt.Errorf("chunk %d: %w", no, err)
			}
			if c.After, err = src.Watermark(ctx); err != nil {
				return err
			}
			src.rowsRead += int64(len(c.Rows))
			rows, err := j.reduce(c.Rows)
			if err != nil {
				return fmt.Errorf("chunk %d: %w", no, err)
			}
			if err := j.compareChunk(c, rows, lo, hi, &st); err != nil {
				return fmt.Errorf("chunk %d: %w", no, err)
			}
			j.chunks = append(j.chunks, st)
		}
		if err := src.limit.wait(ctx, int(cnt)); err != nil {
			return err
		}
		rowsCompared += cnt
		j.v.progress(Progress{Table: j.res.Table, Sink: j.sink.Name, Phase: "compare (server checksums)", Rows: rowsCompared,
			EstimatedRows: j.src.EstimatedRows, Chunks: len(j.chunks)})
		if last {
			return nil
		}
		loParams, lo, loText = hiParams, hi, hiText
	}
}
