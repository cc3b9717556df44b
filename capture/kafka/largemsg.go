package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/odsync/odsync/capture/kafka/codec"
)

// largeMessages completes TiCDC's large-message fallbacks: claim-check
// messages (the full message is in external storage) and handle-key-only
// messages (the full row is re-read from TiDB at the commit snapshot).
type largeMessages struct {
	claims claimStore // nil: not configured
	tidb   *tidbReader
}

// claimStore reads claim-check objects.
type claimStore interface {
	read(ctx context.Context, location string) ([]byte, error)
	close() error
}

func newLargeMessages(cfg *SourceConfig, log *slog.Logger) (*largeMessages, error) {
	l := &largeMessages{}
	if cfg.ClaimCheck.URI != "" {
		st, err := newClaimStore(&cfg.ClaimCheck)
		if err != nil {
			return nil, fmt.Errorf("%s.claim_check: %w", cfg.prefix(), err)
		}
		l.claims = st
	}
	if cfg.TiDB.DSN != "" {
		r, err := newTiDBReader(&cfg.TiDB, log)
		if err != nil {
			return nil, fmt.Errorf("%s.tidb: %w", cfg.prefix(), err)
		}
		l.tidb = r
	}
	return l, nil
}

func (l *largeMessages) close() error {
	var errs []error
	if l.claims != nil {
		errs = append(errs, l.claims.close())
	}
	if l.tidb != nil {
		errs = append(errs, l.tidb.close())
	}
	return errors.Join(errs...)
}

// claimCheckMessage is what TiCDC stores at a claim-check location: the
// Kafka key and value the message would have had (JSON, bytes in base64).
type claimCheckMessage struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

// complete replaces claim-check and handle-key-only units by complete ones.
func (l *largeMessages) complete(ctx context.Context, dec Decoder, units []codec.Decoded) ([]codec.Decoded, error) {
	need := false
	for i := range units {
		if units[i].ClaimCheck != "" || units[i].HandleKeyOnly {
			need = true
			break
		}
	}
	if !need {
		return units, nil
	}
	out := make([]codec.Decoded, 0, len(units))
	for i := range units {
		u := units[i]
		switch {
		case u.ClaimCheck != "":
			ds, err := l.claim(ctx, dec, u)
			if err != nil {
				return nil, err
			}
			out = append(out, ds...)
		case u.HandleKeyOnly:
			d, err := l.handleKey(ctx, u)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		default:
			out = append(out, u)
		}
	}
	return out, nil
}

func (l *largeMessages) claim(ctx context.Context, dec Decoder, u codec.Decoded) ([]codec.Decoded, error) {
	if l.claims == nil {
		return nil, fmt.Errorf("claim-check message (location %s): set claim_check.uri to TiCDC's claim-check-storage-uri so odsync can read the full message", u.ClaimCheck)
	}
	data, err := l.claims.read(ctx, u.ClaimCheck)
	if err != nil {
		return nil, fmt.Errorf("claim-check location %s: %w", u.ClaimCheck, err)
	}
	var m claimCheckMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("claim-check object %s is not TiCDC's {\"key\",\"value\"} JSON: %w", u.ClaimCheck, err)
	}
	ds, err := dec.Decode(m.Key, m.Value)
	if err != nil {
		return nil, fmt.Errorf("claim-check object %s: %w", u.ClaimCheck, err)
	}
	for i := range ds {
		if ds[i].ClaimCheck != "" {
			return nil, fmt.Errorf("claim-check object %s refers to another claim check (%s)", u.ClaimCheck, ds[i].ClaimCheck)
		}
		if ds[i].HandleKeyOnly {
			if ds[i], err = l.handleKey(ctx, ds[i]); err != nil {
				return nil, err
			}
		}
	}
	return ds, nil
}

func (l *largeMessages) handleKey(ctx context.Context, u codec.Decoded) (codec.Decoded, error) {
	table := ""
	if len(u.Events) > 0 {
		table = u.Events[0].Source.String()
	}
	if l.tidb == nil {
		return u, fmt.Errorf("handle-key-only message of table %s (commitTs %d): the message holds only the key; set tidb.dsn so odsync re-reads the full row from TiDB at the commit snapshot", table, u.CommitTs)
	}
	d, err := l.tidb.complete(ctx, u)
	if err != nil {
		return u, fmt.Errorf("handle-key-only message of table %s (commitTs %d): %w", table, u.CommitTs, err)
	}
	return d, nil
}

// parseClaimCheckURI splits s3://bucket/prefix or file:///dir.
func parseClaimCheckURI(s string) (scheme, rest string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", err
	}
	switch u.Scheme {
	case "s3":
		if u.Host == "" {
			return "", "", fmt.Errorf("%q: want s3://bucket/prefix", s)
		}
		return "s3", u.Host + "/" + strings.Trim(u.Path, "/"), nil
	case "file", "local":
		p := u.Path
		if u.Host != "" {
			p = u.Host + p
		}
		if p == "" {
			return "", "", fmt.Errorf("%q: want file:///dir", s)
		}
		return "file", p, nil
	}
	return "", "", fmt.Errorf("%q: want s3://bucket/prefix or file:///dir", s)
}
