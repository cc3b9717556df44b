package kafka

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/odsync/odsync/capture/kafka/codec"
)

// checkpointKind marks a Kafka source checkpoint.
const checkpointKind = "kafka"

// Checkpoint is the source position of a Kafka source, stored in the log
// atomically with the events it covers (JSON).
//
// For each partition, Offset is the lowest offset whose message is not yet
// completely in the log: a restart reads from there, and drops the rows
// it reads again whose CommitTs <= Released (they are in the log). Rows of
// those messages above Released were not released yet and are buffered
// again. Watermark is informational (the partition's last watermark).
type Checkpoint struct {
	Kind string `json:"kind"`
	// Group is the consumer group, when one is used.
	Group string `json:"group,omitempty"`
	// Released is the watermark up to which rows were released to the log
	// (the minimum of the partitions' Released).
	Released uint64 `json:"released,omitempty"`
	// Partitions are sorted by topic and partition.
	Partitions []PartitionCheckpoint `json:"partitions"`
	// Reset marks a checkpoint written by odsync replay (ResolveStart): it
	// overrides the consumer group's committed offsets once.
	Reset bool `json:"reset,omitempty"`
}

// PartitionCheckpoint is one partition's position.
type PartitionCheckpoint struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	// Offset is where reading resumes (the next offset to read).
	Offset int64 `json:"offset"`
	// Released: rows of this partition with CommitTs <= Released are in the log.
	Released uint64 `json:"released,omitempty"`
	// Watermark is the partition's last TiCDC watermark, carried by the
	// message at WatermarkOffset. After a restart it holds again once the
	// messages before WatermarkOffset were re-read (they may hold rows
	// above Released); WatermarkOffset is omitted when Watermark <= Released.
	Watermark       uint64 `json:"watermark,omitempty"`
	WatermarkOffset int64  `json:"watermark_offset,omitempty"`
}

// Encode returns the stored form.
func (c *Checkpoint) Encode() []byte {
	c.Kind = checkpointKind
	b, _ := json.Marshal(c)
	return b
}

// DecodeCheckpoint parses a stored checkpoint.
func DecodeCheckpoint(b []byte) (Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("ticdc: checkpoint %q is not a Kafka source checkpoint: %w", truncate(b, 200), err)
	}
	if c.Kind != checkpointKind {
		return c, fmt.Errorf("ticdc: checkpoint %q is not a Kafka source checkpoint (kind %q)", truncate(b, 200), c.Kind)
	}
	for _, p := range c.Partitions {
		if p.Topic == "" || p.Partition < 0 || p.Offset < 0 {
			return c, fmt.Errorf("ticdc: checkpoint has an invalid partition entry %+v", p)
		}
	}
	return c, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Find returns the entry of a partition.
func (c *Checkpoint) Find(topic string, partition int) (PartitionCheckpoint, bool) {
	for _, p := range c.Partitions {
		if p.Topic == topic && p.Partition == partition {
			return p, true
		}
	}
	return PartitionCheckpoint{}, false
}

func sortPartitions(ps []PartitionCheckpoint) {
	slices.SortFunc(ps, func(a, b PartitionCheckpoint) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
}

// String renders the checkpoint on one line for odsync offsets show:
// "group g, released 449...(2026-11-21T08:00:00.123Z), orders/0@1200 orders/1@1187".
func (c Checkpoint) String() string {
	var b strings.Builder
	if c.Group != "" {
		b.WriteString("group " + c.Group + ", ")
	} else {
		b.WriteString("no group, ")
	}
	if c.Released != 0 {
		b.WriteString("released " + FormatTSO(c.Released) + ", ")
	}
	if c.Reset {
		b.WriteString("reset by replay, ")
	}
	b.WriteString(strconv.Itoa(len(c.Partitions)) + " partitions:")
	for _, p := range c.Partitions {
		b.WriteString(" " + p.Topic + "/" + strconv.Itoa(p.Partition) + "@" + strconv.FormatInt(p.Offset, 10))
	}
	return b.String()
}

// Lines renders one line per partition (offsets show's detail):
// "orders/0  offset 1200  released 449...(time)  watermark 449...(time)".
func (c Checkpoint) Lines() []string {
	out := make([]string, 0, len(c.Partitions))
	for _, p := range c.Partitions {
		s := fmt.Sprintf("%s/%d  offset %d", p.Topic, p.Partition, p.Offset)
		if p.Released != 0 {
			s += "  released " + FormatTSO(p.Released)
		}
		if p.Watermark != 0 {
			s += "  watermark " + FormatTSO(p.Watermark)
		}
		out = append(out, s)
	}
	return out
}

// FormatTSO renders a TiDB TSO with its physical time:
// "449537283735945217 (2024-05-04T18:50:47.064Z)".
func FormatTSO(tso uint64) string {
	return strconv.FormatUint(tso, 10) + " (" + time.UnixMicro(codec.TSOToMicros(tso)).UTC().Format("2006-01-02T15:04:05.000Z") + ")"
}

// groupMetadata is the consumer-group commit metadata: the partition's
// Released watermark, so that another instance taking the partition over
// drops what this one released.
const groupMetaPrefix = "odsync1:"

func encodeGroupMeta(pc PartitionCheckpoint) string {
	s := groupMetaPrefix + strconv.FormatUint(pc.Released, 10)
	if pc.Watermark > pc.Released {
		s += ":" + strconv.FormatUint(pc.Watermark, 10) + ":" + strconv.FormatInt(pc.WatermarkOffset, 10)
	}
	return s
}

// decodeGroupMeta fills Released, Watermark and WatermarkOffset of pc from
// commit metadata written by encodeGroupMeta.
func decodeGroupMeta(s string, pc *PartitionCheckpoint) bool {
	if !strings.HasPrefix(s, groupMetaPrefix) {
		return false
	}
	f := strings.Split(s[len(groupMetaPrefix):], ":")
	rel, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return false
	}
	pc.Released = rel
	if len(f) == 3 {
		wm, err1 := strconv.ParseUint(f[1], 10, 64)
		at, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 == nil && err2 == nil {
			pc.Watermark, pc.WatermarkOffset = wm, at
		}
	}
	return true
}
