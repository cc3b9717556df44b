package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/registry/builtin"
)

// sections are the roots docs/configuration.md has a heading for; every key
// is documented relative to the longest root that contains it. Each
// registered kind adds its own (source.mysql, sinks[].s3).
var sections = []string{
	"state", "source", "mapping", "sinks[]", "sinks[].batch",
	"admin", "telemetry", "verify", "log",
}

// TestReferenceDocumentsEveryKey keeps docs/configuration.md complete: every
// YAML key of Config (and of the source, mapping and sink configs it holds)
// appears there in backticks, written relative to its section, under that
// section's heading.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	bySection := splitSections(string(data))
	keys := yamlKeys(reflect.TypeOf(Config{}), "")
	// The kinds' settings, under the key named after each kind.
	reg := builtin.Registry()
	sections := slices.Clone(sections)
	for _, k := range reg.Sources() {
		prefix := "source." + k.Name + "."
		if len(k.Sections) > 0 {
			prefix = "source." // its settings hold the keys source.NAME and the Sections
		}
		keys = append(keys, yamlKeys(reflect.TypeOf(k.NewConfig()), prefix)...)
		sections = append(sections, "source."+k.Name)
	}
	for _, k := range reg.Sinks() {
		keys = append(keys, yamlKeys(reflect.TypeOf(k.NewConfig()), "sinks[]."+k.Name+".")...)
		sections = append(sections, "sinks[]."+k.Name)
	}
	if len(keys) < 150 {
		t.Fatalf("found only %d keys: the walk is broken", len(keys))
	}
	for _, k := range keys {
		root, rel := sectionOf(sections, k)
		body, ok := bySection[root]
		if root != "" && !ok {
			t.Errorf("docs/configuration.md: no section for `%s` (key %s)", root, k)
			continue
		}
		if root == "" {
			body = string(data)
		}
		if !regexp.MustCompile("`" + regexp.QuoteMeta(rel) + "[`.\\[]").MatchString(body) {
			t.Errorf("docs/configuration.md: key %s is not documented (want `%s` in section %q)", k, rel, root)
		}
	}
}

// splitSections maps each section root named in backticks in a "##" or
// "###" heading to the text up to the next heading.
func splitSections(doc string) map[string]string {
	out := map[string]string{}
	head := regexp.MustCompile("(?m)^#{2,3} .*$")
	name := regexp.MustCompile("`([^`]+)`")
	locs := head.FindAllStringIndex(doc, -1)
	for i, l := range locs {
		end := len(doc)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		for _, m := range name.FindAllStringSubmatch(doc[l[0]:l[1]], -1) {
			out[m[1]] += doc[l[1]:end]
		}
	}
	return out
}

func sectionOf(sections []string, key string) (root, rel string) {
	for _, s := range sections {
		if strings.HasPrefix(key, s+".") && len(s) > len(root) {
			root = s
		}
	}
	if root == "" {
		return "", key
	}
	return root, strings.TrimPrefix(key, root+".")
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	timeType     = reflect.TypeOf(time.Time{})
)

// yamlKeys lists the dotted YAML paths below t ("[]" marks list items).
func yamlKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if opts == "inline" {
			out = append(out, yamlKeys(ft, prefix)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		path := prefix + name
		switch {
		case ft.Kind() == reflect.Struct && ft != durationType && ft != timeType:
			out = append(out, yamlKeys(ft, path+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, yamlKeys(ft.Elem(), path+"[].")...)
		default:
			out = append(out, path)
		}
	}
	sort.Strings(out)
	return out
}
