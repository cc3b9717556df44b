package event

import "errors"

// ErrPermanent marks errors that retrying cannot fix, from a source (a bad
// message, purged binlogs) or a sink (a rejected schema, permission
// denied): the pipeline stops instead of retrying or restarting. It is the
// one convention for "permanent": an error is permanent when
// errors.Is(err, ErrPermanent), by wrapping it (fmt.Errorf("%w: ...",
// event.ErrPermanent)), wrapping sink.ErrPermanent, or with an
// Is(error) bool method that matches it.
var ErrPermanent = errors.New("permanent error")
