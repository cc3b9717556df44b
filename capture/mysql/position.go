package mysql

import (
	"encoding/json"
	"fmt"
)

// Checkpoint is the source position after the last complete transaction.
// It is stored, encoded as JSON, in the log with every appended transaction.
type Checkpoint struct {
	Flavor string `json:"flavor"`
	// File and Pos are where the next event starts.
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
	// GTIDSet is the set of transactions fully read (empty when GTID is off).
	GTIDSet string `json:"gtid_set,omitempty"`
	// Time is the commit time (Unix seconds) of the last transaction.
	Time uint32 `json:"time,omitempty"`
}

// Encode returns the stored form.
func (c Checkpoint) Encode() []byte {
	b, _ := json.Marshal(c)
	return b
}

// DecodeCheckpoint parses a stored checkpoint.
func DecodeCheckpoint(b []byte) (Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("mysql: checkpoint %q is not a MySQL checkpoint: %w", b, err)
	}
	if c.File == "" && c.GTIDSet == "" {
		return c, fmt.Errorf("mysql: checkpoint %q has neither file:pos nor GTID set", b)
	}
	return c, nil
}

func (c Checkpoint) String() string {
	s := fmt.Sprintf("%s:%d", c.File, c.Pos)
	if c.GTIDSet != "" {
		s += " gtid=" + c.GTIDSet
	}
	return s
}
