package odpsemu

import (
	"testing"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
)

// TestStreamRoundTripAllTypes creates a partitioned all-types table by SQL,
// adds a partition, streams rows in several record packs with every
// compressor the SDK has, and reads them back through download sessions
// (with and without compression), comparing every value.
func TestStreamRoundTripAllTypes(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, allTypesDDL)

	table := o.Table("all_types")
	if err := table.AddPartition(true, "pt=p1/hh=3"); err != nil {
		t.Fatalf("AddPartition: %v", err)
	}
	parts, err := table.GetPartitions()
	if err != nil {
		t.Fatalf("GetPartitions: %v", err)
	}
	if len(parts) != 1 || parts[0].Value() != "pt=p1/hh=3" {
		t.Fatalf("partitions = %v", parts)
	}

	compressors := []struct {
		name string
		opt  tunnel.Option
	}{
		{"none", nil},
		{"deflate", tunnel.SessionCfg.WithDefaultDeflateCompressor()},
		{"snappy", tunnel.SessionCfg.WithSnappyFramedCompressor()},
		{"zstd", tunnel.SessionCfg.WithDefaultZstdCompressor()},
	}
	var want []string
	row := 0
	for _, c := range compressors {
		opts := []tunnel.Option{tunnel.SessionCfg.WithPartitionKey("pt='p1',hh='3'")}
		if c.opt != nil {
			opts = append(opts, c.opt)
		}
		sess, err := tun.CreateStreamUploadSession(testProject, "all_types", opts...)
		if err != nil {
			t.Fatalf("%s: CreateStreamUploadSession: %v", c.name, err)
		}
		cols := sess.Schema().Columns
		if len(cols) != 21 || len(sess.Schema().PartitionColumns) != 2 {
			t.Fatalf("%s: session schema has %d columns, %d partition keys", c.name, len(cols), len(sess.Schema().PartitionColumns))
		}
		w := sess.OpenRecordPackWriter()
		for pack := 0; pack < 3; pack++ {
			for k := 0; k < 4; k++ {
				rec := makeRow(t, cols, row)
				want = append(want, canonRecord(rec))
				row++
				if err := w.Append(rec); err != nil {
					t.Fatalf("%s: Append: %v", c.name, err)
				}
			}
			_, n, _, err := w.Flush()
			if err != nil {
				t.Fatalf("%s: Flush pack %d: %v", c.name, pack, err)
			}
			if n != 4 {
				t.Fatalf("%s: Flush sent %d records, want 4", c.name, n)
			}
		}
	}
	if got := srv.Count(OpStreamWrite); got != 12 {
		t.Fatalf("stream writes = %d, want 12", got)
	}
	for _, c := range compressors {
		var opts []tunnel.Option
		if c.opt != nil {
			opts = append(opts, c.opt)
		}
		got := readAll(t, tun, "all_types", "pt=p1/hh=3", nil, opts...)
		assertRows(t, got, want)
	}
}
