package maxcompute

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/restclient"

	"github.com/odsync/odsync/schema"
)

// catalog does the service-side work through the SDK: table metadata, DDL
// statements (SQL instances) and Tunnel endpoint discovery. The SDK's REST
// client is not safe for concurrent first use and takes no contexts, so
// calls are serialized; they are rare (once per table, and at schema
// changes).
type catalog struct {
	mu    sync.Mutex
	odps  *odps.Odps
	cfg   *Config
	opts  schema.MaxComputeOptions
	hints map[string]string
}

func newAccount(cfg *Config) (account.Account, error) {
	id, key, token, err := cfg.credentials(true)
	if err != nil {
		return nil, err
	}
	if id == "" || key == "" {
		return nil, errors.New("no AccessKey: set access_id and access_key (or access_key_file, or " + EnvAccessID + " and " + EnvAccessKey + ")")
	}
	var region []string
	if cfg.Region != "" {
		region = []string{cfg.Region}
	}
	if token != "" {
		return account.NewStsAccount(id, key, token, region...), nil
	}
	return account.NewAliyunAccount(id, key, region...), nil
}

func newCatalog(cfg *Config, acct account.Account) *catalog {
	o := odps.NewOdps(acct, cfg.Endpoint)
	o.SetDefaultProjectName(cfg.Project)
	if cfg.Schema != "" {
		o.SetCurrentSchemaName(cfg.Schema)
	}
	o.SetHttpTimeout(min(cfg.Timeout, time.Minute))
	o.SetUserAgent("odsync")
	hints := SQLSettings(cfg.Schema)
	for k, v := range cfg.SQLHints {
		hints[k] = v
	}
	return &catalog{odps: o, cfg: cfg, hints: hints,
		opts: schema.MaxComputeOptions{Project: cfg.Project, Schema: cfg.Schema, Lifecycle: cfg.Lifecycle}}
}

// tableInfo is an existing table as the catalog reports it.
type tableInfo struct {
	name     string
	cols     []colInfo // data columns, in order
	partKeys []string  // lower case
	comment  string
}

type colInfo struct {
	name string // lower case
	typ  string // upper case, e.g. DECIMAL(20,0)
}

func (t *tableInfo) colIndex(name string) int {
	for i, c := range t.cols {
		if c.name == name {
			return i
		}
	}
	return -1
}

func isNotFound(err error) bool {
	var he restclient.HttpError
	if errors.As(err, &he) {
		return he.StatusCode == http.StatusNotFound
	}
	return false
}

// retryableSDK reports whether an SDK error may go away: network errors,
// throttling and 5xx answers.
func retryableSDK(err error) bool {
	var he restclient.HttpError
	if errors.As(err, &he) {
		return he.StatusCode >= 500 || he.StatusCode == http.StatusTooManyRequests || he.StatusCode == http.StatusRequestTimeout
	}
	return true
}

// table loads a table; ok is false when it does not exist.
func (c *catalog) table(ctx context.Context, name string) (*tableInfo, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := odps.NewTable(c.odps, c.cfg.Project, c.cfg.Schema, name)
	if err := t.Load(); err != nil {
		if isNotFound(err) {
			return nil, false, nil
		}
		return nil, false, classifySDK(fmt.Errorf("loading table %s: %w", name, err))
	}
	s := t.Schema()
	info := &tableInfo{name: name, comment: t.Comment()}
	for _, col := range s.Columns {
		info.cols = append(info.cols, colInfo{name: strings.ToLower(col.Name), typ: strings.ToUpper(col.Type.Name())})
	}
	for _, col := range s.PartitionColumns {
		info.partKeys = append(info.partKeys, strings.ToLower(col.Name))
	}
	return info, true, nil
}

// tables lists the tables of the project (schema) whose names start with prefix.
func (c *catalog) tables(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	var failed error
	ts := odps.NewTables(c.odps, c.cfg.Project, c.cfg.Schema)
	ts.List(func(t *odps.Table, err error) {
		if err != nil {
			failed = err
			return
		}
		if strings.HasPrefix(t.Name(), prefix) {
			names = append(names, t.Name())
		}
	}, odps.TableFilter.NamePrefix(prefix))
	if failed != nil {
		return nil, classifySDK(fmt.Errorf("listing tables: %w", failed))
	}
	return names, nil
}

