package kafka

import (
	"os"
	"strings"
	"testing"

	"github.com/odsync/odsync/capture/kafka/canal"
	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/codec/codectest"
	"github.com/odsync/odsync/capture/kafka/debezium"
	"github.com/odsync/odsync/capture/kafka/maxwell"
	"github.com/odsync/odsync/capture/kafka/open"
)

// goldenCases returns the (key, value) messages of a golden file, framed as
// the golden test frames them: seeds for the fuzzers.
func goldenCases(f *testing.F, file, protocol string) [][2][]byte {
	b, err := os.ReadFile(file)
	if err != nil {
		f.Fatal(err)
	}
	var out [][2][]byte
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "decode") {
			continue
		}
		var in []string
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			in = append(in, lines[i])
		}
		key, value := frameInput(strings.Join(in, "\n"), protocol)
		out = append(out, [2][]byte{key, value})
	}
	if len(out) == 0 {
		f.Fatalf("no cases in %s", file)
	}
	return out
}

func frameInput(in, protocol string) (key, value []byte) {
	g := codectest.Golden{}
	if protocol == codec.ProtocolOpen {
		g.OpenBatchVersion = open.OpenBatchVersion
	}
	key, value, _ = g.Message(in) // a bad line: a seed all the same
	return key, value
}

// fuzzDecode decodes and checks the invariants of any successful result.
func fuzzDecode(t *testing.T, d Decoder, key, value []byte) {
	ds, err := d.Decode(key, value)
	if err != nil {
		if _, ok := err.(*codec.DecodeError); !ok {
			t.Fatalf("error of type %T: %v", err, err)
		}
		return
	}
	for _, dd := range ds {
		checkDecoded(t, "fuzz", dd)
	}
	_ = renderDecoded(ds)
}

func FuzzCanalJSON(f *testing.F) {
	for _, c := range goldenCases(f, "canal/testdata/canal_json", codec.ProtocolCanalJSON) {
		f.Add(c[1])
	}
	for _, c := range goldenCases(f, "canal/testdata/canal_flat", codec.ProtocolCanal) {
		f.Add(c[1])
	}
	f.Add([]byte(benchCanalMessage(1, true)))
	ticdc, err := canal.NewCanalJSON(codec.Config{TimeZone: "Asia/Shanghai"})
	if err != nil {
		f.Fatal(err)
	}
	flat, err := canal.NewCanalFlat(codec.Config{TimeZone: "America/New_York"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		fuzzDecode(t, ticdc, nil, value)
		fuzzDecode(t, flat, nil, value)
	})
}

func FuzzOpenProtocol(f *testing.F) {
	for _, c := range goldenCases(f, "open/testdata/open_protocol", codec.ProtocolOpen) {
		f.Add(c[0], c[1])
	}
	k, v := benchOpenMessage(1, 3)
	f.Add(k, v)
	d, err := open.NewOpenProtocol(codec.Config{TimeZone: "Asia/Shanghai"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		fuzzDecode(t, d, key, value)
	})
}

func FuzzDebezium(f *testing.F) {
	for _, c := range goldenCases(f, "debezium/testdata/debezium", codec.ProtocolDebezium) {
		f.Add(c[0], c[1])
	}
	d, err := debezium.NewDebezium(codec.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		fuzzDecode(t, d, key, value)
	})
}

func FuzzMaxwell(f *testing.F) {
	for _, c := range goldenCases(f, "maxwell/testdata/maxwell", codec.ProtocolMaxwell) {
		f.Add(c[0], c[1])
	}
	d, err := maxwell.NewMaxwell(codec.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		fuzzDecode(t, d, key, value)
	})
}
