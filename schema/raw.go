package schema

import (
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/odsync/odsync/event"
)

// RawCount is how many values of one source table went to the _raw column
// of a target instead of their typed column (see Target.Row).
type RawCount struct {
	// Source is the source table, Table the target table and Column the
	// target column.
	Source event.TableID
	Table  string
	Column string
	Count  int64
}

// rawStats counts _raw fallbacks of one mapper and logs the first of each
// target column. Safe for concurrent use.
type rawStats struct {
	lg *slog.Logger

	mu     sync.Mutex
	counts map[rawKey]int64
	logged map[[2]string]bool // target, column
}

type rawKey struct {
	source        event.TableID
	table, column string
}

func newRawStats(lg *slog.Logger) *rawStats {
	return &rawStats{lg: lg, counts: map[rawKey]int64{}, logged: map[[2]string]bool{}}
}

// note counts one value of column col of target table that did not fit.
func (s *rawStats) note(e *event.Event, table, col string, cause error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.counts[rawKey{e.Source, table, col}]++
	first := !s.logged[[2]string{table, col}]
	if first {
		s.logged[[2]string{table, col}] = true
	}
	s.mu.Unlock()
	if first && s.lg != nil {
		s.lg.Warn("schema: a value does not fit its target column; the column is NULL and the value is kept in _raw (logged once per column, counted in odsync_values_raw_total)",
			"table", table, "column", col, "source", e.Source.String(), "pos", e.Pos.String(), "seq", e.Seq, "cause", cause.Error())
	}
}

// RawCounts returns, per source table, target table and column, how many
// values went to _raw since the mapper was created, sorted. Every
// conversion counts: a batch a sink retries counts again.
func (m *Mapper) RawCounts() []RawCount {
	s := m.stats
	s.mu.Lock()
	out := make([]RawCount, 0, len(s.counts))
	for k, n := range s.counts {
		out = append(out, RawCount{Source: k.source, Table: k.table, Column: k.column, Count: n})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b RawCount) int {
		if c := strings.Compare(a.Table, b.Table); c != 0 {
			return c
		}
		if c := strings.Compare(a.Column, b.Column); c != 0 {
			return c
		}
		return strings.Compare(a.Source.String(), b.Source.String())
	})
	return out
}
