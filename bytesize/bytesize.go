// Package bytesize is a byte count that configuration files write with
// units: 1048576, "64MiB", "4GiB", "512KB", "2g".
package bytesize

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a number of bytes.
type Size int64

var sizeRe = regexp.MustCompile(`^\s*([0-9]+)\s*([KMGT]I?B?|B)?\s*$`)

var multipliers = map[string]int64{"": 1, "B": 1,
	"K": 1 << 10, "KI": 1 << 10, "KIB": 1 << 10, "KB": 1000,
	"M": 1 << 20, "MI": 1 << 20, "MIB": 1 << 20, "MB": 1000 * 1000,
	"G": 1 << 30, "GI": 1 << 30, "GIB": 1 << 30, "GB": 1000 * 1000 * 1000,
	"T": 1 << 40, "TI": 1 << 40, "TIB": 1 << 40, "TB": 1000 * 1000 * 1000 * 1000}

// Parse reads a size: digits with an optional unit (B, K/KiB = 1024,
// KB = 1000, and so on up to T), case-insensitive.
func Parse(s string) (Size, error) {
	m := sizeRe.FindStringSubmatch(strings.ToUpper(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (examples: 1048576, 64MiB, 4GiB)", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: %w", s, err)
	}
	mult := multipliers[m[2]]
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Size(n * mult), nil
}

// UnmarshalYAML parses sizes with units.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := Parse(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = v
	return nil
}

// String renders the size with the largest binary unit that divides it.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		n    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s != 0 && int64(s)%u.n == 0 {
			return strconv.FormatInt(int64(s)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// Human renders a byte count for people, in binary units with one decimal
// ("512 B", "1.5 KiB", "5.0 GiB"). It is odsync's one byte formatter (the
// status page, odsync status and odsync offsets); String renders a Size
// exactly, as configuration is written.
func Human(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if f < 1024 && f > -1024 || u == "TiB" {
			if u == "B" {
				return strconv.FormatInt(n, 10) + " B"
			}
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + u
		}
		f /= 1024
	}
	return ""
}
