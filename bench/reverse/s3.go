package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/odsync/odsync/bench/workload"
	"github.com/odsync/odsync/capture/warehouse"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/harness/s3server"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
	mysqlsink "github.com/odsync/odsync/sink/mysql"
	"github.com/odsync/odsync/sink/odsfile"
	s3sink "github.com/odsync/odsync/sink/s3"
)

// s3Loads are the variants that load the rows from S3.
type s3Loads struct {
	// sequential: the s3 source's batches applied one after the other.
	sequential func() (time.Duration, error)
	// run: the pipeline of odsync run (source → log → sink).
	run func() (time.Duration, error)
}

// s3Variants writes the rows to a private versitygw in the S3 sink's
// layout and returns the variants that load them into the table through
// the s3 source and the MySQL sink.
func s3Variants(ctx context.Context, addr string, table *event.Table, events []event.Event, mapper *schema.Mapper) (s3Loads, func(), error) {
	var none s3Loads
	srv, err := s3server.Start(ctx, s3server.Options{Buckets: []string{"ods"}})
	if err != nil {
		return none, nil, err
	}
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	files, err := schema.New(schema.Config{System: schema.SystemFiles})
	if err != nil {
		return none, nil, err
	}
	tg, err := files.Target(table)
	if err != nil {
		return none, nil, err
	}
	cl := srv.Client()
	put := func(key string, b []byte) error {
		_, err := cl.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("ods"), Key: aws.String(key), Body: bytes.NewReader(b)})
		return err
	}
	if err := put("bench/"+tg.Name+"/_schema/v1.json", tg.SchemaJSON()); err != nil {
		return none, nil, err
	}
	commit := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC).UnixMicro()
	var row []event.Value
	for lo := 0; lo < len(events); lo += *objectFlag {
		hi := min(lo+*objectFlag, len(events))
		var buf bytes.Buffer
		w, err := odsfile.NewParquet(&buf, tg, "snappy", 0, nil)
		if err != nil {
			return none, nil, err
		}
		for i := lo; i < hi; i++ {
			e := events[i]
			e.Op, e.CommitTime = event.OpInsert, commit
			row = tg.Row(&e, row)
			if err := w.WriteRow(row); err != nil {
				return none, nil, err
			}
		}
		if err := w.Close(); err != nil {
			return none, nil, err
		}
		if err := put(fmt.Sprintf("bench/%s/ds=20261121/%020d-%020d.parquet", tg.Name, lo+1, hi), buf.Bytes()); err != nil {
			return none, nil, err
		}
	}
	if err := put("bench/_checkpoint.json", []byte(fmt.Sprintf(`{"complete_seq": %d}`, len(events)))); err != nil {
		return none, nil, err
	}
	tmp, err := os.MkdirTemp("", "bench-reverse-*")
	if err != nil {
		return none, nil, err
	}
	round := 0
	settings := func() warehouse.S3Config {
		return warehouse.S3Config{Connection: s3sink.Connection{Bucket: "ods", Prefix: "bench", Endpoint: srv.Endpoint, PathStyle: true, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey},
			Read: warehouse.ReadSettings{Mode: warehouse.ModeFull, BatchRows: *batchFlag, TmpDir: tmp}}
	}
	sequential := func() (time.Duration, error) {
		round++
		sk, err := mysqlsink.New(mysqlsink.Config{Addr: addr, User: "root", RowsPerStatement: *stmtFlag},
			fmt.Sprintf("bench-s3-%d", round), mapper, nil)
		if err != nil {
			return 0, err
		}
		defer sk.Close(ctx)
		src, err := warehouse.NewS3(ctx, settings(), registry.SourceDeps{})
		if err != nil {
			return 0, err
		}
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var seq uint64
		t0 := time.Now()
		err = src.Run(rctx, nil, func(ctx context.Context, evs []event.Event, cp []byte) error {
			if len(evs) > 0 {
				for i := range evs {
					seq++
					evs[i].Seq = seq
				}
				if err := sk.Write(ctx, &sink.Batch{First: evs[0].Seq, Last: seq, Events: evs}); err != nil {
					return err
				}
			}
			if strings.Contains(string(cp), `"loaded":true`) {
				cancel()
			}
			return nil
		})
		return time.Since(t0), err
	}
	viaRun := func() (time.Duration, error) {
		round++
		name := fmt.Sprintf("bench-run-%d", round)
		sk, err := mysqlsink.New(mysqlsink.Config{Addr: addr, User: "root"}, name, mapper, nil)
		if err != nil {
			return 0, err
		}
		defer sk.Close(ctx)
		src, err := warehouse.NewS3(ctx, settings(), registry.SourceDeps{})
		if err != nil {
			return 0, err
		}
		state, err := os.MkdirTemp(tmp, "state-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(state)
		log, err := offsets.Open(state, offsets.Options{})
		if err != nil {
			return 0, err
		}
		defer log.Close()
		p := pipeline.New(log, src, []pipeline.SinkSpec{{Name: name, Sink: sk}}, pipeline.Options{})
		want := uint64(len(events))
		var applyErr error
		d, err := workload.RunUntil(ctx, p, 10*time.Millisecond, func() bool {
			seq, err := sk.Applied(ctx)
			if err != nil {
				applyErr = err
				return true
			}
			return seq >= want
		})
		if err == nil {
			err = applyErr
		}
		return d, err
	}
	return s3Loads{sequential: sequential, run: viaRun}, func() { srv.Close(); os.RemoveAll(tmp) }, nil
}