// partitions lists the values of a table's first partition column
// (nil when the table does not exist).
func (c *catalog) partitions(ctx context.Context, name string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := odps.NewTable(c.odps, c.cfg.Project, c.cfg.Schema, name)
	specs, err := t.GetPartitionValues()
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, classifySDK(fmt.Errorf("listing the partitions of %s: %w", name, err))
	}
	out := make([]string, 0, len(specs))
	for _, spec := range specs { // "ds=20240301[/k=v...]"
		first, _, _ := strings.Cut(spec, "/")
		_, v, ok := strings.Cut(first, "=")
		if !ok {
			return nil, fmt.Errorf("table %s: partition %q: want key=value", name, spec)
		}
		out = append(out, strings.Trim(v, "'\""))
	}
	return out, nil
}

// exec runs one DDL statement and waits for it.
func (c *catalog) exec(ctx context.Context, sql string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	ins, err := c.odps.ExecSQlWithHints(sql, c.hints)
	c.mu.Unlock()
	if err != nil {
		return classifySDK(fmt.Errorf("submitting %q: %w", oneLine(sql), err))
	}
	wait := 50 * time.Millisecond
	for {
		c.mu.Lock()
		err := ins.Load()
		var tasks []odps.TaskInInstance
		if err == nil {
			tasks, err = ins.GetTasks()
		}
		c.mu.Unlock()
		if err != nil {
			return classifySDK(fmt.Errorf("instance %s of %q: %w", ins.Id(), oneLine(sql), err))
		}
		done := len(tasks) > 0
		for _, t := range tasks {
			switch t.Status {
			case odps.TaskFailed, odps.TaskCancelled, odps.TaskSuspended:
				c.mu.Lock()
				results, rerr := ins.GetResult()
				c.mu.Unlock()
				msg := t.Status.String()
				if rerr == nil && len(results) > 0 {
					msg = results[0].Content()
				}
				err := fmt.Errorf("%q failed: %s", oneLine(sql), msg)
				if strings.Contains(msg, "ODPS-013") || strings.Contains(msg, "ODPS-012") {
					// Semantic and authorization errors do not go away.
					return &permanentError{err}
				}
				return err
			case odps.TaskSuccess:
			default:
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Second)
	}
}

// tunnelEndpoint returns the configured Tunnel endpoint or discovers it.
func (c *catalog) tunnelEndpoint(ctx context.Context) (string, error) {
	if c.cfg.TunnelEndpoint != "" {
		return c.cfg.TunnelEndpoint, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ep, err := c.odps.Project(c.cfg.Project).GetTunnelEndpoint(c.cfg.QuotaName)
	if err != nil {
		return "", classifySDK(fmt.Errorf("discovering the Tunnel endpoint: %w", err))
	}
	return strings.TrimSpace(ep), nil
}

func oneLine(sql string) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// permanentError marks errors retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func classifySDK(err error) error {
	var he restclient.HttpError
	if errors.As(err, &he) && (he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden) {
		return &permanentError{err}
	}
	return err
}

// SQLSettings are the settings sent with every SQL task (and written as SET
// lines at the top of merge-sql): MaxCompute 2.0 types, and how a dotted
// name reads — `a`.`b` is project.table unless the schema model is used
// (odps.namespace.schema=true, then schema.table). Like the official SDKs,
// odsync always sends the flag: on a tenant with the schema model on, a
// task without it reads `project`.`table` as schema.table and fails.
func SQLSettings(schema string) map[string]string {
	h := map[string]string{"odps.sql.type.system.odps2": "true", "odps.sql.decimal.odps2": "true",
		"odps.namespace.schema": "false"}
	if schema != "" {
		h["odps.namespace.schema"] = "true"
	}
	return h
}
