package telemetry

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/odsync/odsync/event"
)

// Causes are the few values of the `cause` attribute on error and retry
// metrics, so that their cardinality stays bounded.
const (
	CauseCanceled    = "canceled"
	CauseTimeout     = "timeout"
	CauseRefused     = "connection_refused"
	CauseReset       = "connection_reset"
	CauseDNS         = "dns"
	CauseNetwork     = "network"
	CausePermission  = "permission"
	CauseAuth        = "auth"
	CauseDiskFull    = "disk_full"
	CauseNotFound    = "not_found"
	CauseThrottled   = "throttled"
	CausePermanent   = "permanent"
	CauseUnavailable = "unavailable"
	CauseOther       = "other"
)

// Cause classifies an error into one of the Cause* values.
func Cause(err error) string {
	if err == nil {
		return ""
	}
	switch {
	case errors.Is(err, context.Canceled):
		return CauseCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return CauseTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return CauseRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return CauseReset
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return CauseDiskFull
	case errors.Is(err, fs.ErrPermission):
		return CausePermission
	case errors.Is(err, fs.ErrNotExist):
		return CauseNotFound
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return CauseDNS
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return CauseTimeout
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "access denied"), strings.Contains(msg, "authentication"),
		strings.Contains(msg, "unauthorized"), strings.Contains(msg, "signaturedoesnotmatch"),
		strings.Contains(msg, "invalidaccesskeyid"), strings.Contains(msg, " 401"), strings.Contains(msg, " 403"):
		return CauseAuth
	case strings.Contains(msg, "slow down"), strings.Contains(msg, "slowdown"), strings.Contains(msg, "throttl"),
		strings.Contains(msg, "too many requests"), strings.Contains(msg, " 429"):
		return CauseThrottled
	case strings.Contains(msg, "connection refused"):
		return CauseRefused
	case strings.Contains(msg, "connection reset"), strings.Contains(msg, "broken pipe"), strings.Contains(msg, "eof"):
		return CauseReset
	case strings.Contains(msg, "timeout"), strings.Contains(msg, "timed out"):
		return CauseTimeout
	case strings.Contains(msg, "no space left"):
		return CauseDiskFull
	case strings.Contains(msg, " 503"), strings.Contains(msg, "service unavailable"), strings.Contains(msg, " 502"), strings.Contains(msg, " 500"):
		return CauseUnavailable
	}
	if errors.Is(err, event.ErrPermanent) {
		return CausePermanent
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return CauseNetwork
	}
	return CauseOther
}
