package schema

import (
	"regexp"
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	t.Parallel()
	src := regexp.MustCompile(`^(?:(?P<db>\w+)\.t_(\d+)_(?P<rest>\w+))$`)
	tests := []struct {
		tmpl, want, err string
	}{
		{"ods_{db}_{table}", "ods_shop_t_07_orders", ""},
		{"x_$2_${rest}", "x_07_orders", ""},
		{"x_${2}0", "x_070", ""},
		{"x_$20", "", "capture group $20 but the source has 3"},
		{"{db}$$", "shop$", ""},
		{"ODS_${db}", "ods_shop", ""},
		{"x_{tbl}", "", "unknown placeholder {tbl}"},
		{"x_{db", "", "unclosed {"},
		{"x_${db", "", "unclosed ${"},
		{"x_$", "", "must be followed"},
		{"", "", "empty template"},
	}
	full := "Shop.t_07_Orders"
	match := src.FindStringSubmatchIndex(full)
	for _, tc := range tests {
		tm, err := parseTemplate(tc.tmpl, src)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseTemplate(%q) error = %v, want %q", tc.tmpl, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseTemplate(%q): %v", tc.tmpl, err)
			continue
		}
		if got := tm.expand(tableKey{db: "Shop", table: "t_07_Orders"}, full, match); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.tmpl, got, tc.want)
		}
	}
	if _, err := parseTemplate("x_$1", nil); err == nil {
		t.Error("capture group in the default template accepted")
	}
}

func TestCheckNames(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{"a": true, "a_1": true, "_a": false, "1a": false, "a-b": false, "A": false,
		strings.Repeat("a", 128): true, strings.Repeat("a", 129): false} {
		if got := checkTableName(name) == nil; got != ok {
			t.Errorf("checkTableName(%q) ok = %v, want %v", name, got, ok)
		}
	}
	for name, ok := range map[string]bool{"a": true, "_a": true, "__v": true, "1a": false, "a b": false, "é": false} {
		if got := checkColumnName(name) == nil; got != ok {
			t.Errorf("checkColumnName(%q) ok = %v, want %v", name, got, ok)
		}
	}
}
