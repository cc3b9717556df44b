package odpsemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Tunnel sessions are persisted as small JSON files so a sink keeps working
// across an emulator restart (real sessions live on the server for hours).

type streamSession struct {
	mu sync.Mutex // guards Slots

	ID            string   `json:"id"`
	TableID       string   `json:"table_id"`
	Table         string   `json:"table"`
	Partition     []string `json:"partition,omitempty"`
	SchemaVersion int      `json:"schema_version"`
	Created       int64    `json:"created"`
	CreatedNS     int64    `json:"created_ns,omitempty"`
	// Slots is the slot count the session was last given (create or
	// reload): the slot ids it has are 1..Slots. 0 (older files): any.
	Slots int `json:"slots,omitempty"`
}

func (s *streamSession) slotCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Slots
}

type blockMeta struct {
	Records int64 `json:"records"`
	Size    int64 `json:"size"`
	Created int64 `json:"created"`
}

type uploadSession struct {
	mu sync.Mutex // serializes block writes and commit of this session

	ID        string       `json:"id"`
	TableID   string       `json:"table_id"`
	Table     string       `json:"table"`
	Partition []string     `json:"partition,omitempty"`
	Overwrite bool         `json:"overwrite,omitempty"`
	Columns   []columnJSON `json:"columns"`
	Created   int64        `json:"created"`
	CreatedNS int64        `json:"created_ns,omitempty"`
	// DDLVersion is the table's schema version when the session was
	// created, plus one (0 in files of older emulators: unknown).
	DDLVersion int               `json:"ddl_version,omitempty"`
	Status     string            `json:"status"` // normal | closed (committed)
	Blocks     map[int]blockMeta `json:"blocks"`
	cols       []column          // parsed Columns
}

type snapSeg struct {
	Rel  string `json:"rel"`
	Rows int64  `json:"rows"`
}

type downloadSession struct {
	ID        string       `json:"id"`
	TableID   string       `json:"table_id"`
	Table     string       `json:"table"`
	Partition []string     `json:"partition,omitempty"`
	Columns   []columnJSON `json:"columns"`
	Segments  []snapSeg    `json:"segments"`
	Rows      int64        `json:"rows"`
	Created   int64        `json:"created"`
	cols      []column
}

var errNoSession = errors.New("no such session")

// maxCachedSessions bounds the in-memory session caches; sessions are on
// disk and are reloaded on demand.
const maxCachedSessions = 10000

// trimCaches drops cached sessions once a cache is full. Upload sessions
// that are still open stay cached: their mutex serializes block writes.
// Caller holds p.sessMu.
func (p *project) trimCaches() {
	if len(p.streams) > maxCachedSessions {
		clear(p.streams)
	}
	if len(p.downloads) > maxCachedSessions {
		clear(p.downloads)
	}
	if len(p.uploads) > maxCachedSessions {
		for id, s := range p.uploads {
			if s.mu.TryLock() {
				if s.Status != "normal" {
					delete(p.uploads, id)
				}
				s.mu.Unlock()
			}
		}
	}
}

func (p *project) sessionPath(kind, id string) string {
	if kind == "uploads" {
		return filepath.Join(p.dir, "uploads", id, "session.json")
	}
	return filepath.Join(p.dir, kind, id+".json")
}

func (p *project) saveSession(kind, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	path := p.sessionPath(kind, id)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(path, b, p.sync)
}

func (p *project) loadSession(kind, id string, v any) error {
	if !sessionIDRE.MatchString(id) {
		return errNoSession
	}
	b, err := os.ReadFile(p.sessionPath(kind, id))
	if errors.Is(err, fs.ErrNotExist) {
		return errNoSession
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("session %s: %w", id, err)
	}
	return nil
}

func (p *project) streamSession(id string) (*streamSession, error) {
	p.sessMu.Lock()
	defer p.sessMu.Unlock()
	if s, ok := p.streams[id]; ok {
		return s, nil
	}
	s := &streamSession{}
	if err := p.loadSession("streams", id, s); err != nil {
		return nil, err
	}
	p.trimCaches()
	p.streams[id] = s
	return s, nil
}

func (p *project) uploadSession(id string) (*uploadSession, error) {
	p.sessMu.Lock()
	defer p.sessMu.Unlock()
	if s, ok := p.uploads[id]; ok {
		return s, nil
	}
	s := &uploadSession{}
	if err := p.loadSession("uploads", id, s); err != nil {
		return nil, err
	}
	cols, err := columnsFromJSON(s.Columns)
	if err != nil {
		return nil, err
	}
	s.cols = cols
	if s.Blocks == nil {
		s.Blocks = map[int]blockMeta{}
	}
	p.trimCaches()
	p.uploads[id] = s
	return s, nil
}

func (p *project) downloadSession(id string) (*downloadSession, error) {
	p.sessMu.Lock()
	defer p.sessMu.Unlock()
	if s, ok := p.downloads[id]; ok {
		return s, nil
	}
	s := &downloadSession{}
	if err := p.loadSession("downloads", id, s); err != nil {
		return nil, err
	}
	cols, err := columnsFromJSON(s.Columns)
	if err != nil {
		return nil, err
	}
	s.cols = cols
	p.trimCaches()
	p.downloads[id] = s
	return s, nil
}

func (p *project) registerStream(s *streamSession) error {
	if err := p.saveSession("streams", s.ID, s); err != nil {
		return err
	}
	p.sessMu.Lock()
	p.trimCaches()
	p.streams[s.ID] = s
	p.sessMu.Unlock()
	return nil
}

func (p *project) registerUpload(s *uploadSession) error {
	if err := p.saveSession("uploads", s.ID, s); err != nil {
		return err
	}
	p.sessMu.Lock()
	p.trimCaches()
	p.uploads[s.ID] = s
	p.sessMu.Unlock()
	return nil
}

func (p *project) registerDownload(s *downloadSession) error {
	if err := p.saveSession("downloads", s.ID, s); err != nil {
		return err
	}
	p.sessMu.Lock()
	p.trimCaches()
	p.downloads[s.ID] = s
	p.sessMu.Unlock()
	return nil
}
