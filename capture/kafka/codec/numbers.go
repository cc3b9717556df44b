package codec

// ParseUint parses a decimal unsigned integer from bytes without
// allocating (for decoders outside this package).
func ParseUint(b []byte) (uint64, error) { return parseUint(b) }

// ParseInt parses a decimal signed integer from bytes without allocating.
func ParseInt(b []byte) (int64, error) { return parseInt(b) }
