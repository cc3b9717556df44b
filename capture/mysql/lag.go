package mysql

import (
	"context"
	"time"
)

// Stats is a snapshot of the capture's state, for metrics and logs.
type Stats struct {
	// Position is the checkpoint of the last emitted transaction.
	Position string
	// LagSeconds is how far the capture is behind the source: the age of
	// the last binlog event read, 0 when the server reports nothing newer.
	LagSeconds float64
	// BytesBehind is how many binlog bytes the server has written beyond
	// the capture's position (measured every few seconds).
	BytesBehind uint64
	// Transactions and Events count what was read since the start;
	// Spills counts chunks of large transactions spilled to the log.
	Transactions, Events, Spills uint64
	// Snapshot is the progress of a running snapshot (nil when none).
	Snapshot *SnapshotState
	// SnapshotRows counts rows copied by snapshots since the start.
	SnapshotRows uint64
}

type lagInfo struct {
	bytesBehind uint64
	measured    time.Time
}

// Stats returns the current state. It is safe to call concurrently with Run.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	out := Stats{Position: s.cp.String(), BytesBehind: s.lag.bytesBehind}
	if s.snapSt != nil {
		ss := *s.snapSt
		out.Snapshot = &ss
	}
	s.mu.Unlock()
	out.Transactions = s.stats.txns.Load()
	out.Events = s.stats.events.Load()
	out.Spills = s.stats.spills.Load()
	out.SnapshotRows = s.stats.snapRows.Load()
	ts := s.stats.lastEventTS.Load()
	seen := s.stats.lastSeen.Load()
	caught := s.stats.caught.Load()
	switch {
	case ts == 0:
	case out.BytesBehind == 0 || caught > seen:
		out.LagSeconds = 0
	default:
		out.LagSeconds = max(0, float64(time.Now().Unix()-ts))
	}
	return out
}

// watchLag measures the binlog bytes behind every few seconds and logs
// the capture's progress every ProgressInterval.
func (s *Source) watchLag(ctx context.Context, srv *server) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		lastLog := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			qctx, qcancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
			files, err := srv.binaryLogs(qctx)
			qcancel()
			if err == nil {
				s.mu.Lock()
				s.lag.bytesBehind = bytesBehind(files, s.cp.File, s.cp.Pos)
				s.lag.measured = time.Now()
				s.mu.Unlock()
			}
			if time.Since(lastLog) >= s.cfg.ProgressInterval {
				lastLog = time.Now()
				st := s.Stats()
				s.log.Info("capture progress", "position", st.Position, "lag_seconds", st.LagSeconds, "bytes_behind", st.BytesBehind,
					"transactions", st.Transactions, "events", st.Events)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// bytesBehind sums the binlog bytes after file:pos.
func bytesBehind(files []binlogFile, file string, pos uint32) uint64 {
	var n uint64
	seq := fileSeq(file)
	for _, f := range files {
		switch fs := fileSeq(f.Name); {
		case f.Name == file:
			if f.Size > uint64(pos) {
				n += f.Size - uint64(pos)
			}
		case fs > seq:
			n += f.Size
		}
	}
	return n
}
