package offsets

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Get returns a copy of the state value of key in namespace ns.
func (l *Log) Get(ns, key string) ([]byte, bool, error) {
	if err := validNS(ns); err != nil {
		return nil, false, err
	}
	if err := l.enter(); err != nil {
		return nil, false, err
	}
	defer l.exit()
	v, ok, err := l.get(stateKey(ns, key))
	if err != nil {
		return nil, false, fmt.Errorf("offsets: state dir %s: get %s/%q: %w", l.dir, ns, key, err)
	}
	return v, ok, nil
}

// Put sets (value nil: deletes) the state value of key in namespace ns. Synced.
func (l *Log) Put(ns, key string, value []byte) error {
	if err := validNS(ns); err != nil {
		return err
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	k := stateKey(ns, key)
	err := l.write(func(b *pebble.Batch) {
		if value == nil {
			_ = b.Delete(k, nil)
		} else {
			_ = b.Set(k, value, nil)
		}
	}, pebble.Sync)
	if err != nil {
		return fmt.Errorf("offsets: put %s/%q: %w", ns, key, err)
	}
	return nil
}

// Scan calls fn, in key order, for every state key of namespace ns that
// starts with prefix (the key without ns). value is a copy. An error from fn
// stops the scan and is returned.
func (l *Log) Scan(ns, prefix string, fn func(key string, value []byte) error) error {
	if err := validNS(ns); err != nil {
		return err
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	lower := stateKey(ns, prefix)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: keyUpperBound(lower)})
	if err != nil {
		return fmt.Errorf("offsets: state dir %s: scan %s/%q: %w", l.dir, ns, prefix, err)
	}
	defer it.Close()
	skip := len(stateKey(ns, ""))
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("offsets: state dir %s: scan %s/%q: %w", l.dir, ns, prefix, err)
		}
		if err := fn(string(it.Key()[skip:]), append([]byte{}, v...)); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("offsets: state dir %s: scan %s/%q: %w", l.dir, ns, prefix, err)
	}
	return nil
}

// keyUpperBound returns the smallest key greater than every key with the
// given prefix, or nil if there is none.
func keyUpperBound(prefix []byte) []byte {
	end := append([]byte{}, prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
