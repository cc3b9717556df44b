package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
)

// Redacted replaces a secret.
const Redacted = "[REDACTED]"

// Redactor hides secrets: the values it was given (passwords, tokens, keys
// from the configuration), the password of any DSN or URL with user
// information, and the value of any log attribute whose key names a secret
// (password, secret, token, authorization, access_key, ...).
type Redactor struct {
	mu      sync.RWMutex
	secrets []string
	short   int
	repl    *strings.Replacer
}

// MinSecretLen is the shortest secret searched for in log text. A shorter
// one ("x", "ab") would match inside ordinary words and turn every log line
// into [REDACTED] noise while hiding nothing: such secrets are left out of
// the text search (ShortSecrets counts them, so the caller can say so); the
// key-name and DSN/URL rules still hide them where they appear as values.
const MinSecretLen = 4

// NewRedactor returns a redactor for the given secrets.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add adds secrets; empty strings are ignored and secrets shorter than
// MinSecretLen are counted (ShortSecrets) but not searched for.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if len(s) < MinSecretLen {
			r.short++
			continue
		}
		dup := false
		for _, have := range r.secrets {
			dup = dup || have == s
		}
		if !dup {
			r.secrets = append(r.secrets, s)
		}
	}
	// Longest first, so a secret that contains another is hidden whole.
	sorted := append([]string(nil), r.secrets...)
	for i := 1; i < len(sorted); i++ {
		for j := i; j > 0 && len(sorted[j]) > len(sorted[j-1]); j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	var pairs []string
	for _, s := range sorted {
		pairs = append(pairs, s, Redacted)
	}
	r.repl = strings.NewReplacer(pairs...)
}

var (
	urlUserinfo = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]+@`)
	dsnPassword = regexp.MustCompile(`([\w.%+-]+:)[^@\s/]+@(tcp|unix|udp)\(`)
)

// ShortSecrets returns how many secrets were too short to search for.
func (r *Redactor) ShortSecrets() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.short
}

// Redact returns s with every secret replaced by [REDACTED].
func (r *Redactor) Redact(s string) string {
	if r == nil || s == "" {
		return s
	}
	r.mu.RLock()
	repl := r.repl
	r.mu.RUnlock()
	if repl != nil {
		s = repl.Replace(s)
	}
	if strings.Contains(s, "@") {
		s = urlUserinfo.ReplaceAllString(s, "${1}"+Redacted+"@")
		s = dsnPassword.ReplaceAllString(s, "${1}"+Redacted+"@${2}(")
	}
	return s
}

// Contains reports whether s holds one of the secrets (tests and checks).
func (r *Redactor) Contains(s string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			return true
		}
	}
	return false
}

var secretKeys = []string{"password", "passwd", "pwd", "secret", "token", "authorization", "api_key", "apikey",
	"access_key", "accesskey", "private_key", "credential", "dsn"}

// SecretKey reports whether a log attribute key names a secret.
func SecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Handler wraps h so that every record's message and attributes are redacted.
func (r *Redactor) Handler(h slog.Handler) slog.Handler { return &redactHandler{h: h, r: r} }

type redactHandler struct {
	h slog.Handler
	r *Redactor
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.r.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.r.attr(a)
	}
	return &redactHandler{h: h.h.WithAttrs(red), r: h.r}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: h.h.WithGroup(name), r: h.r}
}

func (r *Redactor) attr(a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	if SecretKey(a.Key) && !(a.Value.Kind() == slog.KindString && a.Value.String() == "") {
		return slog.String(a.Key, Redacted)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.Redact(a.Value.String()))
	case slog.KindGroup:
		g := a.Value.Group()
		red := make([]any, len(g))
		for i, x := range g {
			red[i] = r.attr(x)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		var s string
		switch v := a.Value.Any().(type) {
		case error:
			s = v.Error()
		case fmt.Stringer:
			s = v.String()
		default:
			s = fmt.Sprintf("%+v", v)
		}
		if red := r.Redact(s); red != s {
			return slog.String(a.Key, red)
		}
	}
	return a
}

// NewLogger returns odsync's logger: JSON or text (format "json" or
// "text"), at level ("debug", "info", "warn", "error"), redacting through
// r (nil: DSN and key-based redaction only).
func NewLogger(w io.Writer, format, level string, r *Redactor) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	if r == nil {
		r = NewRedactor()
	}
	return slog.New(r.Handler(h))
}
