package maxcompute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
	"github.com/odsync/odsync/sink/readback"
)

// ReaderConfig locates the ODS tables of a MaxCompute sink.
type ReaderConfig struct {
	// Endpoint is the service endpoint (…/api).
	Endpoint string
	// TunnelEndpoint is the Tunnel endpoint; discovered when empty.
	TunnelEndpoint string
	Project        string
	// Schema is the schema of the three-tier model ("" for none).
	Schema string
	// AccessID and AccessKey authenticate; never logged.
	AccessID, AccessKey string
	// Account, when set, authenticates instead of AccessID and AccessKey
	// (the sink's own resolution: key file, STS token, region).
	Account account.Account
}

// Reader reads the ODS tables of a MaxCompute sink through Tunnel
// download sessions, one per partition.
type Reader struct {
	cfg ReaderConfig
	o   *odps.Odps
	tun *tunnel.Tunnel

	mu       sync.Mutex
	progress map[string]mcProgress // by table/partition
}

// NewReader returns a reader; it makes no request.
func NewReader(cfg ReaderConfig) (*Reader, error) {
	var errs []error
	if cfg.Endpoint == "" {
		errs = append(errs, errors.New("maxcompute endpoint: required"))
	}
	if cfg.Project == "" {
		errs = append(errs, errors.New("maxcompute project: required"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	acct := cfg.Account
	if acct == nil {
		acct = account.NewAliyunAccount(cfg.AccessID, cfg.AccessKey)
	}
	o := odps.NewOdps(acct, cfg.Endpoint)
	o.SetDefaultProjectName(cfg.Project)
	var tun *tunnel.Tunnel
	if cfg.TunnelEndpoint != "" {
		tun = tunnel.NewTunnel(o, cfg.TunnelEndpoint)
	} else {
		tun = tunnel.NewTunnel(o)
	}
	return &Reader{cfg: cfg, o: o, tun: tun}, nil
}

// Describe names the target.
func (r *Reader) Describe() string {
	return "maxcompute " + r.cfg.Project
}

func (r *Reader) table(name string) *odps.Table {
	return odps.NewTables(r.o, r.cfg.Project, r.cfg.Schema).Get(name)
}

// Layout finds the newest version of the table (base, base_v2, ...) and
// reads its columns.
func (r *Reader) Layout(ctx context.Context, base string) (readback.Layout, error) {
	name, ver := "", 0
	var listErr error
	odps.NewTables(r.o, r.cfg.Project, r.cfg.Schema).List(func(t *odps.Table, err error) {
		if err != nil {
			listErr = err
			return
		}
		if v, ok := readback.VersionOf(t.Name(), base); ok && v > ver {
			name, ver = t.Name(), v
		}
	}, odps.TableFilter.NamePrefix(base))
	if listErr != nil {
		return readback.Layout{}, fmt.Errorf("maxcompute reader: list tables: %w", listErr)
	}
	if name == "" {
		return readback.Layout{}, nil
	}
	t := r.table(name)
	if err := t.Load(); err != nil {
		return readback.Layout{}, fmt.Errorf("maxcompute reader: table %s: %w", name, err)
	}
	l := readback.Layout{Found: true, Name: name, Existing: schema.Existing{Version: ver}}
	for _, c := range t.Schema().Columns {
		l.Existing.Columns = append(l.Existing.Columns, schema.ExistingColumn{Name: c.Name, Type: c.Type.Name()})
	}
	return l, nil
}

// partitions lists the table's partition specs (e.g. "ds=20240101"),
// sorted by value.
func (r *Reader) partitions(name string) ([]string, error) {
	vals, err := r.table(name).GetPartitionValues()
	if err != nil {
		return nil, err
	}
	sort.Strings(vals)
	return vals, nil
}

// Scan downloads the partitions not older than the mark's newest one (all
// of them for the zero mark); rows of a partition read before are read
// again, which the comparison tolerates.
func (r *Reader) Scan(ctx context.Context, t *schema.Target, since readback.Mark, fn func([]event.Value) error) (readback.Mark, error) {
	next := readback.Mark{Time: time.Now(), Partition: since.Partition}
	parts, err := r.partitions(t.Name)
	if err != nil {
		return since, fmt.Errorf("maxcompute reader: table %s: partitions: %w", t.Name, err)
	}
	if len(parts) == 0 {
		tb := r.table(t.Name)
		if err := tb.Load(); err != nil {
			return since, fmt.Errorf("maxcompute reader: table %s: %w", t.Name, err)
		}
		if len(tb.Schema().PartitionColumns) > 0 {
			return next, nil // partitioned, without partitions: no rows
		}
		parts = []string{""} // an unpartitioned table
	}
	d := odsfile.NewRowReader(t)
	for _, p := range parts {
		if p != "" && since.Partition != "" && p < since.Partition {
			continue
		}
		if err := ctx.Err(); err != nil {
			return since, err
		}
		if err := r.download(t, p, d, fn); err != nil {
			return since, fmt.Errorf("maxcompute reader: table %s partition %s: %w", t.Name, p, err)
		}
		if p > next.Partition {
			next.Partition = p
		}
	}
	return next, nil
}

func (r *Reader) download(t *schema.Target, part string, d *odsfile.RowReader, fn func([]event.Value) error) error {
	_, err := r.downloadUnless(t, part, d, -1, fn)
	return err
}

// downloadUnless reads the rows of a partition unless it holds known rows;
// total is the partition's row count.
func (r *Reader) downloadUnless(t *schema.Target, part string, d *odsfile.RowReader, known int, fn func([]event.Value) error) (total int, err error) {
	var opts []tunnel.Option
	if part != "" {
		opts = append(opts, tunnel.SessionCfg.WithPartitionKey(part))
	}
	if r.cfg.Schema != "" {
		opts = append(opts, tunnel.SessionCfg.WithSchemaName(r.cfg.Schema))
	}
	ds, err := r.tun.CreateDownloadSession(r.cfg.Project, t.Name, opts...)
	if err != nil {
		return 0, err
	}
	cols := ds.Schema().Columns
	mapping := make([]int, len(cols))
	for i, c := range cols {
		mapping[i] = d.Column(c.Name)
	}
	total = ds.RecordCount()
	if total == known {
		return total, nil
	}
	const step = 100000
	for start := 0; start < total; start += step {
		rd, err := ds.OpenRecordReader(start, min(step, total-start), nil)
		if err != nil {
			return total, err
		}
		for {
			rec, err := rd.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rd.Close()
				return total, err
			}
			row := d.Row()
			for i, v := range rec {
				if i >= len(mapping) || mapping[i] < 0 {
					continue
				}
				j := mapping[i]
				row[j] = mcValue(&t.Columns[j], v)
			}
			if err := fn(row); err != nil {
				rd.Close()
				return total, err
			}
		}
		rd.Close()
	}
	return total, nil
}

// mcValue converts a value read through Tunnel (what the sink wrote from
// schema.TargetColumn.MaxComputeValue) to its target value.
func mcValue(c *schema.TargetColumn, v data.Data) event.Value {
	if v == nil {
		return event.Null
	}
	switch x := v.(type) {
	case data.NullData, *data.NullData:
		return event.Null
	case data.Bool:
		if x {
			return event.Int(1)
		}
		return event.Int(0)
	case data.TinyInt:
		return event.Int(int64(x))
	case data.SmallInt:
		return event.Int(int64(x))
	case data.Int:
		return event.Int(int64(x))
	case data.BigInt:
		return event.Int(int64(x))
	case data.Float:
		return event.Float32(float32(x))
	case data.Double:
		return event.Float64(float64(x))
	case *data.Decimal:
		return event.Decimal(x.String())
	case data.Decimal:
		return event.Decimal(x.String())
	case data.String:
		if c.Kind == schema.KindJSON {
			return event.JSON(string(x))
		}
		return event.String(string(x))
	case *data.Json:
		return event.JSON(x.GetData())
	case data.Json:
		return event.JSON(x.GetData())
	case data.Binary:
		return event.Bytes(x)
	case data.Date:
		t := time.Time(x).UTC()
		return event.Date(t.Year(), int(t.Month()), t.Day())
	case data.DateTime:
		return event.TimestampMicros(time.Time(x).UnixMicro())
	case data.Timestamp:
		return event.TimestampMicros(time.Time(x).UnixMicro())
	case data.TimestampNtz:
		t := time.Time(x).UTC()
		return event.DateTime(t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000)
	case *data.Array:
		var parts []string
		for _, e := range x.ToSlice() {
			if e == nil {
				continue
			}
			if s, ok := e.(data.String); ok {
				parts = append(parts, string(s))
			} else {
				parts = append(parts, e.String())
			}
		}
		return event.String(strings.Join(parts, ","))
	}
	return odsfile.FromText(c, v.String())
}

// Progress reports how far the table's committed data goes: the newest
// partition's record count as the sequence (it changes while the sink
// commits, which the settle rule needs) and the highest _pos in it, read
// through a download session of the metadata columns when the count
// changed. Data is visible through Tunnel only once the sink committed its
// upload session, so this is durable progress.
func (r *Reader) Progress(ctx context.Context, table string) (readback.Progress, error) {
	parts, err := r.partitions(table)
	if err != nil || len(parts) == 0 {
		return readback.Progress{}, nil // a missing table has written nothing
	}
	newest := parts[len(parts)-1]
	p, err := r.table(table).GetPartition(newest)
	if err != nil {
		return readback.Progress{}, nil
	}
	if err := p.Load(); err != nil {
		return readback.Progress{}, nil
	}
	n := uint64(p.RecordNum())
	key := table + "/" + newest
	r.mu.Lock()
	c, ok := r.progress[key]
	r.mu.Unlock()
	// The partition's _pos is downloaded again only when its count changed,
	// and at most every maxPosEvery (a growing partition is read whole).
	if ok && (c.p.Seq == n || time.Since(c.at) < maxPosEvery) {
		out := c.p
		out.Seq = n
		return out, nil
	}
	out := readback.Progress{Seq: n, Durable: true}
	if pos, err := r.maxPos(table, newest); err == nil {
		out.Pos = pos
	}
	r.mu.Lock()
	if r.progress == nil {
		r.progress = map[string]mcProgress{}
	}
	r.progress[key] = mcProgress{p: out, at: time.Now()}
	r.mu.Unlock()
	return out, nil
}

// maxPosEvery bounds how often Progress downloads a partition's _pos.
const maxPosEvery = 5 * time.Second

// mcProgress is a partition's progress and when its _pos was read.
type mcProgress struct {
	p  readback.Progress
	at time.Time
}

// maxPos reads the _seq and _pos columns of a partition and returns the
// _pos of the highest _seq.
func (r *Reader) maxPos(table, part string) (string, error) {
	var opts []tunnel.Option
	if part != "" {
		opts = append(opts, tunnel.SessionCfg.WithPartitionKey(part))
	}
	if r.cfg.Schema != "" {
		opts = append(opts, tunnel.SessionCfg.WithSchemaName(r.cfg.Schema))
	}
	ds, err := r.tun.CreateDownloadSession(r.cfg.Project, table, opts...)
	if err != nil {
		return "", err
	}
	total := ds.RecordCount()
	if total == 0 {
		return "", nil
	}
	rd, err := ds.OpenRecordReader(0, total, []string{schema.ColSeq, schema.ColPos})
	if err != nil {
		return "", err
	}
	defer rd.Close()
	var best uint64
	pos := ""
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return pos, nil
		}
		if err != nil {
			return "", err
		}
		if len(rec) < 2 {
			continue
		}
		seq, ok := readback.SeqValue(mcValue(&schema.TargetColumn{Kind: schema.KindBigInt}, rec[0]))
		if ok && seq >= best && rec[1] != nil {
			if s, ok := rec[1].(data.String); ok {
				best, pos = seq, string(s)
			}
		}
	}
}

