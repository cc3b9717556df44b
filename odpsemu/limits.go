package odpsemu

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limits of the real service the emulator enforces (Config.SessionTTL,
// MaxUploadSessions, SessionCreateLimit, CommitLimit, MaxClockSkew,
// AcceptUnknownSlots, AllowCommitAfterAlter). Quota counters live in memory
// only: a restarted emulator starts with empty windows and counts only the
// upload sessions opened since.

func (s *Server) now() time.Time { return s.cfg.Now() }

// expired reports whether a session created at created (unix nanoseconds)
// is past Config.SessionTTL.
func (s *Server) expired(created int64) bool {
	ttl := s.cfg.SessionTTL
	return ttl > 0 && s.now().Sub(time.Unix(0, created)) >= ttl
}

func sessionExpired(kind, id string) *apiError {
	return &apiError{status: http.StatusConflict, code: "StatusConflict",
		msg: fmt.Sprintf("The %s session is expired: %s", kind, id)}
}

// createdNS is a session's creation time in unix nanoseconds (sessions
// saved by older emulators only have seconds).
func createdNS(sec, ns int64) int64 {
	if ns != 0 {
		return ns
	}
	return sec * int64(time.Second)
}

// throttled is MaxCompute's answer to a request over a quota: 429 with a
// Retry-After (whole seconds, at least 1).
func throttled(wait time.Duration, format string, args ...any) *apiError {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	return &apiError{status: http.StatusTooManyRequests, code: "FlowExceeded",
		msg:     "Your flow quota is exceeded: " + fmt.Sprintf(format, args...),
		headers: map[string]string{"Retry-After": strconv.Itoa(secs)}}
}

// quotas counts, per table (by table id), the requests the real service
// limits.
type quotas struct {
	mu     sync.Mutex
	tables map[string]*tableQuota
}

type tableQuota struct {
	open    map[string]int64 // open upload sessions: id -> created (unix ns)
	creates []time.Time      // session creations in the current window
	commits []time.Time      // commits in the current window
}

func (q *quotas) table(id string) *tableQuota {
	if q.tables == nil {
		q.tables = map[string]*tableQuota{}
	}
	tq := q.tables[id]
	if tq == nil {
		tq = &tableQuota{open: map[string]int64{}}
		q.tables[id] = tq
	}
	return tq
}

// window drops the events older than w and reports whether one more fits
// under limit, and if not how long until the oldest leaves the window.
func window(events []time.Time, now time.Time, w time.Duration, limit int) ([]time.Time, bool, time.Duration) {
	i := 0
	for i < len(events) && now.Sub(events[i]) >= w {
		i++
	}
	events = events[i:]
	if limit <= 0 || len(events) < limit {
		return events, true, 0
	}
	return events, false, events[0].Add(w).Sub(now)
}

// admitSession counts a session creation on a table, or refuses it. upload
// names an upload session, which also counts against MaxUploadSessions
// until it is committed or expires.
func (s *Server) admitSession(p *project, t *table, upload string) *apiError {
	now := s.now()
	s.quota.mu.Lock()
	defer s.quota.mu.Unlock()
	tq := s.quota.table(t.id)
	if upload != "" && s.cfg.MaxUploadSessions > 0 {
		for id, created := range tq.open {
			if s.expired(created) {
				delete(tq.open, id)
			}
		}
		if len(tq.open) >= s.cfg.MaxUploadSessions {
			return throttled(time.Second, "table %s.%s already has %d open upload sessions (limit %d); commit or let some expire",
				p.name, t.name, len(tq.open), s.cfg.MaxUploadSessions)
		}
	}
	if s.cfg.SessionCreateLimit > 0 {
		ev, ok, wait := window(tq.creates, now, s.cfg.SessionCreateWindow, s.cfg.SessionCreateLimit)
		tq.creates = ev
		if !ok {
			return throttled(wait, "too many sessions created on table %s.%s (limit %d per %s)",
				p.name, t.name, s.cfg.SessionCreateLimit, s.cfg.SessionCreateWindow)
		}
		tq.creates = append(tq.creates, now)
	}
	if upload != "" && s.cfg.MaxUploadSessions > 0 {
		tq.open[upload] = now.UnixNano()
	}
	return nil
}

// admitCommit counts a commit on a table, or refuses it.
func (s *Server) admitCommit(p *project, t *table) *apiError {
	if s.cfg.CommitLimit <= 0 {
		return nil
	}
	now := s.now()
	s.quota.mu.Lock()
	defer s.quota.mu.Unlock()
	tq := s.quota.table(t.id)
	ev, ok, wait := window(tq.commits, now, s.cfg.CommitWindow, s.cfg.CommitLimit)
	tq.commits = ev
	if !ok {
		return throttled(wait, "too many commits on table %s.%s (limit %d per %s)",
			p.name, t.name, s.cfg.CommitLimit, s.cfg.CommitWindow)
	}
	tq.commits = append(tq.commits, now)
	return nil
}

// closeUpload stops counting a committed upload session as open.
func (s *Server) closeUpload(tableID, id string) {
	s.quota.mu.Lock()
	defer s.quota.mu.Unlock()
	if tq := s.quota.tables[tableID]; tq != nil {
		delete(tq.open, id)
	}
}

// checkDate refuses a signed request whose Date header is too far from
// the server clock, as MaxCompute does.
func (s *Server) checkDate(r *http.Request) *apiError {
	if s.cfg.MaxClockSkew < 0 {
		return nil
	}
	v := r.Header.Get("Date")
	d, err := http.ParseTime(v)
	if err != nil {
		return &apiError{status: http.StatusForbidden, code: "AccessDenied",
			msg: fmt.Sprintf("the Date header %q is missing or not an HTTP date", v)}
	}
	now := s.now()
	if skew := now.Sub(d).Abs(); skew > s.cfg.MaxClockSkew {
		return &apiError{status: http.StatusForbidden, code: "RequestTimeTooSkewed",
			msg: fmt.Sprintf("The difference between the request time (%s) and the server time (%s) is too large: %s, more than %s",
				v, now.UTC().Format(http.TimeFormat), skew.Round(time.Second), s.cfg.MaxClockSkew)}
	}
	return nil
}
