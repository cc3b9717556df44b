package kafka

import (
	"context"
	"fmt"
)

// ResolveStart resolves a start position (ParseStart's syntax; "checkpoint"
// is not one) against the brokers into a checkpoint to store in the log
// (odsync replay --source-start): every partition of the configured topics
// starts there, overriding the consumer group's committed offsets once. It
// returns the encoded checkpoint and a one-line description.
func ResolveStart(ctx context.Context, cfg SourceConfig, spec string) ([]byte, string, error) {
	st, err := ParseStart(spec)
	if err != nil {
		return nil, "", err
	}
	if st.Kind == StartCheckpoint {
		return nil, "", fmt.Errorf("start %q: a replay needs a position (earliest, latest, time:, commit_ts: or offsets:)", spec)
	}
	s, err := NewSource(cfg, nil, nil)
	if err != nil {
		return nil, "", err
	}
	defer s.Close()
	topics, err := s.listTopics(ctx)
	if err != nil {
		return nil, "", err
	}
	var parts []tp
	for _, name := range sortedTopics(topics) {
		for p := 0; p < topics[name]; p++ {
			parts = append(parts, tp{name, p})
		}
	}
	for k := range st.Offsets {
		found := false
		for _, t := range parts {
			found = found || t.String() == k
		}
		if !found {
			return nil, "", fmt.Errorf("start %q: %s is not a partition of the configured topics", spec, k)
		}
	}
	ranges, err := s.listOffsets(ctx, parts)
	if err != nil {
		return nil, "", err
	}
	pos, err := s.resolveStart(ctx, st, parts, ranges)
	if err != nil {
		return nil, "", err
	}
	cp := Checkpoint{Kind: checkpointKind, Group: s.cfg.GroupID, Reset: true}
	for _, t := range parts {
		pc := pos[t]
		r := ranges[t]
		if pc.Offset < r.first || pc.Offset > r.end {
			return nil, "", fmt.Errorf("start %q: offset %d of %s is outside the retained range %d..%d", spec, pc.Offset, t, r.first, r.end)
		}
		cp.Partitions = append(cp.Partitions, pc)
		if cp.Released == 0 || pc.Released < cp.Released {
			cp.Released = pc.Released
		}
	}
	sortPartitions(cp.Partitions)
	return cp.Encode(), st.String() + ": " + cp.String(), nil
}

// Check connects to the brokers and describes what the source would read:
// the topics, their partitions and retained offsets, and the consumer
// group's committed offsets. It reports problems as an error.
func Check(ctx context.Context, cfg SourceConfig) ([]string, error) {
	s, err := NewSource(cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	topics, err := s.listTopics(ctx)
	if err != nil {
		return nil, err
	}
	var parts []tp
	var lines []string
	for _, name := range sortedTopics(topics) {
		lines = append(lines, fmt.Sprintf("topic %s: %d partitions", name, topics[name]))
		for p := 0; p < topics[name]; p++ {
			parts = append(parts, tp{name, p})
		}
	}
	ranges, err := s.listOffsets(ctx, parts)
	if err != nil {
		return lines, err
	}
	var group map[tp]PartitionCheckpoint
	if s.cfg.GroupID != "" {
		if group, err = s.fetchGroupOffsets(ctx, parts); err != nil {
			return lines, err
		}
	}
	for _, t := range parts {
		r := ranges[t]
		l := fmt.Sprintf("  %s: offsets %d..%d", t, r.first, r.end)
		if g, ok := group[t]; ok {
			l += fmt.Sprintf(", group %s committed %d", s.cfg.GroupID, g.Offset)
		}
		lines = append(lines, l)
	}
	if s.large.tidb != nil {
		if err := s.large.tidb.db.PingContext(ctx); err != nil {
			return lines, fmt.Errorf("tidb.dsn: %w", err)
		}
		lines = append(lines, "tidb: reachable")
	}
	return lines, nil
}