// TableInfo is a table of the project as the reverse-sync source needs it:
// its comment and columns (with their comments: the sink writes "source
// <name> <source type>" on source columns and "odsync ODS of db.t; key
// a,b" on the table).
type TableInfo struct {
	Name    string
	Comment string
	Columns []ColumnInfo
	// PartitionColumns are the names of the partition columns.
	PartitionColumns []string
}

// ColumnInfo is one column of a TableInfo.
type ColumnInfo struct {
	Name, Type, Comment string
}

// Tables lists the project's tables (names starting with prefix) with
// their comments and columns.
func (r *Reader) Tables(prefix string) ([]TableInfo, error) {
	var names []string
	var listErr error
	var filters []odps.TFilterFunc
	if prefix != "" {
		filters = append(filters, odps.TableFilter.NamePrefix(prefix))
	}
	odps.NewTables(r.o, r.cfg.Project, r.cfg.Schema).List(func(t *odps.Table, err error) {
		if err != nil {
			listErr = err
			return
		}
		names = append(names, t.Name())
	}, filters...)
	if listErr != nil {
		return nil, fmt.Errorf("maxcompute reader: list tables: %w", listErr)
	}
	sort.Strings(names)
	var out []TableInfo
	for _, n := range names {
		t := r.table(n)
		if err := t.Load(); err != nil {
			return nil, fmt.Errorf("maxcompute reader: table %s: %w", n, err)
		}
		info := TableInfo{Name: n, Comment: t.Comment()}
		for _, c := range t.Schema().Columns {
			info.Columns = append(info.Columns, ColumnInfo{Name: c.Name, Type: c.Type.Name(), Comment: c.Comment})
		}
		for _, c := range t.Schema().PartitionColumns {
			info.PartitionColumns = append(info.PartitionColumns, c.Name)
		}
		out = append(out, info)
	}
	return out, nil
}

