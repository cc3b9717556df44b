package bytesize

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Size{"1048576": 1 << 20, "64MiB": 64 << 20, "4GiB": 4 << 30, "512KB": 512000,
		"2g": 2 << 30, "7 B": 7, "1ti": 1 << 40} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"lots", "-1", "1.5GiB", "99999999999TiB", ""} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	if s := Size(64 << 20).String(); s != "64MiB" {
		t.Errorf("String = %s", s)
	}
	var v struct{ S Size }
	if err := yaml.Unmarshal([]byte("s: 16MiB"), &v); err != nil || v.S != 16<<20 {
		t.Errorf("yaml: %d %v", v.S, err)
	}
}
