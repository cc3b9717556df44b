package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/harness/s3server"
)

// claimMessage is a canal-json claim-check message (new TiCDC: the
// handle key plus the location).
func claimMessage(ts uint64, id, location string) []byte {
	return []byte(fmt.Sprintf(`{"id":0,"database":"shop","table":"orders","pkNames":["id"],"isDdl":false,"type":"INSERT","es":%d,"ts":%d,"sql":"","sqlType":{"id":-5},"mysqlType":{"id":"bigint"},"data":[{"id":"%s"}],"old":null,"_tidb":{"commitTs":%d,"claimCheckLocation":"%s"}}`,
		ts>>18, ts>>18, id, ts, location))
}

func claimObject(t *testing.T, value []byte) []byte {
	b, err := json.Marshal(claimCheckMessage{Value: value})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runLarge(t *testing.T, cfg SourceConfig, end uint64) ([]event.Event, error) {
	t.Helper()
	src, err := NewSource(cfg, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	log := &memLog{}
	err = runUntil(t, src, log, end, 30*time.Second)
	return log.events(), err
}

func TestSourceClaimCheck(t *testing.T) {
	cl := startKafka(t, "cdc", nil, 1)
	ts := kh.TSO(1767225600000, 3)
	dir := t.TempDir()
	full := canalInsert(ts, "7", "4242")
	if err := os.WriteFile(filepath.Join(dir, "obj1.json"), claimObject(t, full), 0o644); err != nil {
		t.Fatal(err)
	}
	produce(t, cl, "cdc", []kh.Message{
		{Value: claimMessage(ts, "7", "s3://tidb-claims/cc/obj1.json")},
		{Value: kh.CanalWatermark(ts + 5)},
	})
	// Without claim_check.uri: a clear error.
	_, err := runLarge(t, testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON), ts+5)
	var bad *BadMessageError
	if !errors.As(err, &bad) || bad.Offset != 0 || !strings.Contains(err.Error(), "claim_check.uri") {
		t.Fatalf("err = %v", err)
	}
	t.Run("file", func(t *testing.T) {
		cfg := testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON)
		cfg.ClaimCheck.URI = "file://" + dir
		evs, err := runLarge(t, cfg, ts+5)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || len(evs[0].After) != 2 || evs[0].After[1].Int() != 4242 || evs[0].Pos.String() != "cdc/0:0" {
			t.Fatalf("events %+v", evs)
		}
	})
	t.Run("s3", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		srv, err := s3server.Start(ctx, s3server.Options{Buckets: []string{"claims"}})
		if err != nil {
			t.Skipf("SKIPPED: no S3 server (%v)", err)
		}
		defer srv.Close()
		if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("claims"), Key: aws.String("tidb/cc/obj1.json"),
			Body: strings.NewReader(string(claimObject(t, full)))}); err != nil {
			t.Fatal(err)
		}
		cfg := testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON)
		cfg.ClaimCheck = ClaimCheckConfig{URI: "s3://claims/tidb/cc", Endpoint: srv.Endpoint, Region: s3server.Region,
			AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, PathStyle: true}
		evs, err := runLarge(t, cfg, ts+5)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].After[1].Int() != 4242 {
			t.Fatalf("events %+v", evs)
		}
	})
}

func TestSourceHandleKeyOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := mariadb.Start(ctx, mariadb.Options{Quiet: true})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("SKIPPED: no MariaDB (%v)", err)
	}
	defer srv.Stop()
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.big (id BIGINT PRIMARY KEY, n INT UNSIGNED, doc LONGTEXT, raw VARBINARY(8), e ENUM('x','y'), s SET('a','b','c'), at TIMESTAMP(3) NULL, bits BIT(10), price DECIMAL(10,2))",
		"SET time_zone = '+00:00'",
		"INSERT INTO shop.big VALUES (1, 4000000000, REPEAT('big ', 1000), X'00FF10', 'y', 'a,c', '2026-01-02 03:04:05.678', b'1000000001', 12.50)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(q, err)
		}
	}
	cl := startKafka(t, "cdc", nil, 1)
	ts := kh.TSO(1767225600000, 3)
	msg := fmt.Sprintf(`{"id":0,"database":"shop","table":"big","pkNames":["id"],"isDdl":false,"type":"INSERT","es":1,"ts":1,"sql":"","sqlType":{"id":-5},"mysqlType":{"id":"bigint"},"data":[{"id":"1"}],"old":null,"_tidb":{"commitTs":%d,"onlyHandleKey":true}}`, ts)
	produce(t, cl, "cdc", []kh.Message{{Value: []byte(msg)}, {Value: kh.CanalWatermark(ts + 5)}})

	_, err = runLarge(t, testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON), ts+5)
	if err == nil || !strings.Contains(err.Error(), "table shop.big") || !strings.Contains(err.Error(), "tidb.dsn") {
		t.Fatalf("without tidb.dsn: %v", err)
	}
	cfg := testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON)
	cfg.TiDB.DSN = srv.DSN("")
	_, err = runLarge(t, cfg, ts+5)
	if err == nil || !strings.Contains(err.Error(), "tidb_snapshot") {
		t.Fatalf("snapshot reads on a server without tidb_snapshot: %v", err)
	}
	off := false
	cfg.TiDB.SnapshotReads = &off
	evs, err := runLarge(t, cfg, ts+5)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	e := evs[0]
	var got []string
	for i, c := range e.Table.Columns {
		v := e.After[i].Text()
		if c.Name == "doc" {
			v = fmt.Sprintf("%d bytes, %v", len(v), v == strings.Repeat("big ", 1000))
		}
		got = append(got, c.Name+"="+e.After[i].Kind().String()+":"+v)
	}
	want := []string{"id=int:1", "n=uint:4000000000", "doc=string:4000 bytes, true", "raw=bytes:AP8Q",
		"e=enum:y", "s=set:a,c", "at=timestamp:2026-01-02T03:04:05.678000Z", "bits=bits:513", "price=decimal:12.50"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("row:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if e.Table.Columns[1].Type != event.TypeInt || !e.Table.Columns[1].Unsigned || e.Table.Columns[8].Precision != 10 || len(e.Table.Key) != 1 {
		t.Fatalf("schema %+v", e.Table)
	}
}
