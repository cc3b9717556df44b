package offsets

import "time"

// backgroundError logs Pebble's background errors (failed flushes and
// compactions, retried by Pebble) at most once per distinct message a
// minute, with how many were suppressed: a full disk makes Pebble retry,
// and fail, many times a second.
func (l *Log) backgroundError(err error) {
	msg := err.Error()
	now := time.Now()
	l.bgMu.Lock()
	if l.bgSeen == nil {
		l.bgSeen = map[string]time.Time{}
	}
	last, seen := l.bgSeen[msg]
	if seen && now.Sub(last) < time.Minute {
		l.bgSuppressed++
		l.bgMu.Unlock()
		return
	}
	l.bgSeen[msg] = now
	n := l.bgSuppressed
	l.bgSuppressed = 0
	if len(l.bgSeen) > 64 {
		clear(l.bgSeen)
	}
	l.bgMu.Unlock()
	l.logger.Error("pebble background error (retried by the store; repeats within a minute are not logged)", "err", err, "suppressed", n)
}
