package codec

import "github.com/odsync/odsync/jsontape"

// The decoders parse messages with package jsontape. These names let the
// codec packages keep spelling them codec.X.

type (
	Tape  = jsontape.Tape
	jkind = jsontape.Kind
	jnode = jsontape.Node
)

const (
	JNull   = jsontape.JNull
	JFalse  = jsontape.JFalse
	JTrue   = jsontape.JTrue
	JNumber = jsontape.JNumber
	JString = jsontape.JString
	JObject = jsontape.JObject
	JArray  = jsontape.JArray
	JRaw    = jsontape.JRaw

	MaxJSONDepth = jsontape.MaxJSONDepth
)

var (
	ErrSyntax = jsontape.ErrSyntax
	errRange  = jsontape.ErrRange
)

// ParseUint parses a decimal unsigned integer from bytes without
// allocating (for decoders outside this package).
func ParseUint(b []byte) (uint64, error) { return jsontape.ParseUint(b) }

// ParseInt parses a decimal signed integer from bytes without allocating.
func ParseInt(b []byte) (int64, error) { return jsontape.ParseInt(b) }

func parseUint(b []byte) (uint64, error) { return jsontape.ParseUint(b) }
func parseInt(b []byte) (int64, error)   { return jsontape.ParseInt(b) }

// AppendUnescape appends the unescaped form of a validated JSON string body.
func AppendUnescape(dst, s []byte) []byte { return jsontape.AppendUnescape(dst, s) }

// QuoteShort renders b for error messages, cut to a readable length.
func QuoteShort(b []byte) string { return jsontape.QuoteShort(b) }

// StringOrNull returns the text of a JSON string node, "" for null.
func StringOrNull(t *Tape, v int32) (string, error) { return jsontape.StringOrNull(t, v) }