// Partitions lists a table's partition specs ("ds=20240101"), sorted; an
// unpartitioned table has the one partition "".
func (r *Reader) Partitions(table string) ([]string, error) {
	parts, err := r.partitions(table)
	if err != nil {
		return nil, fmt.Errorf("maxcompute reader: table %s: partitions: %w", table, err)
	}
	if len(parts) == 0 {
		tb := r.table(table)
		if err := tb.Load(); err != nil {
			return nil, fmt.Errorf("maxcompute reader: table %s: %w", table, err)
		}
		if len(tb.Schema().PartitionColumns) == 0 {
			return []string{""}, nil
		}
	}
	return parts, nil
}

// ReadPartition downloads one partition of the table for layout t.
func (r *Reader) ReadPartition(ctx context.Context, t *schema.Target, part string, fn func([]event.Value) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.download(t, part, odsfile.NewRowReader(t), fn); err != nil {
		return fmt.Errorf("maxcompute reader: table %s partition %s: %w", t.Name, part, err)
	}
	return nil
}

// MarkPartitions lists the partitions of the progress table (sorted);
// found is false when the table does not exist.
func (r *Reader) MarkPartitions(table string) (parts []string, found bool, err error) {
	parts, err = r.partitions(table)
	if err != nil {
		if isNotFound(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("maxcompute reader: progress table %s: partitions: %w", table, err)
	}
	return parts, true, nil
}

// Marks reads the progress marks of one partition of the progress table,
// unless it holds known rows (then marks is nil: the caller has them;
// rows are only ever added, but their order may change, so a partition
// that grew is read whole); total is its row count.
func (r *Reader) Marks(ctx context.Context, table, part string, known int) (marks []Mark, total int, err error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	tg, err := progressTarget(table)
	if err != nil {
		return nil, 0, err
	}
	total, err = r.downloadUnless(tg, part, odsfile.NewRowReader(tg), known, func(row []event.Value) error {
		m, err := markOf(row)
		if err != nil {
			return err
		}
		marks = append(marks, m)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("maxcompute reader: progress table %s partition %s: %w", table, part, err)
	}
	return marks, total, nil
}
