package s3

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

// The spool directory holds no row: the pipeline's log is the spool (the
// sink acknowledges a batch only when every object holding its rows is
// uploaded, and the log keeps what is not acknowledged). It holds:
//
//	state.json     the objects whose upload started and that may hold rows
//	               above the cursor, and the layout changes near the cursor
//	               (atomically replaced before each upload and at each
//	               layout change)
//	tmp/           the files being encoded and uploaded (scratch, never synced)
//
// After a crash the pipeline hands out every event after the cursor again.
// Objects of state.json that exist in the bucket are not written again:
// the rows of their table partition and sequence range are skipped and the
// next row starts a new object, as in the first run (see the package
// comment). An entry is dropped once the pipeline has been given the
// acknowledgement of every row up to its last sequence. The layout changes let a restart reconcile each
// target with the layout in force at the cursor (not a later one the
// bucket may already have), so a replay cuts files at layout changes as
// the first run did.

const stateVersion = 2

// stateFile is the content of state.json.
type stateFile struct {
	Version int       `json:"version"`
	Uploads []upRange `json:"uploads"`
	Heads   []headAt  `json:"heads,omitempty"`
}

// headAt is a layout change: from event Seq on, target base Base has the
// layout Layout of table Table, whose schema file is Schema.
type headAt struct {
	Seq    uint64 `json:"seq"`
	Base   string `json:"base"`
	Table  string `json:"table"`
	Layout uint64 `json:"layout"`
	Schema string `json:"schema"`
	// Target is the layout's target (enough for the Athena DDL of the
	// next change).
	Target *schema.Target `json:"target"`
}

// upRange is one object: its key and the rows it holds (every row of
// Table partition Part with a sequence in First..Last).
type upRange struct {
	Key   string `json:"key"`
	Table string `json:"table"`
	Part  string `json:"part"`
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

func (s *Sink) statePath() string { return filepath.Join(s.dir, "state.json") }

// legacyState is the state.json of the spooling sink (odsync before the
// log became the spool): what it still holds must be uploaded by it.
type legacyState struct {
	Version int `json:"version"`
	Spools  []struct {
		Table    string `json:"table"`
		FirstSeq uint64 `json:"first_seq"`
	} `json:"spools"`
}

// openDir prepares the spool directory and reads state.json. A
// directory of the spooling sink is taken over when it holds no spooled
// row; otherwise starting is refused (the rows are in no log any more).
func (s *Sink) openDir() (stateFile, error) {
	var st stateFile
	if err := os.MkdirAll(filepath.Join(s.dir, "tmp"), 0o700); err != nil {
		return st, fmt.Errorf("s3 sink: spool_dir: %w", err)
	}
	removeExcept(filepath.Join(s.dir, "tmp"), nil)
	data, err := os.ReadFile(s.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("s3 sink: %w", err)
	}
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return st, fmt.Errorf("s3 sink: %s: %w: %v", s.statePath(), sink.ErrPermanent, err)
	}
	if v.Version == 1 {
		var old legacyState
		if err := json.Unmarshal(data, &old); err != nil {
			return st, fmt.Errorf("s3 sink: %s: %w: %v", s.statePath(), sink.ErrPermanent, err)
		}
		if len(old.Spools) > 0 {
			return st, fmt.Errorf("%w: s3 sink: %s holds %d files spooled by an older odsync (table %s from seq %d); "+
				"they are in no log any more: run that version once with the bucket reachable and stop it gracefully "+
				"(it uploads them at close, flush_on_close), then start this one", sink.ErrPermanent, s.statePath(), len(old.Spools),
				old.Spools[0].Table, old.Spools[0].FirstSeq)
		}
		for _, d := range []string{"spool", "layouts"} {
			os.RemoveAll(filepath.Join(s.dir, d))
		}
		os.Remove(s.statePath())
		s.lg.Info("s3 sink: took over the spool directory of an older odsync (nothing was spooled)", "dir", s.dir)
		return st, nil
	}
	if err := json.Unmarshal(data, &st); err != nil || st.Version != stateVersion {
		return st, fmt.Errorf("%w: s3 sink: %s: version %d, want %d: %v", sink.ErrPermanent, s.statePath(), st.Version, stateVersion, err)
	}
	return st, nil
}

// saveState writes state.json. Called with s.mu held.
func (s *Sink) saveState() error {
	st := stateFile{Version: stateVersion, Uploads: []upRange{}}
	for _, r := range s.started {
		if r.Last > s.firedSeq {
			st.Uploads = append(st.Uploads, r)
		}
	}
	s.started = append(s.started[:0], st.Uploads...)
	// Per target: the changes after what is acknowledged, and the one in
	// force there.
	keep := make([]bool, len(s.headLog))
	newest := map[string]int{}
	for i, h := range s.headLog {
		if h.Seq > s.firedSeq {
			keep[i] = true
		} else if j, ok := newest[h.Base]; !ok || s.headLog[j].Seq < h.Seq {
			newest[h.Base] = i
		}
	}
	for _, i := range newest {
		keep[i] = true
	}
	hs := s.headLog[:0]
	for i, h := range s.headLog {
		if keep[i] {
			hs = append(hs, h)
		}
	}
	s.headLog = hs
	st.Heads = hs
	data, err := json.Marshal(&st)
	if err == nil {
		err = writeFileSync(s.statePath(), data)
	}
	if err != nil {
		return fmt.Errorf("s3 sink: %s: %w", s.statePath(), err)
	}
	return nil
}

// noteHeadAt records a layout change durably (before it is published).
// Called with s.mu held.
func (s *Sink) noteHeadAt(h headAt) error {
	for _, x := range s.headLog {
		if x.Seq == h.Seq && x.Base == h.Base {
			return nil // replayed
		}
	}
	s.headLog = append(s.headLog, h)
	sort.SliceStable(s.headLog, func(i, j int) bool { return s.headLog[i].Seq < s.headLog[j].Seq })
	return s.saveState()
}

// headBefore returns the layout of base in force before event seq, as
// recorded (nil: none recorded).
func (s *Sink) headBefore(base string, seq uint64) *headAt {
	var h *headAt
	for i := range s.headLog {
		if x := &s.headLog[i]; x.Base == base && x.Seq < seq {
			h = x
		}
	}
	return h
}

// layout is a target column layout: the target (enough for the encoders)
// and the content of its schema file, rendered from the live target when
// the layout was first used.
type layout struct {
	Target *schema.Target
	Schema string
}

func hex16(v uint64) string {
	s := strconv.FormatUint(v, 16)
	return strings.Repeat("0", 16-len(s)) + s
}

func removeExcept(dir string, keep map[string]bool) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// writeFileSync writes path atomically: temp file, fsync, rename, fsync dir.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
