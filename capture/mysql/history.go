package mysql

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/odsync/odsync/event"
)

// Store is small durable key/value state; *offsets.Log satisfies it.
// The schema history and snapshot bookkeeping live there.
type Store interface {
	Get(ns, key string) ([]byte, bool, error)
	Put(ns, key string, value []byte) error
	Scan(ns, prefix string, fn func(key string, value []byte) error) error
}

// memStore is a Store in memory, for a source run without durable state
// (tests, benchmarks, odsync check).
type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemStore returns an in-memory Store.
func NewMemStore() Store { return &memStore{m: map[string][]byte{}} }

func (s *memStore) Get(ns, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[ns+"\x00"+key]
	return append([]byte(nil), v...), ok, nil
}

func (s *memStore) Put(ns, key string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == nil {
		delete(s.m, ns+"\x00"+key)
	} else {
		s.m[ns+"\x00"+key] = append([]byte(nil), v...)
	}
	return nil
}

func (s *memStore) Scan(ns, prefix string, fn func(string, []byte) error) error {
	s.mu.Lock()
	var keys []string
	p := ns + "\x00" + prefix
	for k := range s.m {
		if strings.HasPrefix(k, p) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = append([]byte(nil), s.m[k]...)
	}
	s.mu.Unlock()
	for i, k := range keys {
		if err := fn(k[len(ns)+1:], vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// hpos orders binlog positions of one server: the numeric suffix of the
// binlog file name, then the offset in the file.
type hpos struct {
	seq uint64
	off uint32
}

func (p hpos) less(o hpos) bool { return p.seq < o.seq || p.seq == o.seq && p.off < o.off }

func (p hpos) key() string { return fmt.Sprintf("%012d.%010d", p.seq, p.off) }

// String renders the position as a binlog file suffix and offset,
// "*.000010:40825895" (the file's base name is not part of an hpos).
func (p hpos) String() string {
	return fmt.Sprintf("*.%06d:%d", p.seq, p.off)
}

// fileSeq returns the numeric suffix of a binlog file name ("binlog.000012" → 12).
func fileSeq(name string) uint64 {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func posOf(file string, off uint32) hpos { return hpos{fileSeq(file), off} }

const nsSchema = "mysql.schema"

// version is one entry of a table's history. schema == nil marks the table
// absent (dropped, renamed away) from at; unknown marks a schema change
// odsync could not follow (the next table map decides).
type version struct {
	at      hpos
	schema  *tableSchema
	unknown bool
	table   *event.Table // derived from schema
}

type storedVersion struct {
	Schema  *tableSchema `json:"schema,omitempty"`
	Unknown bool         `json:"unknown,omitempty"`
}

// history is the schema history of every table odsync has seen, keyed by
// binlog position, loaded lazily from the store.
type history struct {
	store  Store
	tables map[event.TableID]*tableHistory
}

type tableHistory struct {
	versions []*version // ascending by at
}

func newHistory(store Store) *history {
	return &history{store: store, tables: map[event.TableID]*tableHistory{}}
}

func historyPrefix(id event.TableID) string { return id.DB + "\x00" + id.Table + "\x00" }

func (h *history) load(id event.TableID) (*tableHistory, error) {
	if th, ok := h.tables[id]; ok {
		return th, nil
	}
	th := &tableHistory{}
	prefix := historyPrefix(id)
	err := h.store.Scan(nsSchema, prefix, func(k string, v []byte) error {
		rest := k[len(prefix):]
		dot := strings.IndexByte(rest, '.')
		if dot < 0 {
			return nil
		}
		seq, err1 := strconv.ParseUint(rest[:dot], 10, 64)
		off, err2 := strconv.ParseUint(rest[dot+1:], 10, 32)
		if err1 != nil || err2 != nil {
			return nil
		}
		var sv storedVersion
		if err := json.Unmarshal(v, &sv); err != nil {
			return fmt.Errorf("schema history of %s at %s: %w", id, rest, err)
		}
		ver := &version{at: hpos{seq, uint32(off)}, schema: sv.Schema, unknown: sv.Unknown}
		if ver.schema != nil {
			ver.table = ver.schema.eventTable()
		}
		th.versions = append(th.versions, ver)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mysql: load schema history of %s: %w", id, err)
	}
	h.tables[id] = th
	return th, nil
}

// at returns the version in force at p: the last one at or before p. When
// every version is after p it returns the first one with early=true (the
// history starts later than p; the table map decides whether it fits).
func (h *history) at(id event.TableID, p hpos) (v *version, early bool, err error) {
	th, err := h.load(id)
	if err != nil || len(th.versions) == 0 {
		return nil, false, err
	}
	i := sort.Search(len(th.versions), func(i int) bool { return p.less(th.versions[i].at) })
	if i == 0 {
		return th.versions[0], true, nil
	}
	return th.versions[i-1], false, nil
}

// exact returns the version recorded exactly at p, if any.
func (h *history) exact(id event.TableID, p hpos) (*version, error) {
	th, err := h.load(id)
	if err != nil {
		return nil, err
	}
	for _, v := range th.versions {
		if v.at == p {
			return v, nil
		}
	}
	return nil, nil
}

// put records a version at p (replacing one recorded at the same position).
func (h *history) put(id event.TableID, p hpos, s *tableSchema, unknown bool) (*version, error) {
	th, err := h.load(id)
	if err != nil {
		return nil, err
	}
	if s != nil {
		s = s.clone()
		s.DB, s.Name = id.DB, id.Table
	}
	b, err := json.Marshal(storedVersion{Schema: s, Unknown: unknown})
	if err != nil {
		return nil, err
	}
	if err := h.store.Put(nsSchema, historyPrefix(id)+p.key(), b); err != nil {
		return nil, fmt.Errorf("mysql: save schema history of %s at %s: %w", id, p, err)
	}
	v := &version{at: p, schema: s, unknown: unknown}
	if s != nil {
		v.table = s.eventTable()
	}
	i := sort.Search(len(th.versions), func(i int) bool { return !th.versions[i].at.less(p) })
	if i < len(th.versions) && th.versions[i].at == p {
		th.versions[i] = v
	} else {
		th.versions = append(th.versions, nil)
		copy(th.versions[i+1:], th.versions[i:])
		th.versions[i] = v
	}
	return v, nil
}

// known reports whether the history has any version of the table.
func (h *history) known(id event.TableID) (bool, error) {
	th, err := h.load(id)
	if err != nil {
		return false, err
	}
	return len(th.versions) > 0, nil
}

// tablesOf lists the tables of database db that the history has seen.
func (h *history) tablesOf(db string) ([]event.TableID, error) {
	seen := map[event.TableID]bool{}
	err := h.store.Scan(nsSchema, db+"\x00", func(k string, _ []byte) error {
		parts := strings.SplitN(k, "\x00", 3)
		if len(parts) == 3 {
			seen[event.TableID{DB: parts[0], Table: parts[1]}] = true
		}
		return nil
	})
	for id := range h.tables {
		if id.DB == db {
			seen[id] = true
		}
	}
	var out []event.TableID
	for id := range seen {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Table < out[j].Table })
	return out, err
}
