package jsontape

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzJSONTape checks the tape parser against encoding/json: the same
// documents are valid, and strings unescape to the same text.
func FuzzJSONTape(f *testing.F) {
	for _, s := range []string{`{"m":{"a":"b","c":1,"d":null,"e":true},"n":{"x":[1]}} {"k":{}}`, `{"a":{"b":"c",}}`,
		`{"a":[1,2.5e-3,{"b":null}],"c":"x\u00e9\ud83d\ude00\n"}`, `"\ud800"`, `[true,false]`, `-0`, `{"":""}`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	// The messages of the Kafka decoders' golden files.
	files, _ := filepath.Glob("../capture/kafka/*/testdata/*")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "{") {
				f.Add([]byte(line))
			}
		}
	}
	var tp, all, objs, aux Tape
	f.Fuzz(func(t *testing.T, data []byte) {
		// parseObjects (canal-json's driver, which keeps flat members raw)
		// accepts exactly what parseAll accepts.
		_, errAll := all.ParseAll(data, nil)
		_, errObj := objs.ParseObjects(data, nil, func([]byte) bool { return true })
		if (errAll == nil) != (errObj == nil) {
			t.Fatalf("%q: parseAll %v, parseObjects %v", data, errAll, errObj)
		}
		if errObj == nil {
			for i := range objs.Nodes {
				if objs.Nodes[i].Kind == JRaw {
					if _, err := aux.ParseOne(objs.Raw(int32(i))); err != nil {
						t.Fatalf("%q: raw node %q does not parse: %v", data, objs.Raw(int32(i)), err)
					}
				}
			}
		}
		root, err := tp.ParseOne(data)
		if valid := json.Valid(data); (err == nil) != valid {
			t.Fatalf("%q: tape error %v, json.Valid %v", data, err, valid)
		}
		if err != nil {
			return
		}
		// Every string node unescapes like encoding/json (which also turns
		// invalid UTF-8 into U+FFFD; the tape keeps bytes, so compare only
		// valid UTF-8).
		for i := range tp.Nodes {
			n := tp.Nodes[i]
			if n.Kind != JString {
				continue
			}
			raw := data[n.Start-1 : n.End+1]
			var want string
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("encoding/json rejects string %q: %v", raw, err)
			}
			got := tp.Str(int32(i))
			if utf8.ValidString(got) && got != want {
				t.Fatalf("string %q: got %q want %q", raw, got, want)
			}
		}
		if tp.Nodes[root].Next != int32(len(tp.Nodes)) {
			t.Fatalf("root subtree ends at %d of %d nodes", tp.Nodes[root].Next, len(tp.Nodes))
		}
	})
}
