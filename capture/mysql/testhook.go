//go:build !odsync_testhooks

package mysql

import "github.com/odsync/odsync/event"

// testBreak is the identity outside test builds (see testhook_on.go).
func testBreak(_ *event.Column, v event.Value) event.Value { return v }
