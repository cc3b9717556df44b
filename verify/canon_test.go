package verify

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
)

func TestNormalizeDecimal(t *testing.T) {
	for _, tc := range []struct {
		in    string
		scale int
		want  string
		ok    bool
	}{
		{"1.5", 2, "1.50", true},
		{"001.500", 2, "1.50", true},
		{"-0.00", 2, "0.00", true},
		{"-0.5", 0, "", false},
		{"-12", 0, "-12", true},
		{".5", 1, "0.5", true},
		{"12.340", 2, "12.34", true},
		{"+3", 1, "3.0", true},
		{"1e5", 0, "", false},
		{"", 0, "", false},
		{"18446744073709551615", 0, "18446744073709551615", true},
	} {
		got, ok := odsfile.NormalizeDecimal(tc.in, tc.scale)
		if got != tc.want || ok != tc.ok {
			t.Errorf("odsfile.NormalizeDecimal(%q, %d) = %q, %v; want %q, %v", tc.in, tc.scale, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNormalizeJSON(t *testing.T) {
	a, ok1 := normalizeJSON(`{"k": [1, 2.50, "x"], "a": {"z": true, "b": null}}`)
	b, ok2 := normalizeJSON(`{"a":{"b":null,"z":true},"k":[1,2.5,"x"]}`)
	if !ok1 || !ok2 || a != b {
		t.Fatalf("normalized forms differ: %q %q", a, b)
	}
	if a != `{"a":{"b":null,"z":true},"k":[1,2.5,"x"]}` {
		t.Errorf("normalized = %s", a)
	}
	if _, ok := normalizeJSON(`{"a":1} trailing`); ok {
		t.Error("trailing garbage accepted")
	}
	c, _ := normalizeJSON(`{"a":1}`)
	d, _ := normalizeJSON(`{"a":2}`)
	if c == d {
		t.Error("different documents normalize equal")
	}
}

// TestKeyOrder checks that the key encoding orders values as MySQL does
// for the exactly-ordered types.
func TestKeyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := map[string][]event.Value{}
	for i := 0; i < 300; i++ {
		cases["int"] = append(cases["int"], event.Int(rng.Int64()-math.MaxInt64/2))
		cases["uint"] = append(cases["uint"], event.Uint(rng.Uint64()))
		f := (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(20)-10))
		cases["float"] = append(cases["float"], event.Float64(f))
		cases["ts"] = append(cases["ts"], event.TimestampMicros(rng.Int64N(1<<50)-1<<49))
		cases["date"] = append(cases["date"], event.DateTime(1+rng.IntN(9998), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1e6)))
		ip := strconv.FormatUint(rng.Uint64N(1e12), 10)
		if rng.IntN(3) == 0 {
			ip = "0"
		}
		fr := strconv.FormatUint(rng.Uint64N(1e6), 10)
		sign := ""
		if rng.IntN(2) == 0 {
			sign = "-"
		}
		cases["decimal"] = append(cases["decimal"], event.Decimal(sign+ip+"."+fr))
		b := make([]byte, rng.IntN(6))
		for k := range b {
			b[k] = byte(rng.IntN(3)) // many zero bytes and prefixes
		}
		cases["bytes"] = append(cases["bytes"], event.Bytes(b))
	}
	cmp := map[string]func(a, b event.Value) int{
		"int":   func(a, b event.Value) int { return compareInt(a.Int(), b.Int()) },
		"uint":  func(a, b event.Value) int { return compareUint(a.Uint(), b.Uint()) },
		"float": func(a, b event.Value) int { return compareFloat(a.Float(), b.Float()) },
		"ts":    func(a, b event.Value) int { return compareInt(a.Micros(), b.Micros()) },
		"date": func(a, b event.Value) int {
			ta, _ := a.CivilTime(time.UTC)
			tb, _ := b.CivilTime(time.UTC)
			return ta.Compare(tb)
		},
		"decimal": func(a, b event.Value) int {
			fa, _ := strconv.ParseFloat(a.Str(), 64)
			fb, _ := strconv.ParseFloat(b.Str(), 64)
			return compareFloat(fa, fb)
		},
		"bytes": func(a, b event.Value) int { return bytes.Compare([]byte(a.Str()), []byte(b.Str())) },
	}
	for name, vals := range cases {
		for i := 0; i+1 < len(vals); i++ {
			a, b := vals[i], vals[i+1]
			ka := appendKeyValue(nil, a, nil)
			kb := appendKeyValue(nil, b, nil)
			want := cmp[name](a, b)
			if got := sign(bytes.Compare(ka, kb)); got != want {
				t.Errorf("%s: order of %s and %s: key says %d, value says %d", name, a, b, got, want)
			}
		}
	}
}

func TestDecimalKeyEdges(t *testing.T) {
	vals := []string{"-100", "-10.5", "-10", "-1.55", "-1.5", "-0.5", "-0.05", "0", "0.0001", "0.05", "0.5", "1", "1.5", "1.55", "9.99", "10", "10.5", "100"}
	var keys [][]byte
	for _, v := range vals {
		keys = append(keys, appendDecimalKey(nil, v))
	}
	if !slices.IsSortedFunc(keys, bytes.Compare) {
		t.Fatalf("decimal keys are not in numeric order")
	}
	if !bytes.Equal(appendDecimalKey(nil, "1.50"), appendDecimalKey(nil, "001.5")) {
		t.Error("equal decimals encode differently")
	}
	if !bytes.Equal(appendDecimalKey(nil, "-0.00"), appendDecimalKey(nil, "0")) {
		t.Error("zero and negative zero differ")
	}
}

func TestCompositeKeyAndWeights(t *testing.T) {
	tg := &schema.Target{Columns: []schema.TargetColumn{{Name: "a", Kind: schema.KindString}, {Name: "b", Kind: schema.KindInt}}}
	ci := []keyCol{{idx: 0, weight: weigherFor("utf8mb4_general_ci")}, {idx: 1}}
	rows := [][]event.Value{
		{event.String("a"), event.Int(2)},
		{event.String("A"), event.Int(1)},
		{event.String("a\x00"), event.Int(0)},
		{event.String("ab"), event.Int(-1)},
		{event.String("B"), event.Int(5)},
	}
	var keys [][]byte
	for _, r := range rows {
		keys = append(keys, appendKey(nil, ci, r))
	}
	// Case-insensitive weights: "a"/"A" sort together and before "ab", "B".
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(x, y int) bool { return bytes.Compare(keys[order[x]], keys[order[y]]) < 0 })
	pos := map[int]int{}
	for p, i := range order {
		pos[i] = p
	}
	if !(pos[0] < pos[3] && pos[1] < pos[3] && pos[3] < pos[4]) {
		t.Errorf("case-insensitive order wrong: %v", order)
	}
	// Distinct values never share a key.
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[string(k)] {
			t.Errorf("two rows share key %x", k)
		}
		seen[string(k)] = true
	}
	if got := keyText(ci, tg, rows[0]); got != "a=a,b=2" {
		t.Errorf("keyText = %q", got)
	}
	if w := weigherFor("utf8mb4_bin"); w == nil || w("x  ") != "x" {
		t.Error("PAD SPACE _bin collation must ignore trailing spaces")
	}
	if weigherFor("utf8mb4_0900_bin") != nil || weigherFor("binary") != nil {
		t.Error("binary / NO PAD _bin collations compare bytes")
	}
}

func TestCanonRoundTrip(t *testing.T) {
	col := &schema.TargetColumn{Name: "x", Kind: schema.KindDecimal, Precision: 10, Scale: 2}
	c := &canonCol{col: col}
	var scratch []byte
	enc := appendCanon(nil, c, event.Decimal("1.5"), &scratch)
	enc = appendCanon(enc, c, event.Null, &scratch)
	enc = appendCanon(enc, c, event.Decimal("-001.50"), &scratch)
	texts, null, ok := decodeCanon(enc, 3)
	if !ok || texts[0] != "1.50" || !null[1] || texts[2] != "-1.50" {
		t.Fatalf("decodeCanon = %q %v %v", texts, null, ok)
	}
	if _, _, ok := decodeCanon(enc[:len(enc)-1], 3); ok {
		t.Error("truncated encoding accepted")
	}
	if rowHash(enc) == rowHash(append(enc[:len(enc):len(enc)], 0)) {
		t.Error("hash ignores trailing bytes")
	}
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
