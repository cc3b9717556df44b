package odpsemu

import (
	"strings"
	"testing"
)

// TestSchemaModelNamespace: on a tenant with the schema model, `a`.`b` is
// schema.table unless the task says odps.namespace.schema=false, as the
// official SDKs always send (in the task settings or as a SET line).
func TestSchemaModelNamespace(t *testing.T) {
	srv := startEmu(t, t.TempDir(), func(c *Config) { c.SchemaModel = true })
	o, _ := clients(srv, "", "")
	run := func(sql string, hints map[string]string) error {
		ins, err := o.ExecSQlWithHints(sql, hints)
		if err != nil {
			return err
		}
		return ins.WaitForSuccess()
	}
	qualified := "create table " + testProject + ".ns1 (id BIGINT);"
	if err := run(qualified, nil); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Fatalf("project.table without the namespace flag on a schema-model tenant: %v, want a schema error", err)
	}
	if err := run(qualified, map[string]string{"odps.namespace.schema": "false"}); err != nil {
		t.Fatalf("with odps.namespace.schema=false in the settings: %v", err)
	}
	if err := run("set odps.namespace.schema=false;\ncreate table "+testProject+".ns2 (id BIGINT);", nil); err != nil {
		t.Fatalf("with a SET line: %v", err)
	}
	if err := run("create table ns3 (id BIGINT);", nil); err != nil {
		t.Fatalf("an unqualified name: %v", err)
	}

	// Without the schema model the flag is not needed.
	plain := startEmu(t, t.TempDir(), nil)
	o2, _ := clients(plain, "", "")
	if err := tryExecSQL(o2, "create table "+testProject+".ns1 (id BIGINT);"); err != nil {
		t.Fatalf("project.table on a tenant without the schema model: %v", err)
	}
}
