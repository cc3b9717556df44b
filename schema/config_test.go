package schema

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/odsync/odsync/event"
)

func TestEnsureDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	c.EnsureDefaults()
	if c.Target != "ods_{db}_{table}" || c.Partition.Column != "ds" || c.Partition.Granularity != "day" ||
		c.Partition.TimeZone != "UTC" || c.Evolution != ModeLenient || c.ZeroDates != "raw" || c.OnValueError != "raw" || c.System != SystemFiles || c.SourceTimeZone != "UTC" {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// set fields are kept
	c2 := Config{Target: "x_{table}", Evolution: ModeEvolve}
	c2.EnsureDefaults()
	if c2.Target != "x_{table}" || c2.Evolution != ModeEvolve {
		t.Fatalf("EnsureDefaults overwrote set fields: %+v", c2)
	}
}

func TestConfigYAMLExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Mapping Config `yaml:"mapping"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	cfg := doc.Mapping
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := mustMapper(t, cfg)
	tests := []struct {
		table   event.TableID
		capture bool
		target  string
	}{
		{id("shop", "orders"), true, "ods_shop_orders"},
		{id("shop", "order_07"), true, "ods_shop_order"},
		{id("shop", "tmp_1"), false, ""},
		{id("shop", "_orders_gho"), false, ""},
		{id("crm", "users"), true, "ods_crm_user"},
		{id("crm", "accounts"), true, "ods_crm_accounts_v1"},
		{id("crm", "leads"), false, ""},
		{id("mysql", "user"), false, ""},
	}
	for _, tc := range tests {
		if got := m.Captures(tc.table); got != tc.capture {
			t.Errorf("Captures(%s) = %v", tc.table, got)
		}
		if !tc.capture {
			continue
		}
		if got, err := m.TargetName(tc.table); err != nil || got != tc.target {
			t.Errorf("TargetName(%s) = %s, %v; want %s", tc.table, got, err, tc.target)
		}
	}
	// The order_log rule: key, excluded column, renamed and retyped columns, hourly partitions.
	log := tableSpec("shop", "order_log", "log_id bigint", "line int", "amount double", "desc text", "raw_payload json")
	tg, err := m.Target(log)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range tg.Columns {
		names = append(names, c.Name+":"+c.MaxCompute)
	}
	want := "_op:STRING,_seq:BIGINT,_commit_ts:TIMESTAMP,_pos:STRING,_raw:STRING,log_id:BIGINT,line:INT,amount:DECIMAL(38,4),description:STRING"
	if strings.Join(names, ",") != want {
		t.Errorf("order_log columns = %s\nwant %s", strings.Join(names, ","), want)
	}
	if len(tg.Key) != 2 || tg.Columns[tg.Key[0]].Name != "log_id" || tg.Columns[tg.Key[1]].Name != "line" {
		t.Errorf("order_log key = %v", tg.Key)
	}
	if tg.Granularity != "hour" || tg.TimeZone != "Asia/Shanghai" || tg.Mode != ModeEvolve {
		t.Errorf("order_log partition/mode = %s %s %s", tg.Granularity, tg.TimeZone, tg.Mode)
	}
	if tg.Columns[tg.ColumnIndex("amount")].Lossy == "" {
		t.Errorf("double -> decimal(38,4) is not marked lossy")
	}
	// family overrides
	all, err := m.Target(tableSpec("shop", "flags", "b tinyint(1)", "j json", "s set('a','b','c')"))
	if err != nil {
		t.Fatal(err)
	}
	if got := all.Columns[5].MaxCompute + "," + all.Columns[6].MaxCompute + "," + all.Columns[7].MaxCompute; got != "BOOLEAN,JSON,ARRAY<STRING>" {
		t.Errorf("family overrides = %s", got)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	t.Parallel()
	cfg := Config{
		Include:   []string{"shop\\.(", ""},
		Exclude:   []string{"[z-a]"},
		Target:    "ods_{schema}_{table}",
		Evolution: "try_evolve",
		ZeroDates: "zero",
		Partition: PartitionConfig{Granularity: "minute", TimeZone: "Mars/Olympus", Column: "_op"},
		Types:     map[string]string{"money": "string", "json": "jsonb"},
		Routes: []Route{
			{Source: `shop\.order_\d+`, Target: "ods_order"},
			{Source: `a\.b`, Target: "same"},
			{Source: `a\.c`, Target: "same"},
			{Source: `x\.(y)`, Target: "t_$2"},
			{Source: `x\.y`, Target: "t_${nope}"},
			{Source: `x\.z`, Target: "t_$name"},
			{Source: `x\.w`},
		},
		Tables: []TableRule{{
			Source:         `shop\.t`,
			Key:            []string{"id"},
			ExcludeColumns: []string{"id"},
			Evolution:      "sometimes",
			Columns:        map[string]ColumnRule{"a": {Type: "varchar(5)"}, "b": {Name: "_seq"}, "c": {Name: "9x"}},
			Partition:      PartitionConfig{Granularity: "week"},
		}},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{
		"include[0]", "include[1]: empty", "exclude[0]",
		"unknown placeholder {schema}",
		"evolution: unknown mode \"try_evolve\"", "zero_dates: unknown policy \"zero\"",
		"partition: granularity: unknown \"minute\"", "time_zone", "\"_op\" is a metadata column",
		"types: unknown source type \"money\"", "types[json]", "jsonb",
		"routes[0]: target \"ods_order\" has no placeholder but source",
		"routes[2]: target \"same\" is also the target of routes[1]",
		"routes[3].target", "capture group $2 but the source has 1",
		"routes[4].target", "no capture group named \"nope\"",
		"routes[5].target", "must be followed by a group number",
		"routes[6]: target is empty",
		"tables[0]: column \"id\" is both a key column and excluded",
		"tables[0].evolution: unknown mode \"sometimes\"",
		"tables[0].columns[a].type", "tables[0].columns[b].name: \"_seq\" is a metadata column name",
		"tables[0].columns[c].name", "tables[0].partition: granularity: unknown \"week\"",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q", want)
		}
	}
	if _, err2 := New(cfg); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("New error differs from Validate's: %v", err2)
	}
}
