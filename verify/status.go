package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// statusWaiter decides "caught up" from a running odsync's /status: first
// the capture's checkpoint must reach the watermark (the log then holds
// every change up to it), then the sink's durable position must reach the
// log head seen at that moment (the target holds all of them): its cursor,
// or for sinks that deliver after writing (S3 uploads) its durable
// sequence, never what is only spooled.
type statusWaiter struct {
	url    string
	client *http.Client
	sink   string
	head   uint64 // the head to reach, once the checkpoint covered the watermark
	failed error
}

// Status is the part of odsync's /status document verify uses (its
// waits, and the reverse check of a running job's checkpoint).
type Status struct {
	Source struct {
		Position string `json:"position"`
	} `json:"source"`
	Log struct {
		Head uint64 `json:"head"`
	} `json:"log"`
	Sinks []struct {
		Name   string `json:"name"`
		Cursor uint64 `json:"cursor"`
		// Durable is set for sinks that deliver after writing (S3: the
		// spool is uploaded later): the sequence up to which the target
		// holds every change. It, not the cursor, says "in the target".
		Durable *uint64 `json:"durable"`
	} `json:"sinks"`
}

func (s *statusWaiter) fetch(ctx context.Context) (*Status, error) {
	return FetchStatus(ctx, s.client, s.url)
}

// FetchStatus reads a running odsync's /status document at url.
func FetchStatus(ctx context.Context, client *http.Client, url string) (*Status, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, fmt.Errorf("status %s: HTTP %d", url, resp.StatusCode)
	}
	var d Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&d); err != nil {
		return nil, fmt.Errorf("status %s: %w", url, err)
	}
	return &d, nil
}

// caughtUp polls once. An error means the endpoint cannot be used.
func (s *statusWaiter) caughtUp(ctx context.Context, w Watermark) (bool, error) {
	d, err := s.fetch(ctx)
	if err != nil {
		s.failed = err
		return false, err
	}
	s.failed = nil
	cursor, found := uint64(0), false
	for _, sk := range d.Sinks {
		if sk.Name == s.sink {
			cursor, found = sk.Cursor, true
			if sk.Durable != nil {
				// Both must hold: written (cursor) and in the target
				// (durable; a sink may report a durable sequence above a
				// batch it is still writing).
				cursor = min(cursor, *sk.Durable)
			}
		}
	}
	if !found {
		s.failed = fmt.Errorf("status %s: no sink %q", s.url, s.sink)
		return false, s.failed
	}
	if s.head == 0 {
		if d.Source.Position == "" {
			s.failed = fmt.Errorf("status %s: no source position", s.url)
			return false, s.failed
		}
		if !checkpointCovers(d.Source.Position, w) {
			return false, nil
		}
		s.head = max(d.Log.Head, 1)
	}
	return cursor >= s.head || d.Log.Head == 0, nil
}

// checkpointCovers reports whether a capture checkpoint ("file:pos
// gtid=set") is at or after watermark w.
func checkpointCovers(cp string, w Watermark) bool {
	p, ok := parsePos(cp)
	if !ok {
		return false
	}
	if w.HasPos() && sameLog(p.file, w.File) && comparePos(p, w.File, w.Offset) >= 0 {
		return true
	}
	return gtidSetCovers(p.gtid, w.GTID)
}

// gtidSetCovers reports whether GTID state have includes state want
// (MariaDB domain-server-seq lists; MySQL uuid:intervals sets).
func gtidSetCovers(have, want string) bool {
	if have == "" || want == "" {
		return false
	}
	if !strings.Contains(want, ":") {
		last := map[string]uint64{}
		for _, g := range strings.Split(have, ",") {
			p := strings.Split(strings.TrimSpace(g), "-")
			if len(p) == 3 {
				n, _ := strconv.ParseUint(p[2], 10, 64)
				last[p[0]] = max(last[p[0]], n)
			}
		}
		for _, g := range strings.Split(want, ",") {
			p := strings.Split(strings.TrimSpace(g), "-")
			if len(p) != 3 {
				return false
			}
			n, _ := strconv.ParseUint(p[2], 10, 64)
			if last[p[0]] < n {
				return false
			}
		}
		return true
	}
	ends := func(set string) map[string]uint64 {
		out := map[string]uint64{}
		for _, part := range strings.Split(set, ",") {
			u, ivs, ok := strings.Cut(strings.TrimSpace(part), ":")
			if !ok {
				continue
			}
			for _, iv := range strings.Split(ivs, ":") {
				_, hi, _ := strings.Cut(iv, "-")
				if hi == "" {
					hi = iv
				}
				if n, err := strconv.ParseUint(hi, 10, 64); err == nil {
					out[strings.ToLower(u)] = max(out[strings.ToLower(u)], n)
				}
			}
		}
		return out
	}
	h, wt := ends(have), ends(want)
	for u, n := range wt {
		if h[u] < n {
			return false
		}
	}
	return len(wt) > 0
}
