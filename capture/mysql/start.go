package mysql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

// resolveStart turns a start position into the checkpoint a stream begins at.
func resolveStart(ctx context.Context, srv *server, cfg *Config, start Start) (Checkpoint, error) {
	switch start.Kind {
	case StartLatest:
		return srv.current(ctx)
	case StartEarliest:
		files, err := srv.binaryLogs(ctx)
		if err != nil {
			return Checkpoint{}, err
		}
		if len(files) == 0 {
			return Checkpoint{}, fmt.Errorf("%w: mysql: the server lists no binlog files", ErrFatal)
		}
		return Checkpoint{File: files[0].Name, Pos: 4, skipTo: 4}, nil
	case StartGTID:
		if !srv.gtid {
			return Checkpoint{}, fmt.Errorf("%w: mysql: start %s: the server does not use GTIDs (gtid_mode is not ON)", ErrFatal, start)
		}
		g, err := gomysql.ParseGTIDSet(srv.flavor, start.GTID)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("%w: mysql: start %s: not a %s GTID set: %v", ErrFatal, start, srv.flavor, err)
		}
		return Checkpoint{GTIDSet: g.String()}, nil
	case StartFilePos:
		files, err := srv.binaryLogs(ctx)
		if err != nil {
			return Checkpoint{}, err
		}
		for _, f := range files {
			if f.Name == start.File {
				if uint64(start.Pos) > f.Size {
					return Checkpoint{}, fmt.Errorf("%w: mysql: start %s: %s has only %d bytes", ErrFatal, start, f.Name, f.Size)
				}
				return Checkpoint{File: start.File, Pos: 4, skipTo: start.Pos}, nil
			}
		}
		oldest := "none"
		if len(files) > 0 {
			oldest = files[0].Name
		}
		return Checkpoint{}, &PurgedError{Want: start.String(), Oldest: oldest, Cause: fmt.Errorf("the server has no binlog %s", start.File)}
	case StartTime:
		return findByTime(ctx, srv, cfg, start.Time)
	}
	return Checkpoint{}, fmt.Errorf("unknown start %v", start)
}

// ResolveStart connects to the server and resolves a start position into
// the checkpoint to store (for odsync replay --source-start). It returns the
// encoded checkpoint and a description.
func ResolveStart(ctx context.Context, cfg Config, spec string) ([]byte, string, error) {
	cfg.EnsureDefaults()
	start, err := ParseStart(spec)
	if err != nil {
		return nil, "", err
	}
	srv, err := openServer(ctx, &cfg)
	if err != nil {
		return nil, "", err
	}
	defer srv.close()
	cp, err := resolveStart(ctx, srv, &cfg, start)
	if err != nil {
		return nil, "", err
	}
	cp.Flavor = srv.flavor
	if cp.skipTo > 4 || (cp.skipTo == 4 && srv.gtid) {
		// Read up to the position to learn its GTID state, so the stored
		// checkpoint is a complete one.
		if cp, err = gtidStateAt(ctx, srv, &cfg, cp); err != nil {
			return nil, "", err
		}
	}
	return cp.Encode(), cp.String(), nil
}

// gtidStateAt reads the binlog from the start of cp.File to cp.skipTo and
// returns the checkpoint there with its GTID set.
func gtidStateAt(ctx context.Context, srv *server, cfg *Config, cp Checkpoint) (Checkpoint, error) {
	s := &Source{cfg: *cfg, capture: func(event.TableID) bool { return false }, log: slog.New(slog.DiscardHandler), store: NewMemStore(), stats: &stats{}}
	got := errors.New("reached")
	var out Checkpoint
	st := &stream{src: s, srv: srv, hist: newHistory(s.store), log: s.log, warned: map[string]bool{}}
	st.emit = func(ctx context.Context, _ []event.Event, c []byte) error {
		var err error
		out, err = DecodeCheckpoint(c)
		if err != nil {
			return err
		}
		return got
	}
	st.cp = cp
	st.onSkipped = func(ctx context.Context) error { return st.emitCP(ctx, nil) }
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	_, err := st.run(ctx)
	if errors.Is(err, got) {
		return out, nil
	}
	if err == nil {
		err = ctx.Err()
	}
	return Checkpoint{}, fmt.Errorf("mysql: read the GTID state at %s:%d: %w", cp.File, cp.skipTo, err)
}

// findByTime finds the first transaction that starts at or after t.
func findByTime(ctx context.Context, srv *server, cfg *Config, t time.Time) (Checkpoint, error) {
	files, err := srv.binaryLogs(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	if len(files) == 0 {
		return Checkpoint{}, fmt.Errorf("%w: mysql: the server lists no binlog files", ErrFatal)
	}
	want := t.Unix()
	if t.Nanosecond() > 0 {
		want++ // binlog timestamps are whole seconds
	}
	// The last file that was created at or before t holds the answer, or
	// the file after it.
	starts := make([]int64, len(files))
	for i := range starts {
		starts[i] = -1
	}
	startOf := func(i int) (int64, error) {
		if starts[i] < 0 {
			ts, err := fileStartTime(ctx, srv, cfg, files[i].Name)
			if err != nil {
				return 0, err
			}
			starts[i] = ts
		}
		return starts[i], nil
	}
	var serr error
	i := sort.Search(len(files), func(i int) bool {
		ts, err := startOf(i)
		if err != nil {
			serr = err
			return true
		}
		return ts > want
	})
	if serr != nil {
		return Checkpoint{}, serr
	}
	if i == 0 {
		i = 1 // the time is before the oldest binlog: its first transaction
	}
	for k := i - 1; k < len(files); k++ {
		pos, found, err := firstTxnAtOrAfter(ctx, srv, cfg, files[k].Name, want)
		if err != nil {
			return Checkpoint{}, err
		}
		if found {
			return Checkpoint{File: files[k].Name, Pos: 4, skipTo: pos}, nil
		}
	}
	// Nothing at or after t yet: start at the end.
	return srv.current(ctx)
}

func (c *Config) syncer(offset uint32, flavor string) *replication.BinlogSyncer {
	host, port, _ := c.hostPort()
	return replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: c.ServerID + offset, Flavor: flavor, Host: host, Port: port, User: c.User, Password: c.Password,
		HeartbeatPeriod: time.Second, ReadTimeout: 5 * time.Second, DisableRetrySync: true,
		RowsEventDecodeFunc: func(*replication.RowsEvent, []byte) error { return nil },
		Logger:              slog.New(slog.DiscardHandler),
	})
}

// fileStartTime returns the creation time of a binlog file (its format
// description event).
func fileStartTime(ctx context.Context, srv *server, cfg *Config, name string) (int64, error) {
	sy := cfg.syncer(1, srv.flavor)
	defer sy.Close()
	str, err := sy.StartSync(gomysql.Position{Name: name, Pos: 4})
	if err != nil {
		return 0, fmt.Errorf("mysql: read %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		ev, err := str.GetEvent(ctx)
		if err != nil {
			return 0, fmt.Errorf("mysql: read %s: %w", name, err)
		}
		if ev.Header.EventType == replication.FORMAT_DESCRIPTION_EVENT && ev.Header.Timestamp != 0 {
			return int64(ev.Header.Timestamp), nil
		}
		if ev.Header.Timestamp != 0 && ev.Header.EventType != replication.ROTATE_EVENT {
			return int64(ev.Header.Timestamp), nil
		}
	}
}

// firstTxnAtOrAfter scans one binlog file for the first transaction whose
// first event has a timestamp >= want; it returns the transaction's start.
func firstTxnAtOrAfter(ctx context.Context, srv *server, cfg *Config, name string, want int64) (uint32, bool, error) {
	sy := cfg.syncer(2, srv.flavor)
	defer sy.Close()
	str, err := sy.StartSync(gomysql.Position{Name: name, Pos: 4})
	if err != nil {
		return 0, false, fmt.Errorf("mysql: read %s: %w", name, err)
	}
	inTxn := false
	for {
		ectx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ev, err := str.GetEvent(ectx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return 0, false, nil // the end of the last binlog
			}
			return 0, false, fmt.Errorf("mysql: read %s: %w", name, err)
		}
		h := ev.Header
		if r, ok := ev.Event.(*replication.RotateEvent); ok {
			if string(r.NextLogName) != name && h.Timestamp != 0 {
				return 0, false, nil // the file ended
			}
			continue
		}
		if h.LogPos < h.EventSize {
			continue
		}
		start := h.LogPos - h.EventSize
		switch e := ev.Event.(type) {
		case *replication.GTIDEvent, *replication.MariadbGTIDEvent, *replication.GtidTaggedLogEvent:
			if int64(h.Timestamp) >= want {
				return start, true, nil
			}
			inTxn = true
		case *replication.QueryEvent:
			q := strings.ToUpper(strings.TrimSpace(string(e.Query)))
			if !inTxn && int64(h.Timestamp) >= want {
				return start, true, nil
			}
			switch {
			case q == "BEGIN":
				inTxn = true
			case q == "COMMIT" || q == "ROLLBACK":
				inTxn = false
			case mysqldialect.ParseDDL("", q).Kind != mysqldialect.DDLNone:
				inTxn = false // DDL ends its transaction
			}
		case *replication.XIDEvent:
			inTxn = false
		}
	}
}
